package oidc

import (
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// sessionVersion is written into every stored session so a later release can decode rows
// written by this one. Bump it only with a decoder for the old shape.
const sessionVersion = 1

// Session is the one concrete fosite session Keyward stores (as JSON inside the token row).
type Session struct {
	Version int `json:"v"`
	openid.DefaultSession
	// SID is the OP browser session's public id (the `sid` claim), for logout.
	SID string `json:"sid,omitempty"`
	// BrowserSession is the store id of the OP session; never sent to clients.
	BrowserSession string `json:"bs,omitempty"`
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
	return &c
}

func (s *Session) expiry(t fosite.TokenType) time.Time { return s.GetExpiresAt(t) }
