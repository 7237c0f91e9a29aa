package browser

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/testenv"
)

// addAuthenticator plugs a second virtual authenticator (the person's other device) into the
// tab and returns its id.
func addSecondAuthenticator(tb *tab) webauthn.AuthenticatorID {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
			Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportUsb,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
			AutomaticPresenceSimulation: true}})
	if err != nil {
		tb.t.Fatalf("add a second virtual authenticator: %v", err)
	}
	return res.AuthenticatorID
}

func heldCredentials(tb *tab, id webauthn.AuthenticatorID) []string {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		tb.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	var out []string
	for _, c := range res.Credentials {
		out = append(out, base64.RawURLEncoding.EncodeToString(c.CredentialID))
	}
	return out
}

// pagePasskeyIDs lists the passkey rows of the account page, in order.
func pagePasskeyIDs(tb *tab) []string {
	raw := eval[string](tb, `Array.from(document.querySelectorAll('#passkeys tr.passkey')).map((r) => r.dataset.passkeyId).join(' ')`)
	return strings.Fields(raw)
}

func waitAccountNotice(tb *tab, want string) {
	tb.t.Helper()
	tb.waitFor("notice "+want, func(s pageState) bool {
		return s.Path == "/account" && strings.Contains(eval[string](tb, `(document.getElementById('notice') || {}).textContent || ''`), want)
	})
}

