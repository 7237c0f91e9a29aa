package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/keyward/keyward/store"
)

// An account's signed-in browsers, as the account page lists them, and ending them (SE-04).
// The session rows belong to the ui layer; this file only reads them and deletes them on the
// person's request, with the audit trail.

// EventSessionEnded is written for every session ended on purpose: by signing out, from the
// account page, or with a revoked passkey.
const EventSessionEnded = "session.ended"

// CodeSessionNotFound answers a session reference that names none of the account's sessions.
const CodeSessionNotFound = "session_not_found"

var (
	ErrSessionNotFound = &Error{Code: CodeSessionNotFound, Status: 404, Message: "This device is already signed out."}
	errEndOwnSession   = ErrInvalidRequest.WithMessage("This is the device you are using: use Sign out instead.")
)

// Session is one signed-in browser of an account.
type Session struct {
	// Ref names the session on pages and in URLs. It is derived from the row id, which is itself
	// a hash of the cookie's secret, so it reveals nothing that could rebuild a cookie; a
	// separate derivation keeps the row id out of HTML all the same.
	Ref string
	store.Session
}

// SessionRef is the public reference of the session with row id id.
func SessionRef(id string) string {
	sum := sha256.Sum256([]byte("keyward session ref v1\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// Sessions lists the account's signed-in sessions that have not reached their absolute expiry,
// most recently seen first. The idle timeout is the ui layer's policy; it filters those itself.
func (s *Service) Sessions(ctx context.Context, accountID string) ([]Session, error) {
	rows, err := s.st.ListSessions(ctx, accountID)
	if err != nil {
		return nil, storeError("list sessions", err)
	}
	now := s.now()
	out := make([]Session, 0, len(rows))
	for _, r := range rows {
		if r.ExpiresAt.After(now) {
			out = append(out, Session{Ref: SessionRef(r.ID), Session: r})
		}
	}
	return out, nil
}

// EndSession signs the account out of one of its other browsers: its cookie stops working at
// once because the row is gone. The caller's own session (m.SessionID) is refused: signing
// out is the ui's logout, which also clears the cookie.
func (s *Service) EndSession(ctx context.Context, m RequestMeta, accountID, ref string) (string, error) {
	audit := &txAudit{s: s}
	var family string
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		family = ""
		rows, err := q.ListSessions(ctx, accountID)
		if err != nil {
			return err
		}
		var target *store.Session
		for i := range rows {
			if SessionRef(rows[i].ID) == ref {
				target = &rows[i]
				break
			}
		}
		switch {
		case target == nil:
			return ErrSessionNotFound
		case target.ID == m.SessionID:
			return errEndOwnSession
		}
		// SA-04: the tokens issued in that session die with it.
		var tokens int
		if family, tokens, err = revokeSessionTokens(ctx, q, *target); err != nil {
			return err
		}
		if err := q.DeleteSession(ctx, target.ID); errors.Is(err, store.ErrNotFound) {
			return ErrSessionNotFound.Wrap(err)
		} else if err != nil {
			return err
		}
		e := metaEvent(EventSessionEnded, m)
		e.AccountID, e.ActorID, e.CredentialID = accountID, accountID, credentialRef(target.CredentialID)
		e.Detail = detail(map[string]any{"reason": "ended_from_account_page", "session_ref": ref,
			"session_ip": target.IP, "session_device": ParseUserAgent(target.UserAgent).String(), "tokens_revoked": tokens})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return "", txError("end session", err)
	}
	audit.flush(ctx)
	return family, nil
}

// EndOtherSessions signs the account out everywhere but the caller's session, revokes the
// tokens issued in those sessions, and returns the OP session families of the ended sessions
// (store.Session.Family, or the id), for back-channel logout.
func (s *Service) EndOtherSessions(ctx context.Context, m RequestMeta, accountID string) ([]string, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	audit := &txAudit{s: s}
	var ended []string
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		// Signing out everywhere is a response to a suspected intruder: the tokens apps got in
		// those sessions go too (SA-04), offline ones included.
		var tokens int
		var err error
		if ended, tokens, err = EndAccountSessions(ctx, q, accountID, m.SessionID); err != nil {
			return err
		}
		n := len(ended)
		e := metaEvent(EventSessionEnded, m)
		e.AccountID, e.ActorID = accountID, accountID
		e.Detail = detail(map[string]any{"reason": "other_sessions_ended", "count": n, "tokens_revoked": tokens})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return nil, txError("end other sessions", err)
	}
	audit.flush(ctx)
	if acct, err := s.st.GetAccount(ctx, accountID); err == nil {
		s.notify(ctx, acct, "sessions_ended", "You were signed out everywhere on "+s.cfg.RPDisplayName,
			"All other devices signed in to your account were just signed out.\n\n"+
				"If this was not you, someone else is signed in to your account: sign in with your passkey, remove any passkey you do not recognise and create new recovery codes.", "")
	}
	return ended, nil
}

// RPID is the WebAuthn relying party id, which pages pass to the browser's Signal API.
func (s *Service) RPID() string { return s.cfg.RPID }
