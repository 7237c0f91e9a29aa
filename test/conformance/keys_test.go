package conformance

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/oidc"
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

// OC-08: rotation publishes new keys first, signs with them once the activation delay has
// passed (ID tokens and refreshed ID tokens alike, each with a kid), keeps the retired keys in
// the JWKS until their retention ends so older tokens verify, then drops them; and the interval
// rotation rotates only when due.
func TestOC08_KeyRotation(t *testing.T) {
	o := startOwn(t, testenv.RPOptions{FirstParty: true, Alg: "ES256", Scopes: []string{"openid", "offline_access"}})
	_, tok, _ := o.login()
	old := idToken(t, tok)
	oldKID, _ := jwtParts(t, old)
	before := jwksKids(t, o)

	keys := o.env.App.Provider.Keys()
	if _, err := keys.Rotate(o.ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	o.env.Clock.Advance(oidc.DefaultKeyActivationDelay)
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

	// After the retention, counted from when they stopped signing, the old keys are gone and
	// tokens they signed fail.
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

// RL-06: a rotated key is published before it signs. Right after the rotation the JWKS holds
// the old and the new kids while ID tokens still carry the old kid, so an app whose cached
// JWKS predates the rotation verifies every token it gets; once the activation delay has
// passed the new kid signs and the old one is still published.
func TestRL06_NewKeyPublishedBeforeItSigns(t *testing.T) {
	o := startOwn(t, testenv.RPOptions{FirstParty: true, Alg: "ES256"})
	_, tok, _ := o.login()
	oldHeader, _ := jwtParts(t, idToken(t, tok))
	oldKID := oldHeader["kid"].(string)
	cached := freshVerifier(t, o, "ES256") // an app that fetched the JWKS before the rotation

	rot, err := o.env.App.Provider.RotateKeys(o.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := o.env.Clock.Now().Add(oidc.DefaultKeyActivationDelay); !rot.SignsFrom.Equal(want.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("new keys sign from %v, want %v", rot.SignsFrom, want)
	}
	// The delay covers a replica's reload (a minute) and an app's cached copy of the JWKS.
	resp, err := o.rp.HTTP.Get(o.env.Issuer + "/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var maxAge int
	if _, err := fmt.Sscanf(resp.Header.Get("Cache-Control"), "public, max-age=%d", &maxAge); err != nil ||
		time.Duration(maxAge)*time.Second+time.Minute > oidc.DefaultKeyActivationDelay {
		t.Fatalf("JWKS Cache-Control %q: an app may still use a copy without the new key when it signs", resp.Header.Get("Cache-Control"))
	}
	kids := jwksKids(t, o)
	if len(kids) != 4 || !slices.Contains(kids, oldKID) || !slices.Contains(kids, rot.KIDs[1]) {
		t.Fatalf("JWKS after rotation %v, want the old kids and the new %v", kids, rot.KIDs)
	}
	o.env.Clock.Advance(oidc.DefaultKeyActivationDelay - time.Second)
	_, tok, _ = o.login()
	raw := idToken(t, tok)
	if h, _ := jwtParts(t, raw); h["kid"] != oldKID {
		t.Fatalf("ID token a second before the delay ends signed with %v, want the old key %s", h["kid"], oldKID)
	}
	if _, err := cached.Verify(o.ctx, raw); err != nil {
		t.Fatalf("an app with the JWKS from before the rotation cannot verify: %v", err)
	}

	o.env.Clock.Advance(time.Second)
	_, tok, _ = o.login()
	raw = idToken(t, tok)
	if h, _ := jwtParts(t, raw); h["kid"] != rot.KIDs[1] || h["alg"] != "ES256" {
		t.Fatalf("ID token after the delay has header %v, want the new ES256 key %s", h, rot.KIDs[1])
	}
	if kids := jwksKids(t, o); len(kids) != 4 || !slices.Contains(kids, oldKID) {
		t.Fatalf("JWKS after the delay %v, want the old key still published", kids)
	}
	if _, err := freshVerifier(t, o, "ES256").Verify(o.ctx, raw); err != nil {
		t.Fatal(err)
	}
}
