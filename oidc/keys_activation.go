package oidc

import "time"

// Publish-first rotation (RL-06): a key made by a rotation is in the JWKS at once but signs
// only after the activation delay, and the key it replaces signs until then. Both times come
// from the key rows (created_at, retired_at), so replicas whose clocks agree switch together
// without a reload and without a schema change.

// DefaultKeyActivationDelay is how long a new signing key is published before it signs: one
// key reload (every replica has it in its JWKS after a minute) plus the JWKS Cache-Control
// max-age (a relying app's cached copy is at most five minutes old), so any app that checks
// a token signed with the new key fetched its key set after the key was published.
const DefaultKeyActivationDelay = keyReloadInterval + jwksMaxAge

const (
	keyReloadInterval = time.Minute     // internal/app reloads the keys this often
	jwksMaxAge        = 5 * time.Minute // Cache-Control max-age of the JWKS and discovery
)

func (sk *signingKey) retired(now time.Time) bool {
	return !sk.retireAt.IsZero() && !sk.retireAt.After(now)
}

// pickActive chooses the key that signs for one algorithm at now among its published keys,
// newest first: the newest unretired key past its activation delay. Failing that (a fresh
// database whose first keys have nothing older to wait behind, possibly rotated again within
// the delay), the unretired key due to retire first signs, being the one already in use, or
// else the oldest. Retirement dates decide before creation order because a frozen test clock
// gives a key and its successor the same created time.
func pickActive(keys []*signingKey, now time.Time, delay time.Duration) *signingKey {
	var fallback *signingKey
	for _, sk := range keys {
		if sk.retired(now) {
			continue
		}
		if !sk.created.Add(delay).After(now) {
			return sk
		}
		switch {
		case fallback == nil, fallback.retireAt.IsZero():
			fallback = sk
		case !sk.retireAt.IsZero() && !sk.retireAt.After(fallback.retireAt):
			fallback = sk
		}
	}
	return fallback
}

// SetActivationDelay sets how long a key made by a rotation is published before it signs
// (oidc.Config.KeyActivationDelay; New calls it). It applies at once, without a reload.
func (k *Keys) SetActivationDelay(d time.Duration) {
	k.mu.Lock()
	k.delay = d
	k.mu.Unlock()
}

func (k *Keys) activationDelay() time.Duration {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.delay
}
