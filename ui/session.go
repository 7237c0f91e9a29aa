package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/keyward/keyward/store"
)

// sessionStore is a server-side gorilla/sessions store: the cookie carries only a signed,
// encrypted random id (256 bits); the row lives in store.Sessions keyed by the id's SHA-256, so
// sessions are revocable and a database dump yields no usable cookie. gorilla's cookie store is
// not used: it cannot be revoked and its defaults (SameSite=None, HttpOnly=false) are unsafe.
type sessionStore struct {
	st       store.Store
	codecs   []securecookie.Codec
	name     string
	opts     sessions.Options
	now      func() time.Time
	idle     time.Duration
	absolute time.Duration
}

var _ sessions.Store = (*sessionStore)(nil)

// keyPairs are hash/block key pairs, newest first: new cookies use the first pair, old pairs
// still decode, so keys can rotate without signing everyone out.
func newSessionStore(st store.Store, secure bool, keyPairs [][]byte, idle, absolute time.Duration, now func() time.Time) *sessionStore {
	name := "keyward_session"
	if secure {
		// __Host-: the browser refuses it without Secure, with a Domain, or off Path=/.
		name = "__Host-keyward"
	}
	codecs := securecookie.CodecsFromPairs(keyPairs...)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(int(absolute.Seconds()))
		}
	}
	return &sessionStore{st: st, codecs: codecs, name: name, now: now, idle: idle, absolute: absolute,
		opts: sessions.Options{Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}}
}

func hashID(raw string) string {
	h := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(h[:])
}

// browserSession is the request's view of its OP session.
type browserSession struct {
	raw *sessions.Session
	row *store.Session
}

func (b *browserSession) signedIn() bool { return b != nil && b.row != nil && b.row.AccountID != "" }

func (s *sessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie; a missing, forged, expired or revoked
// one yields a new, empty session (IsNew) and no error.
func (s *sessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.opts
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(s.name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := securecookie.DecodeMulti(s.name, c.Value, &id, s.codecs...); err != nil {
		return sess, nil
	}
	row, err := s.st.GetSession(r.Context(), hashID(id))
	if errors.Is(err, store.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	now := s.now()
	if !row.ExpiresAt.After(now) || (row.AccountID != "" && now.Sub(row.LastSeenAt) > s.idle) {
		_ = s.st.DeleteSession(r.Context(), row.ID)
		return sess, nil
	}
	sess.ID = id
	sess.IsNew = false
	sess.Values[rowKey{}] = row
	return sess, nil
}

type rowKey struct{}

// anonymousTTL bounds a session nobody has signed in to: longer than an interaction (30 min).
const anonymousTTL = 2 * time.Hour

// Save writes the cookie; the row itself is written by create/update below.
func (s *sessionStore) Save(_ *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 || sess.ID == "" {
		http.SetCookie(w, sessions.NewCookie(s.name, "", &sessions.Options{Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteLaxMode}))
		return nil
	}
	encoded, err := securecookie.EncodeMulti(s.name, sess.ID, s.codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(s.name, encoded, sess.Options))
	return nil
}

// load returns the request's session, or nil when it has none.
func (s *sessionStore) load(r *http.Request) (*browserSession, error) {
	raw, err := s.Get(r, s.name)
	if err != nil {
		return nil, err
	}
	row, _ := raw.Values[rowKey{}].(*store.Session)
	if row == nil {
		return nil, nil
	}
	return &browserSession{raw: raw, row: row}, nil
}

// newRow fills a new session row (anonymous unless row.AccountID is set) and returns the
// cookie's raw id. The caller inserts the row, then calls setCookie once it is committed.
func (s *sessionStore) newRow(row *store.Session) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	if row.Family == "" {
		// A new OP session; a rotation has set the old row's family already. Random, not
		// derived from the id, so nothing about the cookie can be read from it.
		f := make([]byte, 16)
		if _, err := rand.Read(f); err != nil {
			return "", err
		}
		row.Family = base64.RawURLEncoding.EncodeToString(f)
	}
	now := s.now().UTC()
	row.ID = hashID(id)
	row.CreatedAt, row.LastSeenAt, row.ExpiresAt = now, now, now.Add(s.absolute)
	if row.AccountID == "" && s.absolute > anonymousTTL {
		// Anonymous sessions only carry ceremonies and interactions (minutes); keep their rows
		// short-lived so page loads cannot pile up rows for a day.
		row.ExpiresAt = now.Add(anonymousTTL)
	}
	return id, nil
}

func (s *sessionStore) setCookie(w http.ResponseWriter, r *http.Request, rawID string, row *store.Session) (*browserSession, error) {
	raw := sessions.NewSession(s, s.name)
	opts := s.opts
	raw.Options = &opts
	raw.ID = rawID
	raw.Values[rowKey{}] = row
	if err := raw.Save(r, w); err != nil {
		return nil, err
	}
	return &browserSession{raw: raw, row: row}, nil
}

// ensure returns the request's session, creating an anonymous one when it has none.
func (s *sessionStore) ensure(w http.ResponseWriter, r *http.Request) (*browserSession, error) {
	b, err := s.load(r)
	if err != nil || b != nil {
		return b, err
	}
	row := &store.Session{IP: clientIP(r), UserAgent: r.UserAgent()}
	id, err := s.newRow(row)
	if err != nil {
		return nil, err
	}
	if err := s.st.CreateSession(r.Context(), row); err != nil {
		return nil, err
	}
	return s.setCookie(w, r, id, row)
}

// destroy deletes the row and clears the cookie.
func (s *sessionStore) destroy(ctx context.Context, w http.ResponseWriter, b *browserSession) error {
	if b != nil && b.row != nil {
		if err := s.st.DeleteSession(ctx, b.row.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	http.SetCookie(w, sessions.NewCookie(s.name, "", &sessions.Options{Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteLaxMode}))
	return nil
}

// csrfToken binds a CSRF token to the session row; it changes whenever the session id rotates.
func csrfToken(key []byte, sessionID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("csrf\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func validCSRF(key []byte, sessionID, got string) bool {
	want := csrfToken(key, sessionID)
	return got != "" && hmac.Equal([]byte(want), []byte(got))
}
