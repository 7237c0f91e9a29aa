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
	KeyStandby = "standby" // published and unretired but not the newest of its algorithm (two rotations raced); signs nothing
	KeyRetired = "retired" // published until ExpiresAt so the tokens it signed still verify
	KeyExpired = "expired" // no longer published; kept until the purge drops the row
)

// KeyState is one signing key without its private half.
type KeyState struct {
	KID, Alg, State                 string
	CreatedAt, RetiredAt, ExpiresAt time.Time
}

// KeyStates lists every stored signing key, newest first, with the state Reload gives it.
func (k *Keys) KeyStates(ctx context.Context) ([]KeyState, error) {
	rows, err := k.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("oidc: list signing keys: %w", err)
	}
	now := k.now()
	seen := map[string]bool{} // algorithms whose active key is listed already
	out := make([]KeyState, 0, len(rows))
	for _, r := range rows { // newest first, as Reload walks them
		ks := KeyState{KID: r.ID, Alg: r.Alg, CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt, ExpiresAt: r.ExpiresAt}
		switch {
		case !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now):
			ks.State = KeyExpired
		case !r.RetiredAt.IsZero():
			ks.State = KeyRetired
		case !seen[r.Alg]:
			ks.State, seen[r.Alg] = KeyActive, true
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
// now" do: a new RS256 and ES256 key become active and the old ones retire, staying published
// for KeyRetention. It returns the new active kids (RS256, then ES256). This replica signs
// with them at once; the others after their next key reload.
func (p *Provider) RotateKeys(ctx context.Context) ([]string, error) {
	if err := p.keys.Rotate(ctx, p.cfg.KeyRetention); err != nil {
		return nil, err
	}
	return []string{p.keys.KID(AlgRS256), p.keys.KID(AlgES256)}, nil
}

// WakeLogoutDelivery asks this replica's delivery loop for a pass now, after a message was
// made due by hand; without the loop running it does nothing.
func (p *Provider) WakeLogoutDelivery() { p.wakeDelivery() }

// KeyRotationInterval is the scheduled rotation interval (zero: only by hand).
func (p *Provider) KeyRotationInterval() time.Duration { return p.cfg.KeyRotationInterval }

// BackchannelRetention is how long delivered and abandoned logout messages are kept.
func (p *Provider) BackchannelRetention() time.Duration { return p.cfg.BackchannelRetention }
