package idp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward/store"
)

// Step-up: a signed-in person proves presence again with a user-verified passkey assertion
// before a sensitive action (SA-01). Only the account's own passkeys are offered and accepted
// (allowCredentials, WA-07), and the decision reads the UV flag and time of THIS ceremony,
// never the flags stored from an earlier one (WA-06).

const purposeStepUp = "stepup"

// Audit events of step-up.
const (
	EventStepUpSucceeded = "stepup.succeeded"
	EventStepUpFailed    = "stepup.failed"
)

type stepUpCeremony struct {
	V         int                  `json:"v"`
	Session   webauthn.SessionData `json:"session"`
	AccountID string               `json:"account_id"`
}

// BeginStepUp returns request options that list only accountID's passkeys, with user
// verification required, and stores the ceremony bound to the browser session.
func (s *Service) BeginStepUp(ctx context.Context, m RequestMeta, accountID string) (*protocol.CredentialAssertion, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	acct, err := s.activeAccount(ctx, s.st, accountID)
	if err != nil {
		return nil, txError("begin step-up", err)
	}
	creds, err := s.st.ListCredentials(ctx, acct.ID)
	if err != nil {
		return nil, storeError("list credentials", err)
	}
	if len(creds) == 0 {
		return nil, ErrForbidden.Wrap(errors.New("account without passkeys"))
	}
	assertion, session, err := s.wa.BeginLogin(newWAUser(acct, creds), webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("idp: begin step-up: %w", err)
	}
	data := stepUpCeremony{V: ceremonyVersion, Session: *session, AccountID: acct.ID}
	if err := s.putCeremony(ctx, m, purposeStepUp, acct.ID, data); err != nil {
		return nil, err
	}
	return assertion, nil
}

// FinishStepUp verifies the assertion against the ceremony begun for accountID and, in one
// transaction with consuming the ceremony, writes back the sign count and the audit event. The
// result's AuthTime is now: the caller records it as the session's latest authentication. Any
// attempt consumes the ceremony; a refusal commits that with a stepup.failed event.
func (s *Service) FinishStepUp(ctx context.Context, m RequestMeta, accountID string, resp *protocol.ParsedCredentialAssertionData) (*Authentication, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, ErrInvalidRequest
	}
	now := s.now().UTC()
	return finishCeremony(ctx, s, "step-up", func(q store.Queries, audit *txAudit) (*Authentication, *Error, error) {
		return s.finishStepUp(ctx, q, audit, m, accountID, resp, now)
	}, func(f *Error) store.AuditEvent {
		e := metaEvent(EventStepUpFailed, m)
		e.AccountID, e.ActorID, e.Result = accountID, accountID, f.Code
		e.CredentialID = credentialRef(resp.RawID)
		return e
	})
}

func (s *Service) finishStepUp(ctx context.Context, q store.Queries, audit *txAudit, m RequestMeta, accountID string, resp *protocol.ParsedCredentialAssertionData, now time.Time) (*Authentication, *Error, error) {
	var c stepUpCeremony
	if err := consumeCeremony(ctx, q, m, purposeStepUp, now, &c); err != nil {
		return refusal(err)
	}
	if c.AccountID != accountID {
		return nil, ErrCeremonyExpired.Wrap(errors.New("step-up begun for another account")), nil
	}
	if err := cmp.Or(strictClientData(resp.Raw.AssertionResponse.ClientDataJSON), s.exactOrigin(resp.Response.CollectedClientData.Origin)); err != nil { // WA-13, WA-03
		return nil, ErrVerificationFailed.Wrap(err), nil
	}
	if !sameChallenge(c.Session, resp.Response.CollectedClientData) {
		return nil, ErrCeremonyExpired.Wrap(errors.New("response to another (superseded) challenge")), nil
	}
	acct, err := s.activeAccount(ctx, q, accountID)
	if err != nil {
		return refusal(err)
	}
	stored, err := q.ListCredentials(ctx, acct.ID)
	if err != nil {
		return nil, nil, err
	}
	// ValidateLogin checks the credential is in allowCredentials (this account's passkeys) and
	// that a returned userHandle is this account's: another account's passkey fails here.
	cred, err := s.wa.ValidateLogin(newWAUser(acct, stored), c.Session, resp)
	if err != nil {
		return nil, ErrVerificationFailed.Wrap(err), nil
	}
	sc := findCredential(stored, cred.ID)
	flags := resp.Response.AuthenticatorData.Flags
	switch {
	case sc == nil || sc.AccountID != acct.ID:
		return nil, ErrVerificationFailed.Wrap(errors.New("credential not owned by the account")), nil
	case !flags.HasUserVerified():
		return nil, ErrVerificationFailed.Wrap(errors.New("step-up without user verification")), nil
	case sc.BackupEligible != flags.HasBackupEligible():
		return nil, ErrVerificationFailed.Wrap(errors.New("backup eligibility changed")), nil
	case cred.Authenticator.CloneWarning:
		sc.CloneWarning = true
		if err := q.UpdateCredential(ctx, sc); err != nil {
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
	e := metaEvent(EventStepUpSucceeded, m)
	e.AccountID, e.ActorID, e.CredentialID = acct.ID, acct.ID, credentialRef(sc.ID)
	if err := audit.append(ctx, q, e); err != nil {
		return nil, nil, err
	}
	amr, acr := amrACR(flags)
	return &Authentication{AccountID: acct.ID, AuthTime: now, AMR: amr, ACR: acr, CredentialID: sc.ID}, nil, nil
}
