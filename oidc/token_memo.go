package oidc

import (
	"context"

	"github.com/keyward/keyward/store"
)

// codeMemo keeps the authorization code's row for the length of one token request. fosite
// reads it four times (the grant's validation, PKCE, the response, the OpenID Connect
// handler); one SELECT and one envelope decode serve them all. Single use does not rest on
// these reads but on InvalidateAuthorizeCodeSession's conditional update, which always goes
// to the store.
type codeMemo struct {
	sig string
	t   *store.OAuthToken
	sr  *storedRequest
}

type codeMemoKey struct{}

// withCodeMemo gives a token request its memo; nothing else gets one, so rows read by
// introspection, UserInfo or revocation are always fresh.
func withCodeMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, codeMemoKey{}, &codeMemo{})
}

// memoFrom returns the request's memo for rows of kind, or nil (whose methods do nothing).
func memoFrom(ctx context.Context, kind string) *codeMemo {
	if kind != store.KindAuthorizeCode {
		return nil
	}
	m, _ := ctx.Value(codeMemoKey{}).(*codeMemo)
	return m
}

func (m *codeMemo) lookup(sig string) (*store.OAuthToken, *storedRequest) {
	if m == nil || m.t == nil || m.sig != sig {
		return nil, nil
	}
	return m.t, m.sr
}

func (m *codeMemo) keep(sig string, t *store.OAuthToken, sr *storedRequest) {
	if m != nil {
		m.sig, m.t, m.sr = sig, t, sr
	}
}

// deactivate records that this request has used the code, so the memo reads as the row now is.
func (m *codeMemo) deactivate(sig string) {
	if m != nil && m.t != nil && m.sig == sig {
		t := *m.t
		t.Active = false
		m.t = &t
	}
}
