package idp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward/store"
)

// userHandleLen is the size of the WebAuthn user.id, random per account (DESIGN).
const userHandleLen = 32

// SignupRequest is what the sign-up page submits.
type SignupRequest struct {
	Email       string
	DisplayName string
	Invite      string // the invite token from the link, if any
}

// BeginSignup checks the request against the registration policy and returns the creation
// options for the browser. It stores only the ceremony; the account is created by FinishSignup.
func (s *Service) BeginSignup(ctx context.Context, m RequestMeta, req SignupRequest) (*protocol.CredentialCreation, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	name, err := normalizeDisplayName(req.DisplayName)
	if err != nil {
		return nil, err
	}
	hash := ""
	if req.Invite != "" {
		var ok bool
		if hash, ok = inviteHash(req.Invite); !ok {
			return nil, ErrInviteInvalid
		}
	}
	now := s.now().UTC()
	if _, _, err := s.signupGate(ctx, s.st, email, hash, now); err != nil {
		return nil, txError("signup gate", err)
	}
	if _, err := s.st.GetAccountByEmail(ctx, email); err == nil {
		return nil, ErrEmailTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, storeError("get account by email", err)
	}

	user := &waUser{handle: randomBytes(userHandleLen), name: email, displayName: name}
	creation, session, err := s.wa.BeginRegistration(user, webauthn.WithCredentialParameters(credentialParameters()))
	if err != nil {
		return nil, fmt.Errorf("idp: begin registration: %w", err)
	}
	data := signupCeremony{
		V:           ceremonyVersion,
		Session:     *session,
		Email:       email,
		DisplayName: name,
		UserHandle:  user.handle,
		AccountID:   newAccountID(),
		InviteHash:  hash,
	}
	if err := s.putCeremony(ctx, m, purposeSignup, "", data); err != nil {
		return nil, err
	}
	s.Audit(ctx, metaEvent(EventSignupBegun, m))
	return creation, nil
}

// signupGate applies the registration policy. It returns the invite (nil without one) and the
// number of accounts. Errors that are not *Error are store failures.
//
// Whatever the policy, the first account needs an admin invite (the setup link): on an open
// server a stranger must not be able to race the operator to the first, admin, account.
func (s *Service) signupGate(ctx context.Context, q store.Queries, email, hash string, now time.Time) (*store.Invite, int, error) {
	n, err := q.CountAccounts(ctx)
	if err != nil {
		return nil, 0, err
	}
	var inv *store.Invite
	if hash != "" {
		inv, err = q.GetInvite(ctx, hash, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, ErrInviteInvalid.Wrap(err)
		}
		if err != nil {
			return nil, 0, err
		}
		if err := s.inviteUsable(ctx, q, inv, n); err != nil {
			return nil, 0, err
		}
		if inv.Email != "" && inv.Email != email {
			return nil, 0, ErrInviteInvalid.WithMessage("This invitation was issued for another email address.")
		}
	}
	if n == 0 && (inv == nil || !inv.Admin) {
		return nil, 0, ErrRegistrationClosed.WithMessage("This server is not set up yet. Create the first account with the setup link shown at start-up.")
	}
	if inv == nil {
		switch s.cfg.Registration {
		case RegistrationInvite:
			return nil, 0, ErrRegistrationClosed.WithMessage("Sign-up needs an invitation.")
		case RegistrationClosed:
			return nil, 0, ErrRegistrationClosed
		}
	}
	return inv, n, nil
}

// FinishSignup verifies the new passkey and creates the account, its credential, the invite's
// consumption and the audit event in one transaction.
//
// The ceremony is single use: any attempt consumes it. When the attempt is refused (bad
// attestation, email or credential taken, invite gone) the consumption and a signup.failed
// event are committed and the *Error returned. When the store fails, everything rolls back and
// the person may retry with the same challenge.
func (s *Service) FinishSignup(ctx context.Context, m RequestMeta, resp *protocol.ParsedCredentialCreationData) (*Authentication, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, ErrInvalidRequest
	}
	now := s.now().UTC()
	out, err := finishCeremony(ctx, s, "signup", func(q store.Queries, audit *txAudit) (*Authentication, *Error, error) {
		return s.finishSignup(ctx, q, audit, m, resp, now)
	}, func(f *Error) store.AuditEvent {
		e := metaEvent(EventSignupFailed, m)
		e.Result = f.Code
		e.CredentialID = credentialRef(resp.RawID)
		return e
	})
	if err != nil {
		return nil, err
	}
	s.afterSignup(ctx, m, out.AccountID)
	return out, nil
}

