package idp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward/store"
)

// Ceremony purposes; one ceremony per (browser session, purpose), a new begin supersedes.
const (
	purposeSignup = "signup"
	purposeLogin  = "login"
)

// ceremonyVersion is the "v" of the JSON this package writes into store.Ceremony.Data. Bump it
// when the shape changes; rows of another version read as expired (the person begins again),
// which is harmless because ceremonies live minutes.
const ceremonyVersion = 1

// signupCeremony is what a sign-up keeps between begin and finish. Nothing else is written at
// begin: the account exists only once the passkey has been verified.
type signupCeremony struct {
	V           int                  `json:"v"`
	Session     webauthn.SessionData `json:"session"`
	Email       string               `json:"email"`
	DisplayName string               `json:"display_name"`
	UserHandle  []byte               `json:"user_handle"`
	AccountID   string               `json:"account_id"`
	InviteHash  string               `json:"invite_hash,omitempty"`
}

// Login modes.
const (
	loginDiscoverable = "discoverable" // empty allowCredentials, the account comes from userHandle
	loginEmail        = "email"        // allowCredentials of a known account
	loginUnknown      = "unknown"      // fake allowCredentials for an unknown email (WA-15)
)

type loginCeremony struct {
	V         int                  `json:"v"`
	Session   webauthn.SessionData `json:"session"`
	Mode      string               `json:"mode"`
	AccountID string               `json:"account_id,omitempty"`
	// Conditional: begun for passkey autofill (mediation "conditional").
	Conditional bool `json:"conditional,omitempty"`
}

// putCeremony stores data as the ceremony of m.SessionID and purpose, superseding any earlier.
func (s *Service) putCeremony(ctx context.Context, m RequestMeta, purpose, accountID string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("idp: encode ceremony: %w", err)
	}
	now := s.now().UTC()
	c := &store.Ceremony{
		SessionID: m.SessionID,
		Purpose:   purpose,
		AccountID: accountID,
		Data:      b,
		CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.CeremonyTimeout),
	}
	if err := s.st.PutCeremony(ctx, c); err != nil {
		return storeError("put ceremony", err)
	}
	return nil
}

// consumeCeremony deletes the ceremony and decodes it into dst. It returns a *Error
// (ceremony_expired) when there is none, it expired, or it is of another version; any other
// error is a store failure and must roll the transaction back.
func consumeCeremony(ctx context.Context, q store.Queries, m RequestMeta, purpose string, now time.Time, dst any) error {
	c, err := q.ConsumeCeremony(ctx, m.SessionID, purpose, now)
	if errors.Is(err, store.ErrNotFound) {
		return ErrCeremonyExpired.Wrap(err)
	}
	if err != nil {
		return err
	}
	var v struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(c.Data, &v); err != nil || v.V != ceremonyVersion {
		return ErrCeremonyExpired.Wrap(fmt.Errorf("ceremony data of version %d or unreadable: %v", v.V, err))
	}
	if err := json.Unmarshal(c.Data, dst); err != nil {
		return ErrCeremonyExpired.Wrap(fmt.Errorf("decode ceremony: %w", err))
	}
	return nil
}

// sameChallenge tells a response to an older, superseded challenge (ceremony_expired) from a
// forged one; both are refused, only the code differs.
func sameChallenge(session webauthn.SessionData, cd protocol.CollectedClientData) bool {
	return subtle.ConstantTimeCompare([]byte(session.Challenge), []byte(cd.Challenge)) == 1
}

// requireSession guards against a ui wiring bug: a ceremony not bound to a browser session
// could be finished from anywhere.
func requireSession(m RequestMeta) error {
	if m.SessionID == "" {
		return errors.New("idp: RequestMeta.SessionID is empty")
	}
	return nil
}

// waUser adapts an account to go-webauthn's User.
type waUser struct {
	handle      []byte
	name        string
	displayName string
	creds       []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.displayName }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newWAUser(a *store.Account, creds []store.Credential) *waUser {
	u := &waUser{handle: a.UserHandle, name: a.Email, displayName: a.DisplayName}
	for _, c := range creds {
		u.creds = append(u.creds, toWebAuthnCredential(c))
	}
	return u
}

// toWebAuthnCredential rebuilds go-webauthn's view of a stored passkey. CloneWarning is
// deliberately not reloaded: go-webauthn would carry it forever, and a returned
// CloneWarning=true must mean "this assertion regressed the counter" (DESIGN, go-webauthn rules).
func toWebAuthnCredential(c store.Credential) webauthn.Credential {
	var f protocol.AuthenticatorFlags
	if c.UserPresent {
		f |= protocol.FlagUserPresent
	}
	if c.UserVerified {
		f |= protocol.FlagUserVerified
	}
	if c.BackupEligible {
		f |= protocol.FlagBackupEligible
	}
	if c.BackupState {
		f |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, 0, len(c.Transports))
	for _, t := range c.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:              c.ID,
		PublicKey:       c.PublicKey,
		AttestationType: c.AttestationType,
		Transport:       transports,
		Flags:           webauthn.NewCredentialFlags(f),
		Authenticator:   webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
	}
}

// setFlags copies the flags of one ceremony's authenticator data onto the stored record.
func setFlags(c *store.Credential, f protocol.AuthenticatorFlags) {
	c.UserPresent = f.HasUserPresent()
	c.UserVerified = f.HasUserVerified()
	c.BackupEligible = f.HasBackupEligible()
	c.BackupState = f.HasBackupState()
}
