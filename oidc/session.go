package oidc

import (
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// sessionVersion is written into every stored session so a later release can decode rows
// written by this one. Bump it only with a decoder for the old shape; fields added with
// omitempty decode from older rows as their zero value and need no bump.
const sessionVersion = 1

// Session is the one concrete fosite session Keyward stores (as JSON inside the token row).
type Session struct {
	Version int `json:"v"`
	openid.DefaultSession
	// SID is the OP browser session's public id (the `sid` claim), for logout.
	SID string `json:"sid,omitempty"`
	// BrowserSession is the OP session family (store.Session.Family, or the id where there is
	// none), which outlives id rotations; never sent to clients.
	BrowserSession string `json:"bs,omitempty"`
	// GrantedAt is when the person authorized the grant. A refresh token family dies at
	// GrantedAt + the absolute refresh lifetime however often it rotates (fosite only slides).
	GrantedAt time.Time `json:"granted_at,omitzero"`
	// UserinfoClaims are the claims the `claims` request parameter asked UserInfo to return
	// beyond those of the granted scopes (already limited to what the client may see).
	UserinfoClaims []string `json:"uic,omitempty"`
}

var _ openid.Session = (*Session)(nil)

func newSession() *Session {
	return &Session{
		Version: sessionVersion,
		DefaultSession: openid.DefaultSession{
			Claims:  &jwt.IDTokenClaims{},
			Headers: &jwt.Headers{},
		},
	}
}

// Clone deep-copies the session; fosite clones before mutating for refresh.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	if d, ok := s.DefaultSession.Clone().(*openid.DefaultSession); ok && d != nil {
		c.DefaultSession = *d
	}
	c.UserinfoClaims = append([]string(nil), s.UserinfoClaims...)
	return &c
}
