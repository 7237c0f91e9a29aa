package webauthn

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
)

// TestWA07_AllowedCredentialsAndUserBinding: §7.2 steps 5–6. A credential outside the
// ceremony's allowCredentials is refused even when it is the account's own; a discoverable
// sign-in signs in only the account the userHandle names, and only with that account's
// credential; a missing or foreign userHandle is refused.
func TestWA07_AllowedCredentialsAndUserBinding(t *testing.T) {
	e := env(t)

	t.Run("stepup_allow_list", func(t *testing.T) {
		a := signedUp(t, e, "a")
		csrf := a.csrf(t, "/account/security")
		opts := a.begin(t, "/webauthn/stepup/begin", csrf, `{}`)
		if got, want := allowed(t, opts), storedIDs(t, a); !slices.Equal(got, want) {
			t.Fatalf("step-up allowCredentials %v, want exactly the account's passkeys %v", got, want)
		}
		// The account gains a second passkey after the step-up began: it is the account's own,
		// but not in this ceremony's list.
		phone := e.NewAuthenticator()
		ok(t, a.addPasskeyWith(t, phone))
		second := phone.Credentials()[0].ID
		assertion, err := phone.Get(opts, softauthn.UseCredential(second))
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, a)
		refused(t, a.postJSON(t, "/webauthn/stepup/finish", csrf, assertion), before)
		// A step-up begun now lists it, and it is accepted.
		ok(t, a.stepUpWith(t, phone))
	})

	t.Run("stepup_other_account", func(t *testing.T) {
		a, b := signedUp(t, e, "victim"), signedUp(t, e, "intruder")
		before := snapshot(t, a, b)
		refused(t, a.stepUpWith(t, b.b.Auth, softauthn.UseCredential(b.b.Auth.Credentials()[0].ID)), before)
	})

	t.Run("email_first_other_account", func(t *testing.T) {
		a, b := signedOutPerson(t, e, "named"), signedOutPerson(t, e, "answerer")
		before := snapshot(t, a, b)
		r := a.loginWith(t, b.b.Auth, `{"email":"`+a.email+`"}`, softauthn.UseCredential(b.b.Auth.Credentials()[0].ID))
		refused(t, r, before)
		if a.signedIn(t) {
			t.Fatal("another account's passkey signed the browser in")
		}
	})

	t.Run("discoverable_user_handle", func(t *testing.T) {
		a, b := signedOutPerson(t, e, "holder"), signedOutPerson(t, e, "named-by-handle")
		random := make([]byte, 32)
		_, _ = rand.Read(random)
		for name, handle := range map[string][]byte{
			"other_accounts_handle": b.account(t).UserHandle,
			"missing":               nil,
			"unknown":               random,
			"truncated":             a.account(t).UserHandle[:16],
		} {
			before := snapshot(t, a, b)
			r := a.loginWith(t, a.b.Auth, `{}`, softauthn.UserHandle(handle))
			t.Run(name, func(t *testing.T) { refused(t, r, before) })
			if a.signedIn(t) {
				t.Fatalf("%s: signed in", name)
			}
		}
		// The same passkey with its own handle signs in to its own account, and only that one.
		ok(t, a.loginWith(t, a.b.Auth, `{}`))
		if sessions, _ := e.Store.ListSessions(t.Context(), b.account(t).ID); len(sessions) != 0 {
			t.Fatalf("the other account gained %d sessions", len(sessions))
		}
	})
}

// allowed returns the allowCredentials ids of request options, sorted.
func allowed(t *testing.T, opts []byte) []string {
	t.Helper()
	var o struct {
		PublicKey struct {
			AllowCredentials []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range o.PublicKey.AllowCredentials {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

// storedIDs returns the base64url ids of p's stored passkeys, sorted.
func storedIDs(t *testing.T, p *person) []string {
	t.Helper()
	creds, err := p.env.Store.ListCredentials(t.Context(), p.account(t).ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range creds {
		ids = append(ids, base64.RawURLEncoding.EncodeToString(c.ID))
	}
	slices.Sort(ids)
	return ids
}
