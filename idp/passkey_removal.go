package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/keyward/keyward/store"
)

// What removing a passkey takes with it (SA-03, SA-04): the sessions that signed in with it and
// the OAuth tokens issued in those sessions, offline ones included. And the removal of the last
// passkey, which with recovery codes as the other way in waits for the cooling-off.

// PendingRemovePasskey removes the account's last passkey when due.
const PendingRemovePasskey = "remove_passkey"

// EventPasskeyRemovalScheduled: the last passkey's removal is pending.
const EventPasskeyRemovalScheduled = "passkey.removal_scheduled"

type removePasskeyPayload struct {
	V            int    `json:"v"`
	CredentialID []byte `json:"credential_id"`
}

// EndCredentialSessions ends the account's sessions whose latest assertion used credentialID
// and revokes the tokens issued in each; it returns the OP session families of the ended
// sessions (store.Session.Family, or the id where there is none), which is what the OIDC side
// needs for back-channel logout once the rows are gone, and the number of tokens revoked.
// Callers run it in their transaction, with the audit event of the revocation; an
// administrator's revocation should use it too, so both paths end the same things.
func EndCredentialSessions(ctx context.Context, q store.Queries, accountID string, credentialID []byte) ([]string, int, error) {
	sessions, err := q.ListSessions(ctx, accountID)
	if err != nil {
		return nil, 0, err
	}
	var ended []string
	tokens := 0
	for _, se := range sessions {
		if !bytes.Equal(se.CredentialID, credentialID) {
			continue
		}
		family, n, err := revokeSessionTokens(ctx, q, se)
		if err != nil {
			return nil, 0, err
		}
		tokens += n
		if err := q.DeleteSession(ctx, se.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, 0, err
		}
		ended = append(ended, family)
	}
	return ended, tokens, nil
}

// scheduleLastPasskeyRemoval is RevokePasskey for the account's only passkey: refused without
// unused recovery codes, otherwise a pending action. It returns the cancel token for the mail.
func (s *Service) scheduleLastPasskeyRemoval(ctx context.Context, q store.Queries, audit *txAudit, m RequestMeta, accountID string, target *store.Credential, now time.Time) (*Revocation, string, *Error, error) {
	codes, err := q.ListRecoveryCodes(ctx, accountID)
	if err != nil {
		return nil, "", nil, err
	}
	unused := 0
	for _, c := range codes {
		if c.UsedAt.IsZero() {
			unused++
		}
	}
	if unused == 0 {
		e := metaEvent(EventPasskeyRevoked, m)
		e.AccountID, e.ActorID, e.CredentialID, e.Result = accountID, accountID, credentialRef(target.ID), CodeLastAuthenticator
		return nil, "", ErrLastAuthenticator, audit.append(ctx, q, e)
	}
	if err := noPendingOfKind(ctx, q, accountID, PendingRemovePasskey); err != nil {
		var de *Error
		if errors.As(err, &de) {
			return nil, "", de, nil
		}
		return nil, "", nil, err
	}
	pa, cancel, err := s.createPending(ctx, q, audit, m, accountID, accountID, PendingRemovePasskey,
		removePasskeyPayload{V: 1, CredentialID: target.ID}, now, now.Add(s.cfg.ChangeCoolingOff))
	if err != nil {
		return nil, "", nil, err
	}
	e := metaEvent(EventPasskeyRemovalScheduled, m)
	e.AccountID, e.ActorID, e.CredentialID = accountID, accountID, credentialRef(target.ID)
	e.Detail = detail(map[string]any{"name": target.Name, "pending_action": pa.ID, "due_at": pa.DueAt.Format(time.RFC3339)})
	if err := audit.append(ctx, q, e); err != nil {
		return nil, "", nil, err
	}
	return &Revocation{PendingActionID: pa.ID, DueAt: pa.DueAt, Remaining: [][]byte{target.ID}}, cancel, nil, nil
}

// executeRemovePasskey carries out a pending removal of the last passkey.
func (s *Service) executeRemovePasskey(ctx context.Context, q store.Queries, audit *txAudit, pa store.PendingAction) (string, []string, error) {
	var p removePasskeyPayload
	if err := json.Unmarshal(pa.Payload, &p); err != nil || p.V != 1 || len(p.CredentialID) == 0 {
		return CodeInvalidRequest, nil, nil
	}
	if err := q.DeleteCredential(ctx, pa.AccountID, p.CredentialID); errors.Is(err, store.ErrNotFound) {
		return CodePasskeyNotFound, nil, nil
	} else if err != nil {
		return "", nil, err
	}
	ended, tokens, err := EndCredentialSessions(ctx, q, pa.AccountID, p.CredentialID)
	if err != nil {
		return "", nil, err
	}
	e := store.AuditEvent{Event: EventPasskeyRevoked, AccountID: pa.AccountID, ActorID: pa.ActorID, CredentialID: credentialRef(p.CredentialID),
		Detail: detail(map[string]any{"pending_action": pa.ID, "sessions_ended": len(ended), "tokens_revoked": tokens})}
	return "", ended, audit.append(ctx, q, e)
}

// notifyPasskeyRemoval mails the account about a removed passkey, or about a pending removal
// with its cancel link.
func (s *Service) notifyPasskeyRemoval(ctx context.Context, accountID string, target *store.Credential, r *Revocation, cancel string) {
	acct, err := s.st.GetAccount(ctx, accountID)
	if err != nil || r == nil || target == nil {
		return
	}
	name := target.Name
	if name == "" {
		name = "Passkey"
	}
	if r.PendingActionID != "" {
		s.notifyCancel(ctx, acct.Email, acct.ID, "passkey_removal_pending", "Your last "+s.cfg.RPDisplayName+" passkey is about to be removed",
			"Someone signed in to your account asked to remove its last passkey, \""+name+"\". It will be removed on "+
				r.DueAt.Format(time.RFC1123)+"; after that only your recovery codes, with a recovery link, open the account.", cancel)
		return
	}
	s.notify(ctx, acct, "passkey_removed", "A passkey was removed from your "+s.cfg.RPDisplayName+" account",
		"The passkey \""+name+"\" was removed from your account, and the devices that signed in with it were signed out.\n\n"+
			"If this was not you, sign in with another passkey now, remove any passkey you do not recognise and create new recovery codes.", "")
}
