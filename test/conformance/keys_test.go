package conformance

import (
	"net/http"
	"slices"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/keyward/keyward/internal/testenv"
)

// freshVerifier is a relying app that starts now: it fetches the JWKS anew.
func freshVerifier(t *testing.T, o *op, alg string) *gooidc.IDTokenVerifier {
	t.Helper()
	p, err := gooidc.NewProvider(gooidc.ClientContext(o.ctx, o.rp.HTTP), o.env.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	return p.Verifier(&gooidc.Config{ClientID: o.rp.ID, SupportedSigningAlgs: []string{alg}})
}

// OC-08: rotation publishes new keys first, signs with them at once (ID tokens, refreshed ID
// tokens and logout tokens alike, each with a kid), keeps the retired keys in the JWKS until
// their retention ends so older tokens verify, then drops them; and the interval rotation
// rotates only when due.
func TestOC08_KeyRotation(t *testing.T) {
	o := startOwn(t, testenv.RPOptions{FirstParty: true, Alg: "ES256", Scopes: []string{"openid", "offline_access"}})
	_, tok, _ := o.login()
	old := idToken(t, tok)
	oldKID, _ := jwtParts(t, old)
	before := jwksKids(t, o)

	keys := o.env.App.Provider.Keys()
	if err := keys.Rotate(o.ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	after := jwksKids(t, o)
	if len(after) != len(before)*2 {
		t.Fatalf("JWKS after rotation has %d keys, want old and new (%d)", len(after), len(before)*2)
	}
	for _, k := range before {
		if !slices.Contains(after, k) {
			t.Fatalf("retired key %s left the JWKS at once", k)
		}
	}
	if _, err := freshVerifier(t, o, "ES256").Verify(o.ctx, old); err != nil {
		t.Fatalf("a token signed before the rotation no longer verifies: %v", err)
	}
	_, tok2, _ := o.login()
	newKID, _ := jwtParts(t, idToken(t, tok2))
	if newKID["kid"] == oldKID["kid"] || newKID["alg"] != "ES256" || slices.Contains(before, newKID["kid"].(string)) {
		t.Fatalf("new ID token header %v after rotation", newKID)
	}
	// A refresh token granted before the rotation gets an ID token from the new key of the
	// client's algorithm.
	r := o.refresh(tok.RefreshToken, authOf(o.rp))
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Raw)
	}
	if h, _ := jwtParts(t, r.str("id_token")); h["kid"] != newKID["kid"] || h["alg"] != "ES256" {
		t.Fatalf("refreshed ID token header %v, want the new ES256 key", h)
	}
	if _, err := freshVerifier(t, o, "ES256").Verify(o.ctx, r.str("id_token")); err != nil {
		t.Fatal(err)
	}

	// After the retention the old keys are gone and tokens they signed fail.
	o.env.Clock.Advance(time.Hour + time.Second)
	if err := keys.Reload(o.ctx); err != nil {
		t.Fatal(err)
	}
	final := jwksKids(t, o)
	if slices.Contains(final, oldKID["kid"].(string)) || len(final) != len(before) {
		t.Fatalf("JWKS after retention: %v", final)
	}
	if _, err := freshVerifier(t, o, "ES256").Verify(o.ctx, old); err == nil {
		t.Fatal("a token of a removed key still verifies")
	}

	// Interval rotation: not due right after a rotation, due once the interval passed.
	if rotated, err := keys.RotateIfDue(o.ctx, 24*time.Hour, time.Hour); err != nil || rotated {
		t.Fatalf("RotateIfDue right after a rotation: %v %v", rotated, err)
	}
	o.env.Clock.Advance(24 * time.Hour)
	if rotated, err := keys.RotateIfDue(o.ctx, 24*time.Hour, time.Hour); err != nil || !rotated {
		t.Fatalf("RotateIfDue after the interval: %v %v", rotated, err)
	}
	if got := jwksKids(t, o); len(got) != 2*len(before) {
		t.Fatalf("JWKS after interval rotation: %v", got)
	}
}
