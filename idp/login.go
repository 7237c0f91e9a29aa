package idp

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward/store"
)

// LoginRequest starts a sign-in.
type LoginRequest struct {
	// Email, when set, makes the sign-in email-first: allowCredentials lists that account's
	// passkeys (decoys for an unknown email). Empty: discoverable, the browser offers passkeys.
	Email string
	// Conditional asks for conditional mediation (passkey autofill); discoverable only.
	Conditional bool
}

// BeginLogin returns the request options for the browser and stores the ceremony. User
// verification is required.
func (s *Service) BeginLogin(ctx context.Context, m RequestMeta, req LoginRequest) (*protocol.CredentialAssertion, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	uv := webauthn.WithUserVerification(protocol.VerificationRequired)
	data := loginCeremony{V: ceremonyVersion}
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
		err       error
	)
	switch {
	case req.Email == "":
		mediation := protocol.MediationDefault
		if req.Conditional {
			mediation = protocol.MediationConditional
		}
		data.Mode, data.Conditional = loginDiscoverable, req.Conditional
		assertion, session, err = s.wa.BeginDiscoverableMediatedLogin(mediation, uv)
	case req.Conditional:
		return nil, ErrInvalidRequest.WithMessage("Passkey autofill cannot be combined with an email address.")
	default:
		email, nerr := normalizeEmail(req.Email)
		if nerr != nil {
			return nil, nerr
		}
		acct, creds, lerr := s.loginAccount(ctx, email)
		if lerr != nil {
			return nil, lerr
		}
		if acct != nil {
			data.Mode, data.AccountID = loginEmail, acct.ID
			assertion, session, err = s.wa.BeginLogin(newWAUser(acct, creds), uv)
		} else {
			data.Mode = loginUnknown
			assertion, session, err = s.wa.BeginDiscoverableLogin(uv, webauthn.WithAllowedCredentials(s.fakeAllowCredentials(email)))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("idp: begin login: %w", err)
	}
	data.Session = *session
	if err := s.putCeremony(ctx, m, purposeLogin, data.AccountID, data); err != nil {
		return nil, err
	}
	return assertion, nil
}

// FinishLogin verifies an assertion and, in one transaction with consuming the ceremony, writes
// back the sign count, flags and last use, and the audit event.
//
// Refusals (verification_failed, ceremony_expired, account_disabled, clone_suspected) commit
// the ceremony's consumption with a login.failed event; a suspected clone also commits the
// credential's clone warning and a passkey.clone_suspected event. Store failures roll back.
func (s *Service) FinishLogin(ctx context.Context, m RequestMeta, resp *protocol.ParsedCredentialAssertionData) (*Authentication, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, ErrInvalidRequest
	}
	now := s.now().UTC()
	var att loginAttempt
	return finishCeremony(ctx, s, "login", func(q store.Queries, audit *txAudit) (*Authentication, *Error, error) {
		att = loginAttempt{}
		return s.finishLogin(ctx, q, audit, m, resp, now, &att)
	}, func(f *Error) store.AuditEvent {
		e := metaEvent(EventLoginFailed, m)
		e.Result = f.Code
		e.AccountID = att.accountID
		e.CredentialID = credentialRef(resp.RawID)
		if att.mode != "" {
			// The route of the attempt, for the funnel metrics (bounded values only).
			e.Detail = detail(map[string]any{"mode": att.mode, "mediation": att.mediation,
				"attachment": string(resp.AuthenticatorAttachment)})
		}
		return e
	})
}

