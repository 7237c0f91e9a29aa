package idp

import (
	"cmp"
	"context"
	"sync"

	"github.com/keyward/keyward/store"
)

// Ending sessions outside a request. The OIDC side must tell the apps (back-channel logout)
// about every OP session idp ends, but idp cannot import oidc, and a scheduled action (the
// deletion of the account, the removal of its last passkey) has no ui handler to do it. So
// the app registers a SessionsEndedFunc; idp calls it after the ending transaction commits,
// never inside it: the OIDC side writes its own transactions, and on SQLite a write
// transaction opened inside another would wait for the single writer forever.

// SessionsEndedFunc learns the OP session families (store.Session.Family, or the id where
// there is none) of accountID that a scheduled action ended. The rows are gone by then, so
// the families are what the OIDC side finds its grants by. It runs after commit; its
// failure changes nothing already done, so it returns nothing and logs on its own.
type SessionsEndedFunc func(ctx context.Context, accountID string, families []string)

// sessionsEndedHook holds the registered function; set once at wiring, read by the scheduler.
type sessionsEndedHook struct {
	mu sync.RWMutex
	fn SessionsEndedFunc
}

// OnSessionsEnded registers fn, replacing any earlier one (nil: nobody is told).
func (s *Service) OnSessionsEnded(fn SessionsEndedFunc) {
	s.ended.mu.Lock()
	s.ended.fn = fn
	s.ended.mu.Unlock()
}

// sessionsEnded tells the registered function, if any, about families ended for accountID.
func (s *Service) sessionsEnded(ctx context.Context, accountID string, families []string) {
	if len(families) == 0 {
		return
	}
	s.ended.mu.RLock()
	fn := s.ended.fn
	s.ended.mu.RUnlock()
	if fn != nil {
		fn(ctx, accountID, families)
	}
}

// EndAccountSessions ends every session of the account but exceptID ("" for none) and
// revokes the tokens issued in each, offline ones included (SA-04); it returns the OP session
// families of the ended sessions, for back-channel logout once the rows are gone, and the
// number of tokens revoked. Callers run it in their transaction with their audit event (the
// administrator's "end sessions" does), as EndCredentialSessions for one passkey's sessions.
func EndAccountSessions(ctx context.Context, q store.Queries, accountID, exceptID string) ([]string, int, error) {
	sessions, err := q.ListSessions(ctx, accountID)
	if err != nil {
		return nil, 0, err
	}
	var ended []string
	tokens := 0
	for _, se := range sessions {
		if se.ID == exceptID {
			continue
		}
		family, n, err := revokeSessionTokens(ctx, q, se)
		if err != nil {
			return nil, 0, err
		}
		tokens += n
		ended = append(ended, family)
	}
	if _, err := q.DeleteAccountSessions(ctx, accountID, exceptID); err != nil {
		return nil, 0, err
	}
	return ended, tokens, nil
}

// sessionFamilies lists the OP session families of the account's sessions, for a change that
// is about to delete the rows some other way (the account's deletion cascades to them).
func sessionFamilies(sessions []store.Session) []string {
	out := make([]string, 0, len(sessions))
	for _, se := range sessions {
		out = append(out, cmp.Or(se.Family, se.ID))
	}
	return out
}

// revokeSessionTokens revokes every token issued in se's OP session, offline ones included
// (SA-04), and returns the session's family and how many went. Tokens record the family
// (oidc/claims.go), which outlives the id rotations of re-authentication; rows from before
// families existed got family = id in migration 0004.
func revokeSessionTokens(ctx context.Context, q store.Queries, se store.Session) (string, int, error) {
	family := cmp.Or(se.Family, se.ID)
	n, err := q.RevokeOAuthTokensBySession(ctx, family)
	return family, n, err
}
