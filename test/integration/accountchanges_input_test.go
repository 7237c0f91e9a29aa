package integration

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward/idp"
)

// Bad input to the account-change routes: a clear error with the right status, and nothing
// changes (no pending action, no mail, the address stays).

func TestSA06_EmailChangeBadInput(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	env.SignedUp("taken@example.test")
	victim := accountOf(t, env, "victim@example.test")
	mails := len(mb.to("victim@example.test"))
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"not an address", `{"email":"not-an-address"}`, http.StatusBadRequest, idp.CodeInvalidRequest},
		{"empty", `{"email":""}`, http.StatusBadRequest, idp.CodeInvalidRequest},
		{"the current address", `{"email":" Victim@Example.test "}`, http.StatusBadRequest, idp.CodeEmailUnchanged},
		{"another account's address", `{"email":"taken@example.test"}`, http.StatusConflict, idp.CodeEmailTaken},
		{"not JSON", `{"email":`, http.StatusBadRequest, ""},
		{"unknown field", `{"email":"new@example.test","admin":true}`, http.StatusBadRequest, ""},
	} {
		status, body := postAccountStatus(t, owner, "/account/email", c.body)
		if status != c.status || (c.code != "" && body["error"] != c.code) || func() bool { d, _ := body["error_description"].(string); return d == "" }() {
			t.Errorf("%s: %d %v, want %d %s with a description", c.name, status, body, c.status, c.code)
		}
	}
	if p := pendingOf(t, env, victim.ID); len(p) != 0 {
		t.Fatalf("%d pending actions after bad input", len(p))
	}
	if len(mb.to("victim@example.test")) != mails || len(mb.to("new@example.test")) != 0 || len(mb.to("taken@example.test")) != 1 {
		t.Fatal("bad input sent mail")
	}
	if a := accountOf(t, env, "victim@example.test"); a.Email != "victim@example.test" {
		t.Fatal("bad input changed the address")
	}
}

// TestSA06_EmailChangeLinkExpires: the confirmation link works once and only within 24 h; a
// forged token is refused alike.
func TestSA06_EmailChangeLinkExpires(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	if err := postAccount(t, owner, "/account/email", `{"email":"new@example.test"}`, nil); err != nil {
		t.Fatal(err)
	}
	link := mb.last(t, "new@example.test", "Confirm your new email").link(t)
	if status, _ := followFormLink(t, env.NewBrowser(), env.Issuer+idp.EmailChangeConfirmPath+"?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", idp.EmailChangeConfirmPath); status != http.StatusBadRequest {
		t.Fatalf("forged token: %d", status)
	}
	env.Clock.Advance(idp.DefaultEmailVerificationTTL + time.Second)
	if status, _ := followFormLink(t, env.NewBrowser(), link, idp.EmailChangeConfirmPath); status != http.StatusBadRequest {
		t.Fatalf("link after 24 h + 1 s: %d, want 400", status)
	}
	runDue(t, env, 0, "an expired, unconfirmed change")
	if a := accountOf(t, env, "victim@example.test"); a.Email != "victim@example.test" || a.ID != victim.ID {
		t.Fatal("the address changed")
	}
}

// TestSA02_LastAdminCannotScheduleDeletion: deleting the only administrator would leave the
// server without one.
func TestSA02_LastAdminCannotScheduleDeletion(t *testing.T) {
	env, _ := recoveryEnv(t)
	admin := accountOf(t, env, "admin@example.test")
	err := postAccount(t, env.Admin, "/account/delete", `{}`, nil)
	wantHTTP(t, err, http.StatusConflict, idp.CodeLastAdmin)
	if p := pendingOf(t, env, admin.ID); len(p) != 0 {
		t.Fatal("a deletion of the last administrator is pending")
	}
	if _, err := env.Store.GetAccount(context.Background(), admin.ID); err != nil {
		t.Fatal(err)
	}
}
