package store

import (
	"context"
	"errors"
	"time"
)

// Queries is everything a backend can read and write, inside or outside a transaction.
type Queries interface {
	Accounts
	Credentials
	Ceremonies
	Sessions
	Interactions
	OAuthTokens
	Clients
	Consents
	Keys
	Invites
	Audit
	RecoveryCodes
	PendingActions
	RateLimits
	AccountChanges
	ClientAssertionJTIs
	LogoutOutbox
	LogoutOutboxAdmin
	Restores
	// PurgeExpired deletes ceremonies, interactions, sessions, invites, OAuth tokens and client
	// assertion jtis whose
	// expiry is at or before now, and returns how many rows went.
	PurgeExpired(ctx context.Context, now time.Time) (int64, error)
}

// Store is a backend: Queries outside a transaction plus the means to start one.
type Store interface {
	Queries
	// Begin starts a read-write transaction. SQLite takes the write lock at once
	// (BEGIN IMMEDIATE) so a read-then-write transaction never fails half-way with SQLITE_BUSY.
	Begin(ctx context.Context) (Tx, error)
	// Ping reports whether the database answers and its schema is current.
	Ping(ctx context.Context) error
	// Backend names the implementation ("sqlite", "postgres") for logs and /readyz.
	Backend() string
	Close() error
}

// Tx is a transaction. After Commit or Rollback it must not be used; Rollback after Commit is
// a no-op so it can be deferred.
type Tx interface {
	Queries
	Commit() error
	Rollback() error
}

