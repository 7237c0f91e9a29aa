package idp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward/store"
)

// The passkey lifecycle of a signed-in account: add another passkey, rename one, revoke one.
// accountID is always the account of the caller's session, and the actor of the audit events:
// these are self-service actions. Whether the session is recent enough for them (step-up) is
// decided by the caller before calling in.

const purposeRegister = "register"

// maxPasskeys bounds an account's passkeys: the list is sent as excludeCredentials and
// allowCredentials, and nobody needs more.
const maxPasskeys = 32

const maxPasskeyNameLen = 64 // runes

// Audit events of the passkey lifecycle.
const (
	EventPasskeyRegistered   = "passkey.registered"
	EventPasskeyRegisterFail = "passkey.register_failed"
	EventPasskeyRenamed      = "passkey.renamed"
	EventPasskeyRevoked      = "passkey.revoked"
)

// Error codes of the passkey lifecycle.
const (
	CodePasskeyNotFound   = "passkey_not_found"
	CodeLastAuthenticator = "last_authenticator"
	CodeTooManyPasskeys   = "too_many_passkeys"
)

var (
	ErrPasskeyNotFound = &Error{Code: CodePasskeyNotFound, Status: 404, Message: "There is no such passkey on your account."}
	// ErrLastAuthenticator: revoking it would leave the account with no way back in (SA-03).
	// Unused recovery codes count as another way in (with the email link they recover the
	// account); the removal of the last passkey then waits for the cooling-off.
	ErrLastAuthenticator = &Error{Code: CodeLastAuthenticator, Status: 409, Message: "This is your only passkey. Add another passkey or create recovery codes before removing this one, or you could not sign in again."}
	ErrTooManyPasskeys   = &Error{Code: CodeTooManyPasskeys, Status: 409, Message: "Your account has as many passkeys as it can hold. Remove one you no longer use first."}
	errBadPasskeyName    = ErrInvalidRequest.WithMessage("Enter a name of 1 to 64 characters.")
)

// registerCeremony is what adding a passkey keeps between begin and finish.
type registerCeremony struct {
	V         int                  `json:"v"`
	Session   webauthn.SessionData `json:"session"`
	AccountID string               `json:"account_id"`
}

// BeginAddPasskey returns creation options for another passkey of the account. Its existing
// passkeys are listed in excludeCredentials, so an authenticator that already holds one says
// so instead of creating a second (WA-14).
func (s *Service) BeginAddPasskey(ctx context.Context, m RequestMeta, accountID string) (*protocol.CredentialCreation, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	acct, err := s.activeAccount(ctx, s.st, accountID)
	if err != nil {
		return nil, txError("add passkey", err)
	}
	creds, err := s.st.ListCredentials(ctx, acct.ID)
	if err != nil {
		return nil, storeError("list credentials", err)
	}
	if len(creds) >= maxPasskeys {
		return nil, ErrTooManyPasskeys
	}
	user := newWAUser(acct, creds)
	exclude := make([]protocol.CredentialDescriptor, 0, len(creds))
	for _, c := range user.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.wa.BeginRegistration(user,
		webauthn.WithCredentialParameters(credentialParameters()), webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("idp: begin registration: %w", err)
	}
	data := registerCeremony{V: ceremonyVersion, Session: *session, AccountID: acct.ID}
	if err := s.putCeremony(ctx, m, purposeRegister, acct.ID, data); err != nil {
		return nil, err
	}
	return creation, nil
}

// FinishAddPasskey verifies the new passkey and stores it with its audit event in one
// transaction. As with sign-up, any attempt consumes the ceremony; a refusal commits that with
// a passkey.register_failed event. A credential id already registered, to this account or any
// other, is refused with credential_exists (WA-10): excludeCredentials is only advice to the
// browser, this is the rule.
func (s *Service) FinishAddPasskey(ctx context.Context, m RequestMeta, accountID string, resp *protocol.ParsedCredentialCreationData) (*Passkey, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, ErrInvalidRequest
	}
	now := s.now().UTC()
	audit := &txAudit{s: s}
	var (
		out  *Passkey
		fail *Error
	)
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		out, fail = nil, nil
		pk, f, err := s.finishAddPasskey(ctx, q, audit, m, accountID, resp, now)
		if err != nil {
			return err
		}
		if f != nil {
			fail = f
			e := metaEvent(EventPasskeyRegisterFail, m)
			e.AccountID, e.ActorID, e.Result = accountID, accountID, f.Code
			e.CredentialID = credentialRef(resp.RawID)
			return audit.append(ctx, q, e)
		}
		out = pk
		return nil
	})
	if err != nil {
		return nil, txError("finish add passkey", err)
	}
	audit.flush(ctx)
	if fail != nil {
		s.logRefusal(ctx, "add passkey refused", fail)
		return nil, fail
	}
	if acct, err := s.st.GetAccount(ctx, accountID); err == nil {
		s.notify(ctx, acct, "passkey_added", "A passkey was added to your "+s.cfg.RPDisplayName+" account",
			"A new passkey, \""+out.Credential.Name+"\", was added to your account.\n\n"+
				"If this was not you, sign in with another passkey now, remove the one you do not recognise and sign out your other devices.", "")
	}
	return out, nil
}

