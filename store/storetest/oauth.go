package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// wantActive checks that a token exists with the given active flag, or is gone (gone=true).
func wantActive(t *testing.T, s store.Queries, kind, sig string, active, gone bool) {
	t.Helper()
	got, err := s.GetOAuthToken(t.Context(), kind, sig)
	if gone {
		wantErr(t, err, store.ErrNotFound, kind+" "+sig+" should be gone")
		return
	}
	if err != nil {
		t.Fatalf("%s %s: %v", kind, sig, err)
	}
	if got.Active != active {
		t.Fatalf("%s %s: active = %v, want %v", kind, sig, got.Active, active)
	}
}

var oauthTokenTests = map[string]func(*testing.T, store.Store){
	"CreateGetDelete": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tok := token(store.KindAuthorizeCode, "sig-1", "req-1", "acc-1", "client-a")
		must(t, s.CreateOAuthToken(ctx, tok))
		got, err := s.GetOAuthToken(ctx, tok.Kind, tok.Signature)
		must(t, err)
		wantSame(t, "GetOAuthToken", tok, got)

		dup := token(store.KindAuthorizeCode, "sig-1", "req-2", "acc-2", "client-b")
		wantErr(t, s.CreateOAuthToken(ctx, dup), store.ErrAlreadyExists, "duplicate (kind, signature)")
		// The same signature under another kind is another row; this one never expires.
		other := token(store.KindPKCE, "sig-1", "req-1", "acc-1", "client-a")
		other.Active = false
		other.ExpiresAt = time.Time{}
		must(t, s.CreateOAuthToken(ctx, other))
		got, err = s.GetOAuthToken(ctx, other.Kind, other.Signature)
		must(t, err)
		wantSame(t, "GetOAuthToken (other kind, inactive, no expiry)", other, got)
		_, err = s.GetOAuthToken(ctx, store.KindAccessToken, "sig-1")
		wantErr(t, err, store.ErrNotFound, "GetOAuthToken of another kind")

		must(t, s.DeleteOAuthToken(ctx, tok.Kind, tok.Signature))
		_, err = s.GetOAuthToken(ctx, tok.Kind, tok.Signature)
		wantErr(t, err, store.ErrNotFound, "GetOAuthToken after delete")
		wantErr(t, s.DeleteOAuthToken(ctx, tok.Kind, tok.Signature), store.ErrNotFound, "DeleteOAuthToken twice")
		wantActive(t, s, other.Kind, other.Signature, false, false)
	},
	"Deactivate": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tok := token(store.KindRefreshToken, "sig-1", "req-1", "acc-1", "client-a")
		must(t, s.CreateOAuthToken(ctx, tok))
		must(t, s.DeactivateOAuthToken(ctx, tok.Kind, tok.Signature))
		got, err := s.GetOAuthToken(ctx, tok.Kind, tok.Signature)
		must(t, err)
		want := *tok
		want.Active = false
		wantSame(t, "inactive token is still returned", &want, got)
		wantErr(t, s.DeactivateOAuthToken(ctx, tok.Kind, tok.Signature), store.ErrNotFound, "DeactivateOAuthToken twice")
		wantErr(t, s.DeactivateOAuthToken(ctx, tok.Kind, "sig-missing"), store.ErrNotFound, "DeactivateOAuthToken missing")
	},
	"ByRequest": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		rt, acc := store.KindRefreshToken, store.KindAccessToken
		for _, x := range []*store.OAuthToken{
			token(rt, "rt-1", "req-1", "acc-1", "client-a"),
			token(rt, "rt-2", "req-1", "acc-1", "client-a"),
			token(rt, "rt-3", "req-2", "acc-1", "client-a"),
			token(acc, "at-1", "req-1", "acc-1", "client-a"),
			token(acc, "at-2", "req-2", "acc-1", "client-a"),
		} {
			must(t, s.CreateOAuthToken(ctx, x))
		}
		must(t, s.DeactivateOAuthTokensByRequest(ctx, rt, "req-1"))
		wantActive(t, s, rt, "rt-1", false, false)
		wantActive(t, s, rt, "rt-2", false, false)
		wantActive(t, s, rt, "rt-3", true, false)
		wantActive(t, s, acc, "at-1", true, false)
		must(t, s.DeactivateOAuthTokensByRequest(ctx, rt, "req-1")) // already inactive: no error
		must(t, s.DeactivateOAuthTokensByRequest(ctx, rt, "req-none"))

		must(t, s.DeleteOAuthTokensByRequest(ctx, acc, "req-1"))
		wantActive(t, s, acc, "at-1", false, true)
		wantActive(t, s, acc, "at-2", true, false)
		wantActive(t, s, rt, "rt-1", false, false)
		must(t, s.DeleteOAuthTokensByRequest(ctx, rt, "req-1"))
		wantActive(t, s, rt, "rt-1", false, true)
		wantActive(t, s, rt, "rt-2", false, true)
		wantActive(t, s, rt, "rt-3", true, false)
		must(t, s.DeleteOAuthTokensByRequest(ctx, rt, "req-none"))
	},
	"RevokeBySubject": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		rt, acc, code := store.KindRefreshToken, store.KindAccessToken, store.KindAuthorizeCode
		for _, x := range []*store.OAuthToken{
			token(acc, "at-s1-a", "r1", "s1", "client-a"),
			token(rt, "rt-s1-a", "r1", "s1", "client-a"),
			token(code, "code-s1-a", "r1", "s1", "client-a"),
			token(acc, "at-s1-b", "r2", "s1", "client-b"),
			token(rt, "rt-s1-b", "r2", "s1", "client-b"),
			token(acc, "at-s2-a", "r3", "s2", "client-a"),
			token(rt, "rt-s2-a", "r3", "s2", "client-a"),
		} {
			must(t, s.CreateOAuthToken(ctx, x))
		}
		must(t, s.RevokeOAuthTokensBySubject(ctx, "s1", "client-a"))
		wantActive(t, s, acc, "at-s1-a", false, true)
		wantActive(t, s, rt, "rt-s1-a", false, false)
		wantActive(t, s, code, "code-s1-a", true, false)
		wantActive(t, s, acc, "at-s1-b", true, false)
		wantActive(t, s, rt, "rt-s1-b", true, false)
		wantActive(t, s, acc, "at-s2-a", true, false)
		wantActive(t, s, rt, "rt-s2-a", true, false)

		must(t, s.RevokeOAuthTokensBySubject(ctx, "s1", ""))
		wantActive(t, s, acc, "at-s1-b", false, true)
		wantActive(t, s, rt, "rt-s1-b", false, false)
		wantActive(t, s, acc, "at-s2-a", true, false)
		wantActive(t, s, rt, "rt-s2-a", true, false)
		must(t, s.RevokeOAuthTokensBySubject(ctx, "nobody", ""))
	},
}
