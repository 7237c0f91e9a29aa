package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v3"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
)

// consoleTimeFormat is how the console shows times (ui.timeFormat).
const consoleTimeFormat = "2 Jan 2006 15:04 MST"

// The signing-keys page of the console (/admin/keys): rotation from the console is the CLI's
// rotation, audited with performed_by, and it keeps every token already issued verifiable.

// idTokenOf runs a code flow for the signed-in browser and returns the raw ID token.
func idTokenOf(t *testing.T, b *passkeyclient.Client, rp *testenv.RP) string {
	t.Helper()
	ctx := context.Background()
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), false)
	if err != nil {
		t.Fatal(err)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := rp.Exchange(ctx, code, f)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Extra("id_token").(string)
}

// kidOf returns the kid of a JWT's header.
func kidOf(t *testing.T, raw string) string {
	t.Helper()
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// jwksKIDs returns the kids the JWKS publishes.
func jwksKIDs(t *testing.T, env *testenv.Env) []string {
	t.Helper()
	resp, err := env.Server.Client().Get(env.Issuer + "/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// freshVerifier is a relying app that has never seen the JWKS: it fetches it now.
func freshVerifier(t *testing.T, env *testenv.Env, rp *testenv.RP) *gooidc.IDTokenVerifier {
	t.Helper()
	ctx := gooidc.ClientContext(context.Background(), env.Server.Client())
	p, err := gooidc.NewProvider(ctx, env.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	return p.Verifier(&gooidc.Config{ClientID: rp.ID, SupportedSigningAlgs: []string{"RS256"}})
}

// keyRows returns the stored signing keys as "kid alg retired?" lines, for before/after checks.
func keyRows(t *testing.T, env *testenv.Env) string {
	t.Helper()
	keys, err := env.Store.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(keys)
	return string(b)
}

// TestOC08_ConsoleRotationKeepsOldTokensVerifiable: "Rotate now" publishes new keys next to the
// old ones and the page says when they start signing (RL-06); until then ID tokens carry the
// old kid, after it the new one; a token signed before the rotation still verifies against
// the JWKS; the page then shows the old key retired with the date it leaves the JWKS; and the
// rotation is audited as keys.rotated with performed_by, the new kids and when they sign.
func TestOC08_ConsoleRotationKeepsOldTokensVerifiable(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	admin := accountOf(t, env, "admin@example.test")
	person := env.SignedUp("ada@example.test")
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	before := idTokenOf(t, person, rp)
	oldKID := kidOf(t, before)

	page := adminGet(t, env.Admin, "/admin/keys", http.StatusOK)
	if !strings.Contains(page, `data-kid="`+oldKID+`" data-state="active"`) || !strings.Contains(page, `action="/admin/keys/rotate"`) {
		t.Fatal("the keys page does not show the active key and the rotate form")
	}
	if !strings.Contains(page, "next reload the keys") {
		t.Error("the page does not say other replicas pick the keys up on their reload")
	}

	csrf := csrfOf(t, env.Admin, "/admin/keys")
	resp, body := adminPost(t, env.Admin, "/admin/keys/rotate", csrf, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/keys?notice=") {
		t.Fatalf("rotate: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	rotatedAt := env.Clock.Now()
	signsFrom := rotatedAt.Add(oidc.DefaultKeyActivationDelay)
	page = adminGet(t, env.Admin, resp.Header.Get("Location"), http.StatusOK)
	if !strings.Contains(page, `data-kid="`+oldKID+`" data-state="active"`) || !strings.Contains(page, `data-state="pending"`) ||
		!strings.Contains(page, "published, signs from "+signsFrom.Format(consoleTimeFormat)) ||
		!strings.Contains(page, "signs until "+signsFrom.Format(consoleTimeFormat)) || !strings.Contains(page, "they start signing at the time shown") {
		t.Fatal("the page does not show the new keys published and waiting, and the old one signing until then")
	}
	if kid := kidOf(t, idTokenOf(t, person, rp)); kid != oldKID {
		t.Fatalf("ID token right after the rotation signed with %q, want the old key %q", kid, oldKID)
	}
	published := jwksKIDs(t, env)
	if len(published) != 4 || !slices.Contains(published, oldKID) {
		t.Fatalf("JWKS kids %v right after the rotation, want the old and new key of each algorithm", published)
	}

	env.Clock.Advance(oidc.DefaultKeyActivationDelay)
	after := idTokenOf(t, person, rp)
	newKID := kidOf(t, after)
	if newKID == oldKID || !slices.Contains(published, newKID) {
		t.Fatalf("ID token after the delay signed with %q (before: %q, published at rotation: %v)", newKID, oldKID, published)
	}
	if kids := jwksKIDs(t, env); !slices.Contains(kids, oldKID) || !slices.Contains(kids, newKID) || len(kids) != 4 {
		t.Fatalf("JWKS kids %v, want the old and new key of each algorithm", kids)
	}
	v := freshVerifier(t, env, rp)
	for name, raw := range map[string]string{"before": before, "after": after} {
		if _, err := v.Verify(ctx, raw); err != nil {
			t.Errorf("ID token from %s the rotation: %v", name, err)
		}
	}

	page = adminGet(t, env.Admin, "/admin/keys", http.StatusOK)
	until := signsFrom.Add(7 * 24 * time.Hour).Format(consoleTimeFormat)
	if !strings.Contains(page, `data-kid="`+newKID+`" data-state="active"`) || !strings.Contains(page, `data-kid="`+oldKID+`" data-state="retired"`) ||
		!strings.Contains(page, "published until "+until) || strings.Contains(page, `data-state="pending"`) {
		t.Fatal("the page does not show the new key active and the old one retired until its expiry")
	}

	evs, err := env.Store.ListAudit(ctx, store.AuditQuery{Event: "keys.rotated"})
	if err != nil || len(evs) != 1 || evs[0].ActorID != admin.ID {
		t.Fatalf("keys.rotated events %+v %v, want one performed by the administrator", evs, err)
	}
	var detail struct {
		Kids      []string
		SignsFrom string `json:"signs_from"`
	}
	if err := json.Unmarshal(evs[0].Detail, &detail); err != nil || len(detail.Kids) != 2 || detail.Kids[0] != newKID ||
		detail.SignsFrom != signsFrom.UTC().Format(time.RFC3339) {
		t.Fatalf("keys.rotated detail %s, want the new kids (RS256 %s first) and when they sign", evs[0].Detail, newKID)
	}
}

// TestSA01_KeyRotationNeedsCSRFAndStepUp: without the session's CSRF token (403) or with a
// step-up older than the window (401) nothing rotates and nothing is audited.
func TestSA01_KeyRotationNeedsCSRFAndStepUp(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	want := keyRows(t, env)
	if resp, _ := adminPost(t, env.Admin, "/admin/keys/rotate", "", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("rotate without CSRF: %d, want 403", resp.StatusCode)
	}
	env.Clock.Advance(6 * time.Minute)
	csrf := csrfOf(t, env.Admin, "/admin/keys")
	if resp, _ := adminPost(t, env.Admin, "/admin/keys/rotate", csrf, url.Values{}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("rotate with a stale step-up: %d, want 401", resp.StatusCode)
	}
	if got := keyRows(t, env); got != want {
		t.Fatal("a refused rotation changed the keys")
	}
	if evs, _ := env.Store.ListAudit(ctx, store.AuditQuery{Event: "keys.rotated"}); len(evs) != 0 {
		t.Fatal("a refused rotation was audited")
	}
}