func (s *Service) finishAddPasskey(ctx context.Context, q store.Queries, audit *txAudit, m RequestMeta, accountID string, resp *protocol.ParsedCredentialCreationData, now time.Time) (*Passkey, *Error, error) {
	var c registerCeremony
	if err := consumeCeremony(ctx, q, m, purposeRegister, now, &c); err != nil {
		return refusePasskey(err)
	}
	if c.AccountID != accountID {
		return nil, ErrCeremonyExpired.Wrap(errors.New("ceremony begun for another account")), nil
	}
	if !sameChallenge(c.Session, resp.Response.CollectedClientData) {
		return nil, ErrCeremonyExpired.Wrap(errors.New("response to another (superseded) challenge")), nil
	}
	acct, err := s.activeAccount(ctx, q, accountID)
	if err != nil {
		return refusePasskey(err)
	}
	creds, err := q.ListCredentials(ctx, acct.ID)
	if err != nil {
		return nil, nil, err
	}
	if len(creds) >= maxPasskeys {
		return nil, ErrTooManyPasskeys, nil
	}
	cred, fail := s.verifyNewCredential(newWAUser(acct, creds), c.Session, resp)
	if fail != nil {
		return nil, fail, nil
	}
	if _, err := q.GetCredential(ctx, cred.ID); err == nil {
		return nil, ErrCredentialExists, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	sc := s.newPasskeyRecord(cred, acct.ID, m, now)
	// A concurrent registration of the same id (possible on PostgreSQL) loses here; the
	// *Error as a plain error rolls back, which leaves the ceremony for a retry that then fails
	// the pre-check above.
	if err := q.CreateCredential(ctx, sc); errors.Is(err, store.ErrAlreadyExists) {
		return nil, nil, ErrCredentialExists.Wrap(err)
	} else if err != nil {
		return nil, nil, err
	}
	e := metaEvent(EventPasskeyRegistered, m)
	e.AccountID, e.ActorID, e.CredentialID = acct.ID, acct.ID, credentialRef(sc.ID)
	e.Detail = detail(map[string]any{"name": sc.Name, "synced": sc.BackupEligible, "attestation": cred.AttestationFormat})
	if err := audit.append(ctx, q, e); err != nil {
		return nil, nil, err
	}
	return &Passkey{Credential: *sc, Provider: s.label(sc.AAGUID), Synced: sc.BackupEligible}, nil, nil
}

// RenamePasskey sets the label of one of the account's passkeys.
func (s *Service) RenamePasskey(ctx context.Context, m RequestMeta, accountID string, credentialID []byte, name string) error {
	name, err := normalizePasskeyName(name)
	if err != nil {
		return err
	}
	audit := &txAudit{s: s}
	err = store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		// Read and write in one transaction: UpdateCredential writes the sign count too, and a
		// sign-in between a read and a write outside it would be rolled back to an older count.
		c, err := ownedCredential(ctx, q, accountID, credentialID)
		if err != nil {
			return err
		}
		if c.Name == name {
			return nil
		}
		old := c.Name
		c.Name = name
		if err := q.UpdateCredential(ctx, c); err != nil {
			return err
		}
		e := metaEvent(EventPasskeyRenamed, m)
		e.AccountID, e.ActorID, e.CredentialID = accountID, accountID, credentialRef(c.ID)
		e.Detail = detail(map[string]any{"old_name": old, "name": name})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return txError("rename passkey", err)
	}
	audit.flush(ctx)
	return nil
}

// Revocation is what RevokePasskey did.
type Revocation struct {
	// SessionsEnded counts the account's sessions that had signed in with the revoked passkey
	// and were ended with it (SA-03: whoever holds a lost passkey loses what it opened).
	SessionsEnded int
	// EndedSessions are those sessions' OP session families (store.Session.Family), for the
	// OIDC side (back-channel logout): oidc.Provider.EndSession accepts a family once the row
	// is gone.
	EndedSessions []string
	// TokensRevoked counts the access and refresh tokens issued in those sessions (SA-04).
	TokensRevoked int
	// CurrentSessionEnded is true when the caller's own session was one of them.
	CurrentSessionEnded bool
	// Remaining are the account's passkey ids after the revocation, for the browser's passkey
	// manager (signalAllAcceptedCredentials).
	Remaining [][]byte
	// PendingActionID is set instead when the passkey is the account's last one: with recovery
	// codes as the other way in, its removal waits for the cooling-off (SA-02, SA-03).
	PendingActionID string
	DueAt           time.Time
}

