package store

import (
	"context"
	"time"
)

// RestoreRevocation counts what RevokeIssuedBefore ended.
type RestoreRevocation struct {
	Sessions       int64 // OP sessions deleted
	OAuthTokens    int64 // access tokens, PKCE/OIDC/PAR rows, mailed links and grant records deleted
	RefreshOrCodes int64 // refresh tokens and authorization codes made inactive
	Ceremonies     int64 // WebAuthn ceremonies deleted
	Interactions   int64 // waiting authorization requests deleted
	Invites        int64 // unused invitations deleted
	PendingActions int64 // pending actions cancelled
}

// Restores is what the restore runbook needs (SECURITY RL-12). A restored backup brings back
// everything that was revoked, used or cancelled after it was taken: sessions that were
// signed out, refresh tokens that were rotated or revoked, mailed links and invitations that
// were used, pending changes that were cancelled. None of that can be told apart from rows
// that are still legitimately live, so everything issued up to the restore point dies and
// people sign in again with their passkeys.
type Restores interface {
	// RevokeIssuedBefore, for every row created or issued at or before cutoff: deletes OP
	// sessions, ceremonies, interactions and invites; deactivates refresh tokens and
	// authorization codes (kept, so a replay is refused as reuse, like any spent token);
	// deletes every other oauth_tokens row (access tokens, PKCE, OIDC, PAR, mailed recovery
	// and verification links, per-session grant records); and moves pending actions to
	// cancelled with DoneAt = cutoff. Credentials, accounts, clients, consents, signing keys,
	// recovery codes and the audit log are left alone. Atomic on its own; callers that audit
	// it run it inside a transaction with the audit event.
	RevokeIssuedBefore(ctx context.Context, cutoff time.Time) (RestoreRevocation, error)
}
