package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward/store"
)

// Pending actions (SA-02): high-risk changes that take effect only after a cooling-off period.
// They are rows in the store, so they survive restarts; the scheduler (RunDuePendingActions)
// claims due rows with a conditional UPDATE, so several replicas execute each action once.
// Every step is audited: pending.created, pending.cancelled, pending.executed (or .failed).

// Pending action kinds. Each has a case in execute; the kinds of account changes are in
// account_changes.go and passkey_removal.go.
const (
	PendingActivateRecoveryPasskey = "activate_recovery_passkey"
)

// Audit events of pending actions.
const (
	EventPendingCreated   = "pending.created"
	EventPendingCancelled = "pending.cancelled"
	EventPendingExecuted  = "pending.executed"
	EventPendingFailed    = "pending.failed"
)

// CodePendingNotFound answers a pending action that is unknown, not the caller's, or no longer pending.
const CodePendingNotFound = "pending_action_not_found"

var ErrPendingNotFound = &Error{Code: CodePendingNotFound, Status: 404,
	Message: "There is no such pending change, or it was already cancelled or carried out."}

const pendingBatch = 50

// recoveryPasskeyPayload is the payload of activate_recovery_passkey: the verified passkey,
// kept out of the credentials table until the action executes, so it cannot sign in before.
type recoveryPasskeyPayload struct {
	V          int              `json:"v"`
	Credential store.Credential `json:"credential"`
}

// createPending stores a pending action with a fresh one-click cancel token and audits it. It
// returns the action and the token (base64url) for the notification.
func (s *Service) createPending(ctx context.Context, q store.Queries, audit *txAudit, m RequestMeta, accountID, actorID, kind string, payload any, now, due time.Time) (*store.PendingAction, string, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, "", fmt.Errorf("idp: encode pending payload: %w", err)
	}
	raw := randomBytes(recoveryTokenLen)
	pa := &store.PendingAction{ID: strings.ToLower(codeEncoding.EncodeToString(randomBytes(16))), AccountID: accountID, Kind: kind,
		Payload: body, ActorID: actorID, CancelTokenHash: tokenHash(raw), Status: store.PendingStatusPending, CreatedAt: now, DueAt: due}
	if err := q.CreatePendingAction(ctx, pa); err != nil {
		return nil, "", err
	}
	e := metaEvent(EventPendingCreated, m)
	e.AccountID, e.ActorID = accountID, actorID
	e.Detail = detail(map[string]any{"pending_action": pa.ID, "kind": kind, "due_at": due.Format(time.RFC3339)})
	if err := audit.append(ctx, q, e); err != nil {
		return nil, "", err
	}
	return pa, base64.RawURLEncoding.EncodeToString(raw), nil
}

// PendingActions lists an account's actions that are still pending, oldest first.
func (s *Service) PendingActions(ctx context.Context, accountID string) ([]store.PendingAction, error) {
	out, err := s.st.ListPendingActions(ctx, accountID, store.PendingStatusPending)
	if err != nil {
		return nil, storeError("list pending actions", err)
	}
	return out, nil
}

// PendingByCancelToken returns the pending action a cancel link names, for its confirmation
// page; it changes nothing.
func (s *Service) PendingByCancelToken(ctx context.Context, token string) (*store.PendingAction, error) {
	hash, ok := decodeToken(token)
	if !ok {
		return nil, ErrPendingNotFound
	}
	pa, err := s.st.GetPendingActionByCancelToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrPendingNotFound.Wrap(err)
	} else if err != nil {
		return nil, storeError("get pending action", err)
	}
	if pa.Status != store.PendingStatusPending {
		return nil, ErrPendingNotFound
	}
	return pa, nil
}

// CancelPendingByToken cancels the action of a one-click cancel link: holding the link sent to
// the account's address is the proof, no sign-in is needed. It works once.
func (s *Service) CancelPendingByToken(ctx context.Context, m RequestMeta, token string) (*store.PendingAction, error) {
	hash, ok := decodeToken(token)
	if !ok {
		return nil, ErrPendingNotFound
	}
	return s.cancelPending(ctx, m, "", func(q store.Queries) (*store.PendingAction, error) {
		return q.GetPendingActionByCancelToken(ctx, hash)
	})
}