// RevokePasskey deletes one of the account's passkeys, ends the sessions that signed in with
// it and revokes the tokens issued in them, in one transaction with the audit events. The last
// passkey is refused (last_authenticator, SA-03) unless the account has unused recovery codes,
// the other way in; then its removal becomes a pending action. A refusal is audited too.
func (s *Service) RevokePasskey(ctx context.Context, m RequestMeta, accountID string, credentialID []byte) (*Revocation, error) {
	now := s.now().UTC()
	audit := &txAudit{s: s}
	var (
		out     *Revocation
		refused *Error
		target  *store.Credential
		cancel  string
	)
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		out, refused, cancel = nil, nil, ""
		// ListCredentials inside the transaction locks the rows (PostgreSQL FOR UPDATE, SQLite
		// the single writer): two concurrent revocations of an account's last two passkeys run
		// one after the other, and the second sees one left.
		creds, err := q.ListCredentials(ctx, accountID)
		if err != nil {
			return err
		}
		if target = findCredential(creds, credentialID); target == nil {
			return ErrPasskeyNotFound
		}
		if len(creds) == 1 {
			r, token, f, err := s.scheduleLastPasskeyRemoval(ctx, q, audit, m, accountID, target, now)
			out, cancel, refused = r, token, f
			return err
		}
		if err := q.DeleteCredential(ctx, accountID, target.ID); err != nil {
			return err
		}
		r := &Revocation{}
		for _, c := range creds {
			if !bytes.Equal(c.ID, target.ID) {
				r.Remaining = append(r.Remaining, c.ID)
			}
		}
		sessions, err := q.ListSessions(ctx, accountID)
		if err != nil {
			return err
		}
		for _, se := range sessions {
			if se.ID == m.SessionID && bytes.Equal(se.CredentialID, target.ID) {
				r.CurrentSessionEnded = true
			}
		}
		if r.EndedSessions, r.TokensRevoked, err = EndCredentialSessions(ctx, q, accountID, target.ID); err != nil {
			return err
		}
		r.SessionsEnded = len(r.EndedSessions)
		e := metaEvent(EventPasskeyRevoked, m)
		e.AccountID, e.ActorID, e.CredentialID = accountID, accountID, credentialRef(target.ID)
		e.Detail = detail(map[string]any{"name": target.Name, "sessions_ended": r.SessionsEnded, "tokens_revoked": r.TokensRevoked})
		if err := audit.append(ctx, q, e); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, txError("revoke passkey", err)
	}
	audit.flush(ctx)
	if refused != nil {
		return nil, refused
	}
	s.notifyPasskeyRemoval(ctx, accountID, target, out, cancel)
	return out, nil
}

// activeAccount loads an account that may manage itself. Errors that are not *Error are store
// failures.
func (s *Service) activeAccount(ctx context.Context, q store.Queries, accountID string) (*store.Account, error) {
	acct, err := q.GetAccount(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrForbidden.Wrap(err)
	} else if err != nil {
		return nil, err
	}
	if acct.Disabled {
		return nil, ErrAccountDisabled
	}
	return acct, nil
}

// ownedCredential returns the credential only if accountID owns it; passkey_not_found for an
// unknown id and for someone else's alike, so ids of other accounts cannot be probed.
func ownedCredential(ctx context.Context, q store.Queries, accountID string, id []byte) (*store.Credential, error) {
	if len(id) == 0 {
		return nil, ErrPasskeyNotFound
	}
	c, err := q.GetCredential(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrPasskeyNotFound.Wrap(err)
	} else if err != nil {
		return nil, err
	}
	if c.AccountID != accountID {
		return nil, ErrPasskeyNotFound
	}
	return c, nil
}

// refusePasskey is refusal for FinishAddPasskey's result type.
func refusePasskey(err error) (*Passkey, *Error, error) {
	var e *Error
	if errors.As(err, &e) {
		return nil, e, nil
	}
	return nil, nil, err
}

// normalizePasskeyName trims a label and accepts 1–64 runes without control characters or
// bidirectional overrides, as for display names.
func normalizePasskeyName(s string) (string, error) {
	n := strings.TrimSpace(s)
	if n == "" || !utf8.ValidString(n) || utf8.RuneCountInString(n) > maxPasskeyNameLen {
		return "", errBadPasskeyName
	}
	for _, r := range n {
		if unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029' {
			return "", errBadPasskeyName
		}
	}
	return n, nil
}