// finishSignup is the body of the transaction. A non-nil *Error result is a refusal to commit
// together with the ceremony's consumption; a non-nil error rolls back.
func (s *Service) finishSignup(ctx context.Context, q store.Queries, audit *txAudit, m RequestMeta, resp *protocol.ParsedCredentialCreationData, now time.Time) (*Authentication, *Error, error) {
	var c signupCeremony
	if err := consumeCeremony(ctx, q, m, purposeSignup, now, &c); err != nil {
		return refusal(err)
	}
	if !sameChallenge(c.Session, resp.Response.CollectedClientData) {
		return nil, ErrCeremonyExpired.Wrap(errors.New("response to another (superseded) challenge")), nil
	}
	user := &waUser{handle: c.UserHandle, name: c.Email, displayName: c.DisplayName}
	// Attestation, UV, BE/BS, a usable key (WA-11) and the AAGUID policy (WA-12).
	cred, fail := s.verifyNewCredential(user, c.Session, resp)
	if fail != nil {
		return nil, fail, nil
	}
	flags := resp.Response.AttestationObject.AuthData.Flags

	inv, n, err := s.signupGate(ctx, q, c.Email, c.InviteHash, now)
	if err != nil {
		return refusal(err)
	}
	if _, err := q.GetAccountByEmail(ctx, c.Email); err == nil {
		return nil, ErrEmailTaken, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	// WebAuthn §7.1 step 26: a credential id registered to anyone must not be re-bound.
	if _, err := q.GetCredential(ctx, cred.ID); err == nil {
		return nil, ErrCredentialExists, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if inv != nil {
		if _, err := q.ConsumeInvite(ctx, c.InviteHash, now); errors.Is(err, store.ErrNotFound) {
			return nil, ErrInviteInvalid.Wrap(err), nil
		} else if err != nil {
			return nil, nil, err
		}
	}

	acct := &store.Account{
		ID:            c.AccountID,
		Email:         c.Email,
		EmailVerified: inv != nil && inv.Email == c.Email,
		DisplayName:   c.DisplayName,
		UserHandle:    c.UserHandle,
		Admin:         n == 0 || (inv != nil && inv.Admin),
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	// A concurrent sign-up that won the race (possible on PostgreSQL) surfaces as
	// ErrAlreadyExists here; returning the *Error rolls back, so nothing half-made remains.
	if err := q.CreateAccount(ctx, acct); errors.Is(err, store.ErrAlreadyExists) {
		return nil, nil, ErrEmailTaken.Wrap(err)
	} else if err != nil {
		return nil, nil, err
	}
	sc := s.newPasskeyRecord(cred, acct.ID, m, now)
	if err := q.CreateCredential(ctx, sc); errors.Is(err, store.ErrAlreadyExists) {
		return nil, nil, ErrCredentialExists.Wrap(err)
	} else if err != nil {
		return nil, nil, err
	}
	e := metaEvent(EventSignupCompleted, m)
	e.AccountID = acct.ID
	e.CredentialID = credentialRef(sc.ID)
	e.Detail = detail(map[string]any{"admin": acct.Admin, "invite": inv != nil, "email_verified": acct.EmailVerified})
	if err := audit.append(ctx, q, e); err != nil {
		return nil, nil, err
	}
	amr, acr := amrACR(flags)
	return &Authentication{
		AccountID:    acct.ID,
		AuthTime:     now,
		AMR:          amr,
		ACR:          acr,
		CredentialID: sc.ID,
		NewAccount:   true,
	}, nil, nil
}

// refusal splits an error from a check into a committed refusal (*Error) or a rollback.
func refusal(err error) (*Authentication, *Error, error) {
	var e *Error
	if errors.As(err, &e) {
		return nil, e, nil
	}
	return nil, nil, err
}

func newStoredCredential(c *webauthn.Credential, accountID, name string, m RequestMeta, now time.Time) *store.Credential {
	transports := make([]string, 0, len(c.Transport))
	for _, t := range c.Transport {
		transports = append(transports, string(t))
	}
	sc := &store.Credential{
		ID:              c.ID,
		AccountID:       accountID,
		PublicKey:       c.PublicKey,
		AttestationType: c.AttestationType,
		AAGUID:          c.Authenticator.AAGUID,
		SignCount:       c.Authenticator.SignCount,
		Transports:      transports,
		Name:            name,
		CreatedAt:       now,
		CreatedIP:       m.IP,
		CreatedUA:       m.UserAgent,
	}
	setFlags(sc, c.Flags.ProtocolValue())
	return sc
}
