package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/keyward/keyward/store"
)

// Account changes an attacker with a stolen session would make to keep the account (SA-06,
// SA-02): changing the email address (where recovery links go) and deleting the account. Both
// become pending actions that take effect after ChangeCoolingOff, announced to the current
// address with a one-click cancel link. An email change also needs the new address confirmed
// by a link mailed to it: until both have happened, tokens and userinfo keep the old address.
// The caller (ui) checks step-up before calling in.

// Pending action kinds of account changes.
const (
	PendingChangeEmail   = "change_email"
	PendingDeleteAccount = "delete_account"
)

// Audit events of account changes.
const (
	EventEmailChangeRequested     = "email_change.requested"
	EventEmailChangeConfirmed     = "email_change.confirmed"
	EventEmailChanged             = "email.changed"
	EventAccountDeletionScheduled = "account.deletion_scheduled"
	EventAccountDeleted           = "account.deleted"
)

// Error codes of account changes.
const (
	CodeChangePending    = "change_pending"
	CodeEmailUnchanged   = "email_unchanged"
	CodeEmailNotVerified = "email_not_verified"
)

var (
	// ErrChangePending: one pending change of a kind at a time, so the person is never unsure
	// which one a cancel link or banner means.
	ErrChangePending = &Error{Code: CodeChangePending, Status: 409,
		Message: "A change of this kind is already pending. Cancel it first on the Security page."}
	ErrEmailUnchanged = &Error{Code: CodeEmailUnchanged, Status: 400, Message: "This is already your email address."}
)

// kindEmailChange: the confirmation link mailed to the new address, stored hashed in the OAuth
// token table like the other links; RequestID is the pending action it confirms.
const kindEmailChange = "email_change"

// EmailChangeConfirmPath is the ui route the confirmation link opens.
const EmailChangeConfirmPath = "/account/email/confirm"

type emailChangePayload struct {
	V        int    `json:"v"`
	OldEmail string `json:"old_email"`
	NewEmail string `json:"new_email"`
	// Confirmed is set by the link mailed to NewEmail; the change never executes without it.
	Confirmed bool `json:"confirmed,omitempty"`
}

type deleteAccountPayload struct {
	V int `json:"v"`
}

// PendingChange is a pending action as the account page shows it.
type PendingChange struct {
	store.PendingAction
	// NewEmail is the address an email change moves to, once confirmed.
	NewEmail  string
	Confirmed bool
}

// StartEmailChange creates the pending change of accountID's address to newEmail, mails the
// confirmation link to newEmail and the cancel link to the current address.
func (s *Service) StartEmailChange(ctx context.Context, m RequestMeta, accountID, newEmail string) (*PendingChange, error) {
	email, err := normalizeEmail(newEmail)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	raw := randomBytes(recoveryTokenLen)
	linkTTL := s.cfg.EmailVerificationTTL
	// Unconfirmed, the action is due only when the link has expired, and then fails; confirming
	// moves the due time to the end of the cooling-off (ConfirmEmailChange).
	due := now.Add(max(s.cfg.ChangeCoolingOff, linkTTL))
	audit := &txAudit{s: s}
	var (
		acct   *store.Account
		pa     *store.PendingAction
		cancel string
	)
	err = store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		var err error
		if acct, err = s.activeAccount(ctx, q, accountID); err != nil {
			return err
		}
		if acct.Email == email {
			return ErrEmailUnchanged
		}
		if _, err := q.GetAccountByEmail(ctx, email); err == nil {
			return ErrEmailTaken
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := noPendingOfKind(ctx, q, acct.ID, PendingChangeEmail); err != nil {
			return err
		}
		p := emailChangePayload{V: 1, OldEmail: acct.Email, NewEmail: email}
		if pa, cancel, err = s.createPending(ctx, q, audit, m, acct.ID, acct.ID, PendingChangeEmail, p, now, due); err != nil {
			return err
		}
		if err := q.CreateOAuthToken(ctx, &store.OAuthToken{Kind: kindEmailChange, Signature: tokenHash(raw), RequestID: pa.ID,
			Subject: acct.ID, Active: true, RequestedAt: now, ExpiresAt: now.Add(linkTTL)}); err != nil {
			return err
		}
		e := metaEvent(EventEmailChangeRequested, m)
		e.AccountID, e.ActorID = acct.ID, acct.ID
		e.Detail = detail(map[string]any{"pending_action": pa.ID, "new_email": email})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return nil, txError("start email change", err)
	}
	audit.flush(ctx)
	confirm := s.cfg.PublicURL + EmailChangeConfirmPath + "?" + url.Values{"token": {base64.RawURLEncoding.EncodeToString(raw)}}.Encode()
	if err := s.mailer.Send(ctx, Mail{Kind: "email_change_verification", To: email,
		Subject: "Confirm your new email address for " + s.cfg.RPDisplayName,
		Text: "Someone asked to move a " + s.cfg.RPDisplayName + " account to this address. Open this link to confirm that it is yours:\n\n" +
			confirm + "\n\nThe link works once, within " + linkTTL.String() + ". The change then takes effect after " +
			s.cfg.ChangeCoolingOff.String() + ". If you did not ask for it, ignore this message: nothing changes.",
		Link: confirm}); err != nil {
		s.log.ErrorContext(ctx, "mail delivery failed", "mail_kind", "email_change_verification", "account_id", acct.ID, "error", err)
	}
	s.notifyCancel(ctx, acct.Email, acct.ID, "email_change_pending", "Your "+s.cfg.RPDisplayName+" email address is about to change",
		"Someone signed in to your account asked to change its email address to "+email+". Once that address is confirmed, "+
			"the change takes effect on "+due.Format(time.RFC1123)+" at the earliest, and account messages and recovery links will go there.", cancel)
	return &PendingChange{PendingAction: *pa, NewEmail: email}, nil
}

