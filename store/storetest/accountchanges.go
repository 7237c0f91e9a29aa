package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// accountChangeTests cover AccountChanges.
var accountChangeTests = map[string]func(*testing.T, store.Store){
	"RevokeOAuthTokensBySessionHitsOnlyThatSession": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		mk := func(kind, sig, session string) {
			tok := token(kind, sig, "req-"+sig, "acc-1", "client-1")
			tok.SessionID = session
			must(t, s.CreateOAuthToken(ctx, tok))
		}
		mk(store.KindAccessToken, "at-a", "sess-a")
		mk(store.KindRefreshToken, "rt-a", "sess-a")
		mk(store.KindAuthorizeCode, "code-a", "sess-a")
		mk(store.KindAccessToken, "at-b", "sess-b")
		mk(store.KindRefreshToken, "rt-b", "sess-b")
		mk(store.KindAccessToken, "at-none", "")
		n, err := s.RevokeOAuthTokensBySession(ctx, "sess-a")
		must(t, err)
		if n != 2 {
			t.Fatalf("RevokeOAuthTokensBySession changed %d rows, want 2", n)
		}
		_, err = s.GetOAuthToken(ctx, store.KindAccessToken, "at-a")
		wantErr(t, err, store.ErrNotFound, "the session's access token")
		rt, err := s.GetOAuthToken(ctx, store.KindRefreshToken, "rt-a")
		must(t, err)
		if rt.Active {
			t.Fatal("the session's refresh token is still active")
		}
		for _, k := range [][2]string{{store.KindAccessToken, "at-b"}, {store.KindRefreshToken, "rt-b"}, {store.KindAccessToken, "at-none"}, {store.KindAuthorizeCode, "code-a"}} {
			tok, err := s.GetOAuthToken(ctx, k[0], k[1])
			must(t, err)
			if !tok.Active {
				t.Fatalf("%s %s was touched", k[0], k[1])
			}
		}
		// An empty session id names no session, not every token without one.
		if n, err := s.RevokeOAuthTokensBySession(ctx, ""); err != nil || n != 0 {
			t.Fatalf("empty session id: %d %v", n, err)
		}
		if _, err := s.GetOAuthToken(ctx, store.KindAccessToken, "at-none"); err != nil {
			t.Fatalf("token without a session: %v", err)
		}
		// Again: nothing left to change.
		if n, err := s.RevokeOAuthTokensBySession(ctx, "sess-a"); err != nil || n != 0 {
			t.Fatalf("second revocation: %d %v", n, err)
		}
	},
	"UpdatePendingActionOnlyWhilePending": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 1)
		must(t, s.CreatePendingAction(ctx, pendingAction("pa-1", "acc-1", time.Hour)))
		must(t, s.UpdatePendingAction(ctx, "pa-1", []byte(`{"v":1,"verified":true}`), at(3*time.Hour)))
		got, err := s.GetPendingAction(ctx, "pa-1")
		must(t, err)
		if string(got.Payload) != `{"v":1,"verified":true}` || !got.DueAt.Equal(at(3*time.Hour)) || got.Status != store.PendingStatusPending {
			t.Fatalf("after update: %+v", got)
		}
		// Not due before the new time, due after.
		claimed, err := s.ClaimDuePendingActions(ctx, at(2*time.Hour), 10)
		must(t, err)
		if len(claimed) != 0 {
			t.Fatalf("claimed %d before the new due time", len(claimed))
		}
		must(t, s.SetPendingActionStatus(ctx, "pa-1", store.PendingStatusPending, store.PendingStatusCancelled, at(time.Hour)))
		wantErr(t, s.UpdatePendingAction(ctx, "pa-1", []byte(`{}`), at(time.Hour)), store.ErrNotFound, "update of a cancelled action")
		wantErr(t, s.UpdatePendingAction(ctx, "pa-missing", []byte(`{}`), at(time.Hour)), store.ErrNotFound, "update of a missing action")
		got, err = s.GetPendingAction(ctx, "pa-1")
		must(t, err)
		if string(got.Payload) != `{"v":1,"verified":true}` {
			t.Fatalf("a refused update changed the payload: %s", got.Payload)
		}
	},
}
