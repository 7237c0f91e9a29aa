package idp

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
)

// mailTo returns the newest mail of kind to addr.
func (m *mailbox) mailTo(t *testing.T, addr, kind string) Mail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.mail) - 1; i >= 0; i-- {
		if m.mail[i].To == addr && m.mail[i].Kind == kind {
			return m.mail[i]
		}
	}
	t.Fatalf("no %s mail to %s", kind, addr)
	return Mail{}
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("link %q", link)
	}
	return u.Query().Get("token")
}

// TestSA06_ConfirmationLinkWorksOnce: of two concurrent confirmations with one link, one wins.
func TestSA06_ConfirmationLinkWorksOnce(t *testing.T) {
	box := &mailbox{}
	e := newEnv(t, func(c *Config) { c.Mailer = box })
	e.admin() // the first account; sign-up is open after it
	alice, _ := e.user("alice@example.com", softauthn.Options{})
	if _, err := e.svc.StartEmailChange(e.ctx, meta("s1"), alice.ID, "alice@new.example.com"); err != nil {
		t.Fatal(err)
	}
	token := tokenOf(t, box.mailTo(t, "alice@new.example.com", "email_change_verification").Link)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.svc.ConfirmEmailChange(e.ctx, meta("x"), token)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			wantCode(t, err, CodeLinkInvalid)
		}
	}
	if ok != 1 || len(e.audit(EventEmailChangeConfirmed)) != 1 {
		t.Fatalf("%d confirmations succeeded, want 1", ok)
	}
}

// TestSA06_AddressTakenMeanwhileFailsTheChange: someone signs up with the new address during
// the cooling-off; the change fails at execution instead of clashing, and the old address stays.
func TestSA06_AddressTakenMeanwhileFailsTheChange(t *testing.T) {
	box := &mailbox{}
	e := newEnv(t, func(c *Config) { c.Mailer = box })
	e.admin() // the first account; sign-up is open after it
	alice, _ := e.user("alice@example.com", softauthn.Options{})
	if _, err := e.svc.StartEmailChange(e.ctx, meta("s1"), alice.ID, "wanted@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ConfirmEmailChange(e.ctx, meta("x"), tokenOf(t, box.mailTo(t, "wanted@example.com", "email_change_verification").Link)); err != nil {
		t.Fatal(err)
	}
	e.user("wanted@example.com", softauthn.Options{})
	e.clock.Advance(DefaultChangeCoolingOff + time.Second)
	if n, err := e.svc.RunDuePendingActions(e.ctx); err != nil || n != 0 {
		t.Fatalf("executed %d (%v)", n, err)
	}
	if got := e.account(alice.ID).Email; got != "alice@example.com" {
		t.Fatalf("email %q", got)
	}
	failed := e.audit(EventPendingFailed)
	if len(failed) != 1 || failed[0].Result != CodeEmailTaken {
		t.Fatalf("pending.failed = %+v", failed)
	}
	if p, _ := e.st.ListPendingActions(e.ctx, alice.ID, store.PendingStatusFailed); len(p) != 1 {
		t.Fatalf("failed actions: %d", len(p))
	}
}

// TestChangeCoolingOffValidated: shorter than an hour is refused with the field named.
func TestChangeCoolingOffValidated(t *testing.T) {
	c := testConfig()
	c.ChangeCoolingOff = 30 * time.Minute
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ChangeCoolingOff") {
		t.Fatalf("Validate = %v", err)
	}
	c.ChangeCoolingOff = 0
	if err := c.Validate(); err != nil {
		t.Fatalf("the default: %v", err)
	}
}