// ConfirmEmailChange consumes the link mailed to the new address. Holding it proves the address;
// no session is needed. The change then takes effect at the end of the cooling-off.
func (s *Service) ConfirmEmailChange(ctx context.Context, m RequestMeta, token string) (*PendingChange, error) {
	hash, ok := decodeToken(token)
	if !ok {
		return nil, ErrLinkInvalid
	}
	now := s.now().UTC()
	audit := &txAudit{s: s}
	var out *PendingChange
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		tok, err := q.GetOAuthToken(ctx, kindEmailChange, hash)
		if errors.Is(err, store.ErrNotFound) {
			return ErrLinkInvalid.Wrap(err)
		} else if err != nil {
			return err
		}
		if err := q.DeleteOAuthToken(ctx, kindEmailChange, hash); errors.Is(err, store.ErrNotFound) {
			return ErrLinkInvalid.Wrap(err)
		} else if err != nil {
			return err
		}
		if !tok.Active || !now.Before(tok.ExpiresAt) {
			return ErrLinkInvalid.Wrap(errors.New("expired"))
		}
		pa, err := q.GetPendingAction(ctx, tok.RequestID)
		if errors.Is(err, store.ErrNotFound) {
			return ErrLinkInvalid.Wrap(err)
		} else if err != nil {
			return err
		}
		var p emailChangePayload
		if pa.Kind != PendingChangeEmail || pa.Status != store.PendingStatusPending || json.Unmarshal(pa.Payload, &p) != nil {
			return ErrLinkInvalid.Wrap(errors.New("the change was cancelled or is unreadable"))
		}
		p.Confirmed = true
		body, _ := json.Marshal(p)
		due := pa.CreatedAt.Add(s.cfg.ChangeCoolingOff)
		if due.Before(now) {
			due = now
		}
		if err := q.UpdatePendingAction(ctx, pa.ID, body, due); errors.Is(err, store.ErrNotFound) {
			return ErrLinkInvalid.Wrap(err)
		} else if err != nil {
			return err
		}
		pa.Payload, pa.DueAt = body, due
		out = &PendingChange{PendingAction: *pa, NewEmail: p.NewEmail, Confirmed: true}
		e := metaEvent(EventEmailChangeConfirmed, m)
		e.AccountID = pa.AccountID
		e.Detail = detail(map[string]any{"pending_action": pa.ID, "due_at": due.Format(time.RFC3339)})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return nil, txError("confirm email change", err)
	}
	audit.flush(ctx)
	return out, nil
}

// ScheduleAccountDeletion creates the pending deletion of accountID and mails the cancel link.
// While it waits the account works as before, and any of its passkeys can cancel it.
func (s *Service) ScheduleAccountDeletion(ctx context.Context, m RequestMeta, accountID string) (*PendingChange, error) {
	now := s.now().UTC()
	due := now.Add(s.cfg.ChangeCoolingOff)
	audit := &txAudit{s: s}
	var (
		acct   *store.Account
		pa     *store.PendingAction
		cancel string
	)
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		var err error
		if acct, err = s.activeAccount(ctx, q, accountID); err != nil {
			return err
		}
		if err := noPendingOfKind(ctx, q, acct.ID, PendingDeleteAccount); err != nil {
			return err
		}
		// The server must keep someone who can run it.
		if acct.Admin {
			if err := RequireOtherAdmin(ctx, q, acct.ID); err != nil {
				return err
			}
		}
		if pa, cancel, err = s.createPending(ctx, q, audit, m, acct.ID, acct.ID, PendingDeleteAccount, deleteAccountPayload{V: 1}, now, due); err != nil {
			return err
		}
		e := metaEvent(EventAccountDeletionScheduled, m)
		e.AccountID, e.ActorID = acct.ID, acct.ID
		e.Detail = detail(map[string]any{"pending_action": pa.ID, "due_at": due.Format(time.RFC3339)})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return nil, txError("schedule account deletion", err)
	}
	audit.flush(ctx)
	s.notifyCancel(ctx, acct.Email, acct.ID, "account_deletion_pending", "Your "+s.cfg.RPDisplayName+" account is about to be deleted",
		"Someone signed in to your account asked to delete it. On "+due.Format(time.RFC1123)+
			" its passkeys, sessions and app access will be deleted for good.", cancel)
	return &PendingChange{PendingAction: *pa}, nil
}