// CancelPending cancels one of accountID's pending actions from a signed-in session (the caller
// checks step-up); another account's action is not found.
func (s *Service) CancelPending(ctx context.Context, m RequestMeta, accountID, id string) (*store.PendingAction, error) {
	return s.cancelPending(ctx, m, accountID, func(q store.Queries) (*store.PendingAction, error) {
		pa, err := q.GetPendingAction(ctx, id)
		if err == nil && pa.AccountID != accountID {
			return nil, store.ErrNotFound
		}
		return pa, err
	})
}

func (s *Service) cancelPending(ctx context.Context, m RequestMeta, actorID string, find func(store.Queries) (*store.PendingAction, error)) (*store.PendingAction, error) {
	now := s.now().UTC()
	audit := &txAudit{s: s}
	var pa *store.PendingAction
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		var err error
		pa, err = find(q)
		if errors.Is(err, store.ErrNotFound) {
			return ErrPendingNotFound.Wrap(err)
		} else if err != nil {
			return err
		}
		if err := q.SetPendingActionStatus(ctx, pa.ID, store.PendingStatusPending, store.PendingStatusCancelled, now); errors.Is(err, store.ErrNotFound) {
			return ErrPendingNotFound.Wrap(err)
		} else if err != nil {
			return err
		}
		pa.Status, pa.DoneAt = store.PendingStatusCancelled, now
		e := metaEvent(EventPendingCancelled, m)
		e.AccountID, e.ActorID = pa.AccountID, actorID
		e.Detail = detail(map[string]any{"pending_action": pa.ID, "kind": pa.Kind, "via": cancelVia(actorID, pa.AccountID)})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return nil, txError("cancel pending action", err)
	}
	audit.flush(ctx)
	if acct, err := s.st.GetAccount(ctx, pa.AccountID); err == nil {
		s.notify(ctx, acct, "pending_cancelled", "A pending change to your "+s.cfg.RPDisplayName+" account was cancelled",
			"The pending change \""+PendingKindText(pa.Kind)+"\" was cancelled and will not happen.", "")
	}
	return pa, nil
}

// cancelVia names who cancelled, for the audit detail: the holder of the mailed link (no
// actor), the account's owner, or an administrator acting on someone else's account.
func cancelVia(actorID, accountID string) string {
	switch actorID {
	case "":
		return "link"
	case accountID:
		return "account"
	}
	return "admin"
}

// PendingKindText describes a kind for people.
func PendingKindText(kind string) string {
	switch kind {
	case PendingActivateRecoveryPasskey:
		return "a new passkey added through account recovery"
	case PendingChangeEmail:
		return "a change of your email address"
	case PendingDeleteAccount:
		return "the deletion of your account"
	case PendingRemovePasskey:
		return "the removal of your last passkey"
	}
	return kind
}

