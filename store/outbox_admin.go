package store

import (
	"context"
	"time"
)

// LogoutOutboxAdmin is what an administrator does to the back-channel logout outbox by hand
// (the console's /admin/logouts). A message that a live claim holds (an attempt under way: Claim
// set and its lease, NextAttemptAt, not yet over) is never touched, so a retry or a drop cannot
// race the sender into posting one message twice or overwriting its outcome; a claim whose lease
// ended belongs to a sender that died, and is cleared.
type LogoutOutboxAdmin interface {
	// RecentLogouts returns messages with the status (any when empty), most recently updated
	// first, at most limit (0 means 100): what was delivered or abandoned lately.
	RecentLogouts(ctx context.Context, status string, limit int) ([]LogoutMessage, error)
	// RetryLogout makes message id due at now. A pending one keeps its attempts. An abandoned
	// one is pending again with a fresh budget: Attempts 0 and CreatedAt now, so that neither
	// the retry count nor the maximum age gives it up again at its first failure. ErrNotFound
	// when no such message is pending or abandoned without a live claim.
	RetryLogout(ctx context.Context, id string, now time.Time) error
	// DropLogout abandons a pending message without a live claim, recording lastError;
	// ErrNotFound otherwise.
	DropLogout(ctx context.Context, id, lastError string, now time.Time) error
}