// PendingChanges lists accountID's pending actions with what the account page says about them.
func (s *Service) PendingChanges(ctx context.Context, accountID string) ([]PendingChange, error) {
	pending, err := s.PendingActions(ctx, accountID)
	if err != nil {
		return nil, err
	}
	out := make([]PendingChange, 0, len(pending))
	for _, pa := range pending {
		c := PendingChange{PendingAction: pa}
		if pa.Kind == PendingChangeEmail {
			var p emailChangePayload
			if json.Unmarshal(pa.Payload, &p) == nil {
				c.NewEmail, c.Confirmed = p.NewEmail, p.Confirmed
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func noPendingOfKind(ctx context.Context, q store.Queries, accountID, kind string) error {
	pending, err := q.ListPendingActions(ctx, accountID, store.PendingStatusPending)
	if err != nil {
		return err
	}
	for _, pa := range pending {
		if pa.Kind == kind {
			return ErrChangePending
		}
	}
	return nil
}

// executeEmailChange moves the account to the confirmed address. It refuses (fail code) an
// unconfirmed change, one overtaken by another change, and an address taken meanwhile.
func executeEmailChange(ctx context.Context, q store.Queries, audit *txAudit, pa store.PendingAction, now time.Time) (string, error) {
	var p emailChangePayload
	if err := json.Unmarshal(pa.Payload, &p); err != nil || p.V != 1 {
		return CodeInvalidRequest, nil
	}
	if !p.Confirmed {
		return CodeEmailNotVerified, nil
	}
	acct, err := q.GetAccount(ctx, pa.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return CodeForbidden, nil
	} else if err != nil {
		return "", err
	}
	if acct.Disabled {
		return CodeAccountDisabled, nil
	}
	if acct.Email != p.OldEmail {
		return CodeInvalidRequest, nil
	}
	acct.Email, acct.EmailVerified, acct.UpdatedAt = p.NewEmail, true, now
	if err := q.UpdateAccount(ctx, acct); errors.Is(err, store.ErrAlreadyExists) {
		return CodeEmailTaken, nil
	} else if err != nil {
		return "", err
	}
	e := store.AuditEvent{Event: EventEmailChanged, AccountID: acct.ID, ActorID: pa.ActorID,
		Detail: detail(map[string]any{"pending_action": pa.ID, "old_email": p.OldEmail, "new_email": p.NewEmail})}
	return "", audit.append(ctx, q, e)
}

// executeAccountDeletion deletes the account: its credentials, sessions, consents, recovery codes
// and pending actions go with it (foreign keys), its tokens are revoked; the audit log stays.
func executeAccountDeletion(ctx context.Context, q store.Queries, audit *txAudit, pa store.PendingAction) (string, []string, error) {
	acct, err := q.GetAccount(ctx, pa.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return CodeForbidden, nil, nil
	} else if err != nil {
		return "", nil, err
	}
	if acct.Admin {
		// Checked again at execution: the other administrators may have gone meanwhile.
		if err := RequireOtherAdmin(ctx, q, acct.ID); errors.Is(err, ErrLastAdmin) {
			return CodeLastAdmin, nil, nil
		} else if err != nil {
			return "", nil, err
		}
	}
	sessions, err := q.ListSessions(ctx, acct.ID)
	if err != nil {
		return "", nil, err
	}
	// Every token of the subject, whatever session issued it: the sessions go by cascade.
	if err := q.RevokeOAuthTokensBySubject(ctx, acct.ID, ""); err != nil {
		return "", nil, err
	}
	if err := q.DeleteAccount(ctx, acct.ID); err != nil {
		return "", nil, err
	}
	e := store.AuditEvent{Event: EventAccountDeleted, AccountID: acct.ID, ActorID: pa.ActorID,
		Detail: detail(map[string]any{"pending_action": pa.ID, "sessions_ended": len(sessions)})}
	// The families go to the OIDC side after commit (back-channel logout): the rows go by
	// cascade here, and the apps' grants are found by family.
	return "", sessionFamilies(sessions), audit.append(ctx, q, e)
}

// notifyCancel mails to a security notice that carries the one-click cancel link of a pending
// action.
func (s *Service) notifyCancel(ctx context.Context, to, accountID, kind, subject, text, cancelToken string) {
	link := s.cfg.PublicURL + RecoveryCancelPath + "?" + url.Values{"token": {cancelToken}}.Encode()
	s.notifyAddress(ctx, to, accountID, kind, subject, text+"\n\nIf this was not you, cancel it now with this link (no sign-in needed):\n\n"+
		link+"\n\nThen sign in with your passkey, remove any passkey you do not recognise and sign out your other devices.", link)
}