// TestBrowserPasskeyLifecycle: in Chromium, add a second passkey from another (virtual)
// authenticator on the account page, rename it, remove the first one — the one this session
// signed in with, so the page signs out — and sign in with the second; the list and the
// activity show it all. The removal also tells the browser's passkey manager (Signal API).
func TestBrowserPasskeyLifecycle(t *testing.T) {
	needChromium(t)
	env := testenv.Start(t, testenv.Options{})
	tb := newTab(t)
	watch := watchCredentials(tb)

	tb.signUp(env.Issuer, "ada@example.test", "Ada Lovelace")
	firstIDs := pagePasskeyIDs(tb)
	if len(firstIDs) != 1 {
		t.Fatalf("after sign-up the page lists %v", firstIDs)
	}
	first := firstIDs[0]

	// The other device answers from now on; the first authenticator holds its passkey but no
	// longer answers requests (as if it were in another room).
	laptop := watch.holderOf(first)
	if laptop == "" {
		t.Fatal("no credentialAdded event for the sign-up's passkey")
	}
	second := addSecondAuthenticator(tb)
	if _, err := chromedp.Call(tb.ctx, webauthn.SetAutomaticPresenceSimulation,
		webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: laptop, Enabled: false}); err != nil {
		t.Fatal(err)
	}

	tb.do("add a passkey", chromedp.Click(chromedp.ID("add-passkey")))
	waitAccountNotice(tb, "Your new passkey is ready.")
	ids := pagePasskeyIDs(tb)
	if len(ids) != 2 || ids[0] != first && ids[1] != first {
		t.Fatalf("after adding, the page lists %v", ids)
	}
	added := ids[0]
	if added == first {
		added = ids[1]
	}
	if held := heldCredentials(tb, second); len(held) != 1 || held[0] != added {
		t.Fatalf("the second authenticator holds %v, the page added %s", held, added)
	}

	row := `#passkeys tr[data-passkey-id="` + added + `"]`
	tb.do("rename the new passkey",
		chromedp.SetValue(chromedp.CSS(row+` input[name="name"]`), "Security key at work"),
		chromedp.Click(chromedp.CSS(row+` .passkey-rename button`)))
	waitAccountNotice(tb, "The passkey was renamed.")
	if got := eval[string](tb, `document.querySelector('`+row+` .passkey-name').textContent`); got != "Security key at work" {
		t.Fatalf("renamed passkey shows %q", got)
	}

	// Remove the first: one press arms the button, the second removes. This session signed in
	// with it, so it ends and the page goes to sign-in.
	firstRow := `#passkeys tr[data-passkey-id="` + first + `"]`
	tb.do("arm removal", chromedp.Click(chromedp.CSS(firstRow+` .passkey-revoke button`)))
	if got := eval[string](tb, `document.getElementById('notice').textContent`); !strings.Contains(got, "signs you out here") {
		t.Errorf("arming the removal of the current passkey says %q", got)
	}
	tb.do("remove the first passkey", chromedp.Click(chromedp.CSS(firstRow+` .passkey-revoke button`)))
	tb.waitPath("/login")

	// signalUnknownCredential / signalAllAcceptedCredentials reached the passkey manager: the
	// first authenticator dropped the removed passkey. The browser is another process with its
	// own clock, so this polls with a deadline, like waitFor.
	deadline := time.Now().Add(stepTimeout)
	for !watch.wasDeleted(first) || len(heldCredentials(tb, laptop)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the removed passkey is still held by the first authenticator: %v", heldCredentials(tb, laptop))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if watch.wasDeleted(added) {
		t.Fatal("the browser deleted the passkey that is still accepted")
	}

	conditional := eval[bool](tb, `(async () => typeof PublicKeyCredential.isConditionalMediationAvailable === 'function'
  && await PublicKeyCredential.isConditionalMediationAvailable())()`, chromedp.EvalAwaitPromise)
	if !conditional {
		tb.do("sign in with a passkey", chromedp.Click(chromedp.ID("passkey-login")))
	}
	tb.waitPath("/account")
	ids = pagePasskeyIDs(tb)
	if len(ids) != 1 || ids[0] != added {
		t.Fatalf("after signing in with the second passkey the page lists %v, want [%s]", ids, added)
	}
	if got := eval[string](tb, `document.querySelector('#passkeys tr.passkey[aria-current="true"]').dataset.passkeyId`); got != added {
		t.Errorf("the passkey marked as used to sign in is %s, want %s", got, added)
	}
	events := eval[string](tb, `Array.from(document.querySelectorAll('#events tr.event')).map((r) => r.dataset.event).join(' ')`)
	for _, want := range []string{"passkey.registered", "passkey.renamed", "passkey.revoked", "login.succeeded"} {
		if !strings.Contains(events, want) {
			t.Errorf("recent activity lacks %s: %s", want, events)
		}
	}
	ctx := context.Background()
	acct, err := env.Store.GetAccountByEmail(ctx, "ada@example.test")
	if err != nil {
		t.Fatal(err)
	}
	creds, err := env.Store.ListCredentials(ctx, acct.ID)
	if err != nil || len(creds) != 1 || creds[0].Name != "Security key at work" {
		t.Fatalf("stored passkeys = %+v, %v", creds, err)
	}
}

// credentialWatch follows the tab's virtual authenticators through DevTools events: which one
// holds which credential (newTab keeps no authenticator id) and which credentials the browser
// deleted, e.g. on the page's Signal API calls.
type credentialWatch struct {
	mu      sync.Mutex
	holder  map[string]webauthn.AuthenticatorID
	deleted map[string]bool
}

func watchCredentials(tb *tab) *credentialWatch {
	tb.t.Helper()
	w := &credentialWatch{holder: map[string]webauthn.AuthenticatorID{}, deleted: map[string]bool{}}
	err := chromedp.Listen(tb.ctx, func(ev any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch ev := ev.(type) {
		case *webauthn.EventCredentialAdded:
			if ev.Credential != nil {
				w.holder[base64.RawURLEncoding.EncodeToString(ev.Credential.CredentialID)] = ev.AuthenticatorID
			}
		case *webauthn.EventCredentialDeleted:
			w.deleted[base64.RawURLEncoding.EncodeToString(ev.CredentialID)] = true
		}
	})
	if err != nil {
		tb.t.Fatalf("listen for WebAuthn events: %v", err)
	}
	return w
}

func (w *credentialWatch) holderOf(credential string) webauthn.AuthenticatorID {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.holder[credential]
}

func (w *credentialWatch) wasDeleted(credential string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deleted[credential]
}