// RunDuePendingActions executes every action due at now, in batches, and returns how many it
// executed. Each batch is one transaction: the claim and the effects commit together, so a
// crash leaves the actions pending and a concurrent scheduler on another replica claims other
// rows or none. It is the scheduler's tick; calling it again does nothing until more are due.
func (s *Service) RunDuePendingActions(ctx context.Context) (int, error) {
	total := 0
	for {
		now := s.now().UTC()
		audit := &txAudit{s: s}
		type done struct {
			pa   store.PendingAction
			fail string
			acct *store.Account // as it was before the action: a deleted account's address
			// ended are the OP session families the action ended, for SessionsEndedFunc.
			ended []string
		}
		var batch []done
		err := store.WithTx(ctx, s.st, func(q store.Queries) error {
			audit.reset()
			batch = batch[:0]
			claimed, err := q.ClaimDuePendingActions(ctx, now, pendingBatch)
			if err != nil {
				return err
			}
			for _, pa := range claimed {
				before, err := q.GetAccount(ctx, pa.AccountID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				fail, ended, err := s.execute(ctx, q, audit, pa, now)
				if err != nil {
					return err
				}
				e := store.AuditEvent{Event: EventPendingExecuted, AccountID: pa.AccountID, ActorID: pa.ActorID,
					Detail: detail(map[string]any{"pending_action": pa.ID, "kind": pa.Kind})}
				if fail != "" {
					if err := q.SetPendingActionStatus(ctx, pa.ID, store.PendingStatusExecuted, store.PendingStatusFailed, now); err != nil {
						return err
					}
					e.Event, e.Result = EventPendingFailed, fail
				}
				if err := audit.append(ctx, q, e); err != nil {
					return err
				}
				batch = append(batch, done{pa, fail, before, ended})
			}
			return nil
		})
		if err != nil {
			return total, storeError("run pending actions", err)
		}
		audit.flush(ctx)
		for _, d := range batch {
			if d.fail == "" {
				total++
				// After commit, outside any transaction (see session_ends.go).
				s.sessionsEnded(ctx, d.pa.AccountID, d.ended)
				s.notifyExecuted(ctx, d.pa, d.acct)
			}
		}
		if len(batch) < pendingBatch {
			return total, nil
		}
	}
}

// execute performs one claimed action inside the scheduler's transaction. A non-empty fail is
// a permanent refusal (the action is marked failed); an error rolls the batch back. ended
// lists the OP session families the action ended.
func (s *Service) execute(ctx context.Context, q store.Queries, audit *txAudit, pa store.PendingAction, now time.Time) (fail string, ended []string, err error) {
	switch pa.Kind {
	case PendingChangeEmail:
		fail, err = executeEmailChange(ctx, q, audit, pa, now)
		return fail, nil, err
	case PendingDeleteAccount:
		return executeAccountDeletion(ctx, q, audit, pa)
	case PendingRemovePasskey:
		return s.executeRemovePasskey(ctx, q, audit, pa)
	case PendingActivateRecoveryPasskey:
		var p recoveryPasskeyPayload
		if err := json.Unmarshal(pa.Payload, &p); err != nil || p.V != 1 || p.Credential.AccountID != pa.AccountID {
			return CodeInvalidRequest, nil, nil
		}
		acct, err := q.GetAccount(ctx, pa.AccountID)
		if errors.Is(err, store.ErrNotFound) {
			return CodeForbidden, nil, nil
		} else if err != nil {
			return "", nil, err
		}
		if acct.Disabled {
			return CodeAccountDisabled, nil, nil
		}
		c := p.Credential
		c.CreatedAt = now
		if err := q.CreateCredential(ctx, &c); errors.Is(err, store.ErrAlreadyExists) {
			return CodeCredentialExists, nil, nil
		} else if err != nil {
			return "", nil, err
		}
		return "", nil, nil
	}
	return "unknown_kind", nil, nil
}

// notifyExecuted tells the account a pending action took effect; before is the account as it
// was, so a deleted account and the old address of an email change hear of it too.
func (s *Service) notifyExecuted(ctx context.Context, pa store.PendingAction, before *store.Account) {
	if before == nil {
		return
	}
	name := s.cfg.RPDisplayName
	switch pa.Kind {
	case PendingChangeEmail:
		var p emailChangePayload
		if json.Unmarshal(pa.Payload, &p) != nil {
			return
		}
		text := "The email address of your " + name + " account changed from " + p.OldEmail + " to " + p.NewEmail +
			" after its waiting period.\n\nIf this was not you, contact your administrator now."
		s.notifyAddress(ctx, p.OldEmail, pa.AccountID, "email_changed", "Your "+name+" email address changed", text, "")
		s.notifyAddress(ctx, p.NewEmail, pa.AccountID, "email_changed", "Your "+name+" email address changed", text, "")
	case PendingDeleteAccount:
		s.notifyAddress(ctx, before.Email, pa.AccountID, "account_deleted", "Your "+name+" account was deleted",
			"Your "+name+" account was deleted after its waiting period, with its passkeys, sessions and app access.", "")
	default:
		s.notifyAddress(ctx, before.Email, pa.AccountID, "pending_executed", "A change to your "+name+" account took effect",
			"The pending change \""+PendingKindText(pa.Kind)+"\" took effect after its waiting period.\n\n"+
				"If this was not you, contact your administrator now.", "")
	}
}
