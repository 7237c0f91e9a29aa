package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/softauthn"
)

// mailbox is the outer edge where mail leaves Keyward: it keeps what was sent.
type mailbox struct {
	mu   sync.Mutex
	mail []Mail
}

func (m *mailbox) Send(_ context.Context, msg Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mail = append(m.mail, msg)
	return nil
}

func (m *mailbox) last(t *testing.T) Mail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.mail) == 0 {
		t.Fatal("no mail sent")
	}
	return m.mail[len(m.mail)-1]
}

func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mail)
}

func linkToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Path != VerifyEmailPath {
		t.Fatalf("link %q", link)
	}
	return u.Query().Get("token")
}

func TestEmailVerification(t *testing.T) {
	box := &mailbox{}
	e := newEnv(t, func(c *Config) { c.Mailer = box })
	e.admin()
	sent := box.count() // the admin's own link
	alice, _ := e.user("alice@example.com", softauthn.Options{})
	if box.count() != sent+1 {
		t.Fatalf("sign-up sent %d mails, want 1", box.count()-sent)
	}
	first := box.last(t)
	if first.To != "alice@example.com" || first.Kind != kindEmailVerification || !strings.HasPrefix(first.Link, testOrigin+VerifyEmailPath+"?token=") ||
		!strings.Contains(first.Text, first.Link) {
		t.Fatalf("mail = %+v", first)
	}
	if evs := e.audit(EventEmailVerificationSent); len(evs) < 2 || evs[0].AccountID != alice.ID {
		t.Fatalf("verification_sent = %+v", evs)
	}

	// Resending within a minute is throttled; later it sends a new link and the old one dies.
	wantCode(t, e.svc.SendEmailVerification(e.ctx, meta("s"), alice.ID), CodeRateLimited)
	e.clock.Advance(verificationResendGap + time.Second)
	if err := e.svc.SendEmailVerification(e.ctx, meta("s"), alice.ID); err != nil {
		t.Fatal(err)
	}
	second := box.last(t)
	_, err := e.svc.VerifyEmail(e.ctx, meta("s"), linkToken(t, first.Link))
	wantCode(t, err, CodeLinkInvalid)

	for _, bad := range []string{"", "x", strings.Repeat("A", 43), linkToken(t, second.Link) + "A"} {
		_, err := e.svc.VerifyEmail(e.ctx, meta("s"), bad)
		wantCode(t, err, CodeLinkInvalid)
	}
	if e.account(alice.ID).EmailVerified {
		t.Fatal("verified by a bad link")
	}
	acct, err := e.svc.VerifyEmail(e.ctx, meta("other-browser"), linkToken(t, second.Link))
	if err != nil || acct.ID != alice.ID || !acct.EmailVerified || !e.account(alice.ID).EmailVerified {
		t.Fatalf("VerifyEmail = %+v, %v", acct, err)
	}
	if evs := e.audit(EventEmailVerified); len(evs) != 1 || evs[0].AccountID != alice.ID || evs[0].IP != "192.0.2.1" {
		t.Fatalf("email.verified = %+v", evs)
	}
	// Single use, and nothing more to send.
	_, err = e.svc.VerifyEmail(e.ctx, meta("s"), linkToken(t, second.Link))
	wantCode(t, err, CodeLinkInvalid)
	wantCode(t, e.svc.SendEmailVerification(e.ctx, meta("s"), alice.ID), CodeAlreadyVerified)
}

func TestEmailVerificationExpiresAndFollowsTheAddress(t *testing.T) {
	box := &mailbox{}
	e := newEnv(t, func(c *Config) { c.Mailer = box })
	e.admin()
	alice, _ := e.user("alice@example.com", softauthn.Options{})
	link := box.last(t).Link

	e.clock.Advance(DefaultEmailVerificationTTL)
	_, err := e.svc.VerifyEmail(e.ctx, meta("s"), linkToken(t, link))
	wantCode(t, err, CodeLinkInvalid)

	if err := e.svc.SendEmailVerification(e.ctx, meta("s"), alice.ID); err != nil {
		t.Fatal(err)
	}
	link = box.last(t).Link
	alice.Email = "alice@elsewhere.example"
	if err := e.st.UpdateAccount(e.ctx, alice); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.VerifyEmail(e.ctx, meta("s"), linkToken(t, link))
	wantCode(t, err, CodeLinkInvalid)
	if e.account(alice.ID).EmailVerified {
		t.Fatal("a link sent to the old address verified the new one")
	}
}

// An invitation bound to the address already verifies it: no mail.
func TestEmailVerificationNotSentWhenInviteVerified(t *testing.T) {
	box := &mailbox{}
	e := newEnv(t, func(c *Config) { c.Mailer = box })
	admin, _ := e.admin()
	n := box.count()
	token, err := e.svc.CreateInvite(e.ctx, "carol@example.com", false, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := e.signup(newAuthenticator(t, softauthn.Options{}), "c", SignupRequest{Email: "carol@example.com", DisplayName: "C", Invite: token})
	if err != nil {
		t.Fatal(err)
	}
	if !e.account(auth.AccountID).EmailVerified || box.count() != n {
		t.Fatalf("verified %v, mails %d → %d", e.account(auth.AccountID).EmailVerified, n, box.count())
	}
}

// Without a mailer the link goes to the log at info level, marked as not sent.
func TestLogMailer(t *testing.T) {
	var buf bytes.Buffer
	e := newEnv(t)
	e.log = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.svc = e.newService(e.st)
	e.admin()
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["mail_kind"] == kindEmailVerification {
			found = m["level"] == "INFO" && strings.Contains(m["msg"].(string), "not sent") && m["to"] == "admin@example.com" &&
				strings.HasPrefix(m["link"].(string), testOrigin+VerifyEmailPath+"?token=")
		}
	}
	if !found {
		t.Fatalf("no verification link in the log:\n%s", buf.String())
	}
}