// finishLogin is the body of the transaction; see finishSignup for the result convention.
// att receives what is known of the attempt (account, route) for the failure event.
func (s *Service) finishLogin(ctx context.Context, q store.Queries, audit *txAudit, m RequestMeta, resp *protocol.ParsedCredentialAssertionData, now time.Time, att *loginAttempt) (*Authentication, *Error, error) {
	var c loginCeremony
	if err := consumeCeremony(ctx, q, m, purposeLogin, now, &c); err != nil {
		return refusal(err)
	}
	att.mode, att.mediation = c.Mode, c.mediation()
	if !sameChallenge(c.Session, resp.Response.CollectedClientData) {
		return nil, ErrCeremonyExpired.Wrap(errors.New("response to another (superseded) challenge")), nil
	}
	if err := cmp.Or(strictClientData(resp.Raw.AssertionResponse.ClientDataJSON), s.exactOrigin(resp.Response.CollectedClientData.Origin)); err != nil { // WA-13, WA-03
		return nil, ErrVerificationFailed.Wrap(err), nil
	}

	var (
		acct   *store.Account
		stored []store.Credential
		cred   *webauthn.Credential
		err    error
	)
	switch c.Mode {
	case loginDiscoverable:
		// The account comes from the userHandle alone, never from the credential id, so a
		// credential can only ever sign in to the account it was created for (WA-07).
		var lookupErr error
		handler := func(_, userHandle []byte) (webauthn.User, error) {
			a, err := q.GetAccountByUserHandle(ctx, userHandle)
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					lookupErr = err
				}
				return nil, err
			}
			creds, err := q.ListCredentials(ctx, a.ID)
			if err != nil {
				lookupErr = err
				return nil, err
			}
			acct, stored = a, creds
			return newWAUser(a, creds), nil
		}
		_, cred, err = s.wa.ValidatePasskeyLogin(handler, c.Session, resp)
		if lookupErr != nil {
			return nil, nil, lookupErr
		}
	case loginEmail:
		acct, err = q.GetAccount(ctx, c.AccountID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrVerificationFailed.Wrap(err), nil
		} else if err != nil {
			return nil, nil, err
		}
		if stored, err = q.ListCredentials(ctx, acct.ID); err != nil {
			return nil, nil, err
		}
		cred, err = s.wa.ValidateLogin(newWAUser(acct, stored), c.Session, resp)
	default: // loginUnknown: decoys never verify, and must fail exactly like a bad signature
		return nil, ErrVerificationFailed.Wrap(errors.New("email without an account")), nil
	}
	if acct != nil {
		att.accountID = acct.ID
	}
	if err != nil {
		return nil, ErrVerificationFailed.Wrap(err), nil
	}

	sc := findCredential(stored, cred.ID)
	flags := resp.Response.AuthenticatorData.Flags
	switch {
	case sc == nil || sc.AccountID != acct.ID:
		return nil, ErrVerificationFailed.Wrap(errors.New("credential not owned by the account")), nil
	case !flags.HasUserVerified():
		return nil, ErrVerificationFailed.Wrap(errors.New("user not verified")), nil
	case sc.BackupEligible != flags.HasBackupEligible(): // §7.2 step 18; go-webauthn checks too
		return nil, ErrVerificationFailed.Wrap(errors.New("backup eligibility changed")), nil
	case acct.Disabled:
		return nil, ErrAccountDisabled, nil
	}

	// We never reload CloneWarning, so go-webauthn sets it only when THIS assertion's counter
	// is not above the stored one while either is non-zero (§7.2 step 22). Policy: refuse, keep
	// the warning on the record for administrators, and leave the counter where it was.
	if cred.Authenticator.CloneWarning {
		sc.CloneWarning = true
		if err := q.UpdateCredential(ctx, sc); err != nil {
			return nil, nil, err
		}
		e := metaEvent(EventCloneSuspected, m)
		e.AccountID, e.CredentialID, e.Result = acct.ID, credentialRef(sc.ID), CodeCloneSuspected
		e.Detail = detail(map[string]any{"stored_sign_count": sc.SignCount, "presented_sign_count": resp.Response.AuthenticatorData.Counter})
		if err := audit.append(ctx, q, e); err != nil {
			return nil, nil, err
		}
		return nil, ErrCloneSuspected, nil
	}

	sc.SignCount = cred.Authenticator.SignCount
	setFlags(sc, flags)
	sc.LastUsedAt, sc.LastUsedIP, sc.LastUsedUA = now, m.IP, m.UserAgent
	if err := q.UpdateCredential(ctx, sc); err != nil {
		return nil, nil, err
	}
	e := metaEvent(EventLoginSucceeded, m)
	e.AccountID, e.CredentialID = acct.ID, credentialRef(sc.ID)
	e.Detail = detail(map[string]any{"mode": c.Mode, "synced": flags.HasBackupEligible(),
		"mediation": c.mediation(), "attachment": string(resp.AuthenticatorAttachment)})
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
	}, nil, nil
}

func findCredential(creds []store.Credential, id []byte) *store.Credential {
	for i := range creds {
		if bytes.Equal(creds[i].ID, id) {
			return &creds[i]
		}
	}
	return nil
}

// loginAttempt is what a failed sign-in's audit event can say about the attempt.
type loginAttempt struct {
	accountID, mode, mediation string
}

// mediation names how the ceremony was begun, for the audit detail.
func (c *loginCeremony) mediation() string {
	if c.Conditional {
		return string(protocol.MediationConditional)
	}
	return ""
}
