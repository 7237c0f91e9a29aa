package store

import (
	"context"
	"time"
)

// AccountChanges are the writes that account changes need beyond the other interfaces: ending
// what a revoked passkey opened (SA-04) and moving a pending action's due time once its
// precondition is met (an email change waits for the new address to be confirmed).
type AccountChanges interface {
	// RevokeOAuthTokensBySession deletes the access tokens and deactivates the refresh tokens
	// issued in the OP session sessionID (offline ones included: the session's authenticator is
	// what is being withdrawn), and returns how many rows changed.
	RevokeOAuthTokensBySession(ctx context.Context, sessionID string) (int, error)
	// UpdatePendingAction writes Payload and DueAt of an action that is still pending;
	// ErrNotFound when it is not (cancelled or executed meanwhile).
	UpdatePendingAction(ctx context.Context, id string, payload []byte, due time.Time) error
}
