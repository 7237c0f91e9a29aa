package store

import (
	"context"
	"time"
)

// Logout outbox statuses. A message is pending until an attempt succeeds (delivered) or the
// sender gives up (abandoned: a 4xx answer, too many attempts, too old, the client gone).
const (
	LogoutPending   = "pending"
	LogoutDelivered = "delivered"
	LogoutAbandoned = "abandoned"
)

// LogoutMessage is one back-channel logout owed to one client (OIDC Back-Channel Logout 1.0
// §2.5). It holds what the logout token says, not the signed token: the token is signed at
// each attempt, so a late retry never carries an expired token and no token rests in the
// database.
type LogoutMessage struct {
	ID       string // random; also the logout token's jti, the same across retries
	ClientID string
	URI      string // the client's back-channel logout URI when the session ended
	SID      string // the sid claim
	Subject  string // the sub claim
	Status   string
	Attempts int // attempts started, counted when claimed so a crash mid-attempt still counts
	// NextAttemptAt is when the message is next due. While claimed it is the end of the
	// claim's lease: a claimer that dies leaves the message due again once the lease ends.
	NextAttemptAt time.Time
	LastError     string // the last failed attempt's outcome; never the token
	Claim         string // the current claim's token; empty when nobody holds it
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

type LogoutOutbox interface {
	// EnqueueLogout stores m (Status pending, Claim empty); ErrAlreadyExists on a duplicate id.
	EnqueueLogout(ctx context.Context, m *LogoutMessage) error
	// ClaimLogouts leases up to limit pending messages due at or before now: each gets Claim
	// = claim, Attempts+1 and NextAttemptAt = leaseUntil, and is returned (oldest first). Of
	// concurrent claimers (replicas) exactly one gets a message.
	ClaimLogouts(ctx context.Context, now, leaseUntil time.Time, claim string, limit int) ([]LogoutMessage, error)
	// FinishLogout ends the attempt held by claim: the message gets status (pending again with
	// next for a retry, delivered, abandoned), lastError, UpdatedAt = now and no claim.
	// ErrNotFound when claim no longer holds the message (its lease ended and another
	// claimer took it), so a late finisher changes nothing.
	FinishLogout(ctx context.Context, id, claim, status string, next time.Time, lastError string, now time.Time) error
	GetLogout(ctx context.Context, id string) (*LogoutMessage, error)
	// ListLogouts returns messages with the status (any when empty), oldest first, at most
	// limit (0 means 100).
	ListLogouts(ctx context.Context, status string, limit int) ([]LogoutMessage, error)
	// PurgeLogouts deletes delivered and abandoned messages last updated at or before before,
	// and returns how many went. Pending ones stay whatever their age.
	PurgeLogouts(ctx context.Context, before time.Time) (int64, error)
}