// WithTx runs fn in a transaction and commits it when fn returns nil. A transaction that fails
// with ErrConflict is retried from the start a few times, so fn must have no effect outside q.
func WithTx(ctx context.Context, s Store, fn func(q Queries) error) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		err = runTx(ctx, s, fn)
		if !errors.Is(err, ErrConflict) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func runTx(ctx context.Context, s Store, fn func(q Queries) error) error {
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Account is one person. ID is opaque, random and never reused: it is the OIDC subject.
type Account struct {
	ID            string
	Email         string // normalised to lower case by the caller; unique
	EmailVerified bool
	DisplayName   string
	UserHandle    []byte // 32 random bytes, the WebAuthn user.id; unique
	Admin         bool
	Disabled      bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// AccountQuery filters ListAccounts. Search matches a substring of email or display name.
type AccountQuery struct {
	Search string
	Limit  int // 0 means 100
	Offset int
}

type Accounts interface {
	// CreateAccount fails with ErrAlreadyExists when the id, email or user handle is taken.
	CreateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, id string) (*Account, error)
	GetAccountByEmail(ctx context.Context, email string) (*Account, error)
	GetAccountByUserHandle(ctx context.Context, handle []byte) (*Account, error)
	// UpdateAccount writes every mutable field (email, email_verified, display name, admin,
	// disabled, updated_at). ErrAlreadyExists when the new email is taken.
	UpdateAccount(ctx context.Context, a *Account) error
	// DeleteAccount removes the account and, by cascade, its credentials, sessions, consents.
	DeleteAccount(ctx context.Context, id string) error
	CountAccounts(ctx context.Context) (int, error)
	// ListAccounts orders by created_at, then id.
	ListAccounts(ctx context.Context, q AccountQuery) ([]Account, error)
}

// Credential is one passkey. ID is the WebAuthn credential id, unique across all accounts.
type Credential struct {
	ID              []byte
	AccountID       string
	PublicKey       []byte // COSE key
	AttestationType string
	AAGUID          []byte
	SignCount       uint32
	Transports      []string
	UserPresent     bool
	UserVerified    bool
	BackupEligible  bool
	BackupState     bool
	CloneWarning    bool
	Name            string
	CreatedAt       time.Time
	CreatedIP       string
	CreatedUA       string
	LastUsedAt      time.Time // zero: never used since registration
	LastUsedIP      string
	LastUsedUA      string
}

type Credentials interface {
	// CreateCredential fails with ErrAlreadyExists when the credential id is registered to
	// any account.
	CreateCredential(ctx context.Context, c *Credential) error
	GetCredential(ctx context.Context, id []byte) (*Credential, error)
	// ListCredentials orders by created_at, then id.
	ListCredentials(ctx context.Context, accountID string) ([]Credential, error)
	// UpdateCredential writes the mutable fields (sign count, flags, clone warning, name, last
	// used) of the credential with c.ID owned by c.AccountID; ErrNotFound otherwise.
	UpdateCredential(ctx context.Context, c *Credential) error
	// DeleteCredential removes the credential only if accountID owns it; ErrNotFound otherwise.
	DeleteCredential(ctx context.Context, accountID string, id []byte) error
}

// Ceremony is the server-side state of one WebAuthn ceremony, bound to the browser session
// that began it and to its purpose. There is at most one per (SessionID, Purpose): beginning a
// new one supersedes the old.
type Ceremony struct {
	SessionID string
	Purpose   string // "signup", "login", "register", "stepup", …
	AccountID string // empty for sign-up and discoverable sign-in
	Data      []byte // JSON owned by idp: go-webauthn SessionData plus purpose fields
	CreatedAt time.Time
	ExpiresAt time.Time
}

type Ceremonies interface {
	// PutCeremony stores c, replacing any ceremony of the same session and purpose.
	PutCeremony(ctx context.Context, c *Ceremony) error
	// ConsumeCeremony deletes the ceremony of that session and purpose and returns it if it
	// had not expired at now; ErrNotFound otherwise. An expired one is deleted all the same,
	// so a clock stepped back later cannot revive it (RL-08). Exactly one of concurrent
	// consumers wins.
	ConsumeCeremony(ctx context.Context, sessionID, purpose string, now time.Time) (*Ceremony, error)
}

// Session is a browser session with Keyward itself (the OP session). ID is a hash of the
// random value the cookie carries, so a database dump yields no usable cookie.
type Session struct {
	ID           string
	AccountID    string // empty until someone signs in
	AuthTime     time.Time
	AMR          []string
	ACR          string
	CredentialID []byte
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time // absolute limit; idle limits are policy applied by the caller
	IP           string
	UserAgent    string
	Data         []byte // JSON of other values (flash messages, …), owned by ui
	// Family names the OP session across id rotations (re-authentication, step-up): set at
	// creation, carried to the rotated row, never updated. The public `sid` derives from it.
	Family string
}

type Sessions interface {
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns the session even when expired; the caller applies its timeouts.
	GetSession(ctx context.Context, id string) (*Session, error)
	// UpdateSession writes every field but ID, CreatedAt and Family; ErrNotFound if it is gone.
	UpdateSession(ctx context.Context, s *Session) error
	DeleteSession(ctx context.Context, id string) error
	// ListSessions returns an account's sessions, most recently seen first.
	ListSessions(ctx context.Context, accountID string) ([]Session, error)
	// DeleteAccountSessions ends every session of the account except the one with id except
	// (which may be empty) and returns how many ended.
	DeleteAccountSessions(ctx context.Context, accountID, except string) (int, error)
}

// Interaction is an authorization request waiting for the person: to sign in, to consent.
type Interaction struct {
	ID        string
	SessionID string // the browser session it belongs to
	ClientID  string
	Request   string // the authorization request's parameters, URL-encoded
	// LoginAt is when the person completed a sign-in for this interaction (zero: not yet).
	LoginAt time.Time
	// Consented lists the scopes the person approved on the consent page (nil: not asked).
	Consented []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

type Interactions interface {
	CreateInteraction(ctx context.Context, i *Interaction) error
	// GetInteraction returns the interaction if it exists, belongs to sessionID and has not
	// expired at now; ErrNotFound otherwise.
	GetInteraction(ctx context.Context, id, sessionID string, now time.Time) (*Interaction, error)
	// UpdateInteraction writes SessionID, LoginAt and Consented.
	UpdateInteraction(ctx context.Context, i *Interaction) error
	// RebindInteractions moves every interaction of one session to another (the session id
	// rotates at sign-in).
	RebindInteractions(ctx context.Context, oldSessionID, newSessionID string) error
	// ConsumeInteraction deletes and returns it under the same conditions as GetInteraction.
	ConsumeInteraction(ctx context.Context, id, sessionID string, now time.Time) (*Interaction, error)
}

// OAuth token kinds, one per fosite storage family.
const (
	KindAuthorizeCode = "authorize_code"
	KindAccessToken   = "access_token"
	KindRefreshToken  = "refresh_token"
	KindPKCE          = "pkce"
	KindOIDC          = "oidc"
)

// OAuthToken is one stored fosite request under one signature. Request is opaque JSON owned by
// oidc/ (client, scopes, form, session), versioned there.
type OAuthToken struct {
	Kind        string
	Signature   string
	RequestID   string
	ClientID    string
	Subject     string
	SessionID   string // the OP session that produced it, for logout
	Active      bool
	RequestedAt time.Time
	ExpiresAt   time.Time
	Request     []byte
}

type OAuthTokens interface {
	// CreateOAuthToken fails with ErrAlreadyExists on a duplicate (kind, signature).
	CreateOAuthToken(ctx context.Context, t *OAuthToken) error
	// GetOAuthToken returns active and inactive rows alike (fosite needs the inactive ones to
	// detect reuse).
	GetOAuthToken(ctx context.Context, kind, signature string) (*OAuthToken, error)
	DeleteOAuthToken(ctx context.Context, kind, signature string) error
	// DeactivateOAuthToken marks an active row inactive; ErrNotFound when there is no active
	// row, so of two concurrent callers exactly one succeeds.
	DeactivateOAuthToken(ctx context.Context, kind, signature string) error
	DeactivateOAuthTokensByRequest(ctx context.Context, kind, requestID string) error
	DeleteOAuthTokensByRequest(ctx context.Context, kind, requestID string) error
	// RevokeOAuthTokensBySubject deletes the access tokens and deactivates the refresh tokens
	// of a subject, for one client when clientID is not empty.
	RevokeOAuthTokensBySubject(ctx context.Context, subject, clientID string) error
}

// Client is a relying app.
type Client struct {
	ID                      string
	Name                    string
	SecretHash              []byte // keyed hash of the secret; empty for public clients
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	Scopes                  []string
	Public                  bool
	FirstParty              bool
	BackchannelLogoutURI    string
	IDTokenSignedAlg        string // "RS256" (default) or "ES256"
	TokenEndpointAuthMethod string
	// JWKS (inline JSON Web Key Set) or JWKSURI hold the keys of a private_key_jwt client.
	JWKS                        string
	JWKSURI                     string
	TokenEndpointAuthSigningAlg string // alg a private_key_jwt assertion must use; empty: any the server allows
	// RequirePAR makes the client's authorization requests valid only through pushed
	// authorization requests (RFC 9126 require_pushed_authorization_requests).
	RequirePAR bool
	// FrontchannelLogoutURI is framed at logout (Front-Channel Logout 1.0); with
	// FrontchannelLogoutSessionRequired it gets iss and sid.
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// AccessTokenFormat is "opaque" (the default when empty) or "jwt" (RFC 9068).
	AccessTokenFormat string
	// Lifetimes of the tokens issued to this client; zero means the server-wide default.
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	IDTokenLifetime      time.Duration
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed to call the token,
	// userinfo, revocation and JWKS endpoints cross-origin (CORS).
	AllowedOrigins []string
	Source         string // "config", "cli", "admin"
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ClientAssertionJTIs remembers the jti of every accepted client assertion (private_key_jwt)
// until the assertion expires, so a replayed assertion is refused (RFC 7523 §3, item 7).
type ClientAssertionJTIs interface {
	// UseClientAssertionJTI records jti until exp. It fails with ErrAlreadyExists when jti is
	// recorded and still unexpired at now, so of two concurrent uses exactly one wins; an
	// expired record is replaced.
	UseClientAssertionJTI(ctx context.Context, jti string, exp, now time.Time) error
	// ClientAssertionJTIKnown reports whether jti is recorded and unexpired at now.
	ClientAssertionJTIKnown(ctx context.Context, jti string, now time.Time) (bool, error)
}

type Clients interface {
	CreateClient(ctx context.Context, c *Client) error
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient writes every field but ID and CreatedAt.
	UpdateClient(ctx context.Context, c *Client) error
	DeleteClient(ctx context.Context, id string) error
	ListClients(ctx context.Context) ([]Client, error)
}

// Consent is what a person approved for a client; it is remembered per scope set.
type Consent struct {
	AccountID string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

type Consents interface {
	// PutConsent creates or replaces the consent of (AccountID, ClientID).
	PutConsent(ctx context.Context, c *Consent) error
	GetConsent(ctx context.Context, accountID, clientID string) (*Consent, error)
	ListConsents(ctx context.Context, accountID string) ([]Consent, error)
	DeleteConsent(ctx context.Context, accountID, clientID string) error
}

// SigningKey is a JWT signing key. PrivateKey is sealed (encrypted) by the caller.
type SigningKey struct {
	ID         string // kid
	Alg        string // "RS256", "ES256"
	PrivateKey []byte
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while it signs
	ExpiresAt  time.Time // zero: not scheduled; after it the key leaves the JWKS
}

type Keys interface {
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns every key, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateSigningKey writes RetiredAt and ExpiresAt.
	UpdateSigningKey(ctx context.Context, k *SigningKey) error
	DeleteSigningKey(ctx context.Context, id string) error
}

// Invite lets one person sign up (with registration "invite") or create the first admin.
type Invite struct {
	TokenHash string
	Email     string // empty: any email
	Admin     bool
	CreatedBy string // account id, empty for the CLI and the setup link
	CreatedAt time.Time
	ExpiresAt time.Time
}

type Invites interface {
	CreateInvite(ctx context.Context, inv *Invite) error
	// GetInvite returns it if it exists and has not expired at now; ErrNotFound otherwise.
	GetInvite(ctx context.Context, tokenHash string, now time.Time) (*Invite, error)
	// ConsumeInvite deletes and returns it under the same conditions; one winner.
	ConsumeInvite(ctx context.Context, tokenHash string, now time.Time) (*Invite, error)
}

// AuditEvent is one row of the append-only security log.
type AuditEvent struct {
	ID           int64 // assigned by the store
	Time         time.Time
	Event        string // "signup.completed", "login.succeeded", "login.failed", …
	AccountID    string
	ActorID      string // performed_by, when someone acted on another's account
	CredentialID string // base64url
	ClientID     string
	IP           string
	UserAgent    string
	Result       string // "ok" or a failure code
	Detail       []byte // JSON object, optional
}

// AuditQuery filters ListAudit; zero fields do not filter.
type AuditQuery struct {
	AccountID string
	Event     string
	IP        string
	Since     time.Time
	Until     time.Time
	Limit     int // 0 means 100
	BeforeID  int64
}

type Audit interface {
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// ListAudit returns matching events newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

// RecoveryCode is one saved recovery code of an account. The code itself is never stored: Hash
// is a slow salted hash (argon2id, encoded with its parameters) owned by idp.
type RecoveryCode struct {
	AccountID string
	ID        string // random, names the code within its account
	Hash      string
	CreatedAt time.Time
	UsedAt    time.Time // zero while unused
}

type RecoveryCodes interface {
	// ReplaceRecoveryCodes deletes every code of the account and stores codes instead.
	ReplaceRecoveryCodes(ctx context.Context, accountID string, codes []RecoveryCode) error
	// ListRecoveryCodes returns the account's codes, used ones included, ordered by id.
	ListRecoveryCodes(ctx context.Context, accountID string) ([]RecoveryCode, error)
	// UseRecoveryCode marks an unused code used at now; ErrNotFound when it is used already or
	// gone, so of two concurrent callers exactly one succeeds.
	UseRecoveryCode(ctx context.Context, accountID, id string, now time.Time) error
}

// Pending action statuses. An action is created pending and leaves that status exactly once.
const (
	PendingStatusPending   = "pending"
	PendingStatusCancelled = "cancelled"
	PendingStatusExecuted  = "executed"
	PendingStatusFailed    = "failed"
)

// PendingAction is a security-relevant change that takes effect only after a cooling-off
// period, unless cancelled first (a passkey enrolled through recovery, later an email change or
// an account deletion). Payload is JSON owned by idp and versioned there.
type PendingAction struct {
	ID        string
	AccountID string
	Kind      string // "activate_recovery_passkey", …
	Payload   []byte
	ActorID   string // who started it when not the account itself (an administrator)
	// CancelTokenHash is the SHA-256 (hex) of the one-click cancel link's token; unique.
	CancelTokenHash string
	Status          string
	CreatedAt       time.Time
	DueAt           time.Time
	DoneAt          time.Time // when it left the pending status; zero while pending
}

type PendingActions interface {
	// CreatePendingAction fails with ErrAlreadyExists on a duplicate id or cancel token hash.
	CreatePendingAction(ctx context.Context, a *PendingAction) error
	GetPendingAction(ctx context.Context, id string) (*PendingAction, error)
	GetPendingActionByCancelToken(ctx context.Context, tokenHash string) (*PendingAction, error)
	// ListPendingActions returns the actions of an account (every account when accountID is
	// empty) with the given status (any when empty), oldest first.
	ListPendingActions(ctx context.Context, accountID, status string) ([]PendingAction, error)
	// SetPendingActionStatus moves an action from status from to status to, with DoneAt = now;
	// ErrNotFound when it is not in from, so of concurrent callers exactly one wins.
	SetPendingActionStatus(ctx context.Context, id, from, to string, now time.Time) error
	// ClaimDuePendingActions marks up to limit pending actions whose DueAt is at or before now as
	// executed and returns them, oldest due first. Each action is claimed by exactly one of
	// concurrent callers (replicas); callers perform the actions in the same transaction, so a
	// failure rolls the claim back and the action stays pending.
	ClaimDuePendingActions(ctx context.Context, now time.Time, limit int) ([]PendingAction, error)
}
