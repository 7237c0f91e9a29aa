package oidc

import (
	"context"
	"fmt"
	"time"
)

// What the admin console and the CLI share about signing keys and the logout outbox: one
// rotation path (RotateKeys), the keys' states as Reload sees them (KeyStates), and a way to
// deliver a message made due by hand without waiting for the next poll.

// Signing key states, as KeyStates reports them.
const (
	KeyActive  = "active"  // signs new tokens for its algorithm
	KeyPending = "pending" // made by a rotation, published, signs from SignsFrom (the activation delay)
	KeyStandby = "standby" // published and unretired but neither signing nor waiting to (two rotations raced); signs nothing
	KeyRetired = "retired" // stopped signing at RetiredAt; published until ExpiresAt so the tokens it signed still verify
	KeyExpired = "expired" // no longer published; kept until the purge drops the row
)

// KeyState is one signing key without its private half. For an active key a RetiredAt in the
// future is when it hands over to the pending key; SignsFrom is set for a pending key.
type KeyState struct {
	KID, Alg, State                            string
	CreatedAt, SignsFrom, RetiredAt, ExpiresAt time.Time
}

// KeyStates lists every stored signing key, newest first, with the state the signer gives it
// now (the same choice as pickActive, over the stored rows rather than the last Reload).
func (k *Keys) KeyStates(ctx context.Context) ([]KeyState, error) {
	rows, err := k.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("oidc: list signing keys: %w", err)
	}
	now, delay := k.now(), k.activationDelay()
	byAlg := map[string][]*signingKey{}
	for _, r := range rows { // newest first, as Reload walks them
		if r.ExpiresAt.IsZero() || r.ExpiresAt.After(now) {
			byAlg[r.Alg] = append(byAlg[r.Alg], &signingKey{kid: r.ID, alg: r.Alg, created: r.CreatedAt, retireAt: r.RetiredAt})
		}
	}
	active := map[string]*signingKey{}
	for alg, keys := range byAlg {
		active[alg] = pickActive(keys, now, delay)
	}
	out := make([]KeyState, 0, len(rows))
	for _, r := range rows {
		ks := KeyState{KID: r.ID, Alg: r.Alg, CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt, ExpiresAt: r.ExpiresAt}
		switch {
		case !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now):
			ks.State = KeyExpired
		case !r.RetiredAt.IsZero() && !r.RetiredAt.After(now):
			ks.State = KeyRetired
		case active[r.Alg] != nil && active[r.Alg].kid == r.ID:
			ks.State = KeyActive
		case r.CreatedAt.Add(delay).After(now):
			ks.State, ks.SignsFrom = KeyPending, r.CreatedAt.Add(delay)
		default:
			ks.State = KeyStandby
		}
		out = append(out, ks)
	}
	return out, nil
}

// KeyRetention is how long a retired key stays in the JWKS (tokens.key_retention).
func (p *Provider) KeyRetention() time.Duration { return p.cfg.KeyRetention }

// RotateKeys rotates the signing keys now, as `keyward keys rotate` and the console's "Rotate
// now" do: a new RS256 and ES256 key are published at once (this replica's JWKS now, the
// others' at their next key reload) and sign from Rotation.SignsFrom, after
// KeyActivationDelay; the current keys sign until then, then retire and stay published for
// KeyRetention.
func (p *Provider) RotateKeys(ctx context.Context) (Rotation, error) {
	return p.keys.Rotate(ctx, p.cfg.KeyRetention)
}

// KeyActivationDelay is how long a new key is published before it signs.
func (p *Provider) KeyActivationDelay() time.Duration { return p.keys.activationDelay() }

// WakeLogoutDelivery asks this replica's delivery loop for a pass now, after a message was
// made due by hand; without the loop running it does nothing.
func (p *Provider) WakeLogoutDelivery() { p.wakeDelivery() }

// KeyRotationInterval is the scheduled rotation interval (zero: only by hand).
func (p *Provider) KeyRotationInterval() time.Duration { return p.cfg.KeyRotationInterval }

// BackchannelRetention is how long delivered and abandoned logout messages are kept.
func (p *Provider) BackchannelRetention() time.Duration { return p.cfg.BackchannelRetention }
