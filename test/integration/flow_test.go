package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
)

// TestSignUpSignInCodeFlow is the walking skeleton end to end: sign up with a passkey, sign
// out, a registered client starts an authorization request, the person signs in with the
// passkey and consents, and the client exchanges the code and verifies the ID token exactly as
// a relying app would, then calls UserInfo.
func TestSignUpSignInCodeFlow(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.NewBrowser()
	next, err := b.SignUp(ctx, "Ada@Example.com", "Ada Lovelace", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if next != "/account" {
		t.Fatalf("after sign-up sent to %q, want /account", next)
	}
	resp, body, err := b.Get(ctx, "/account")
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(body), "ada@example.com") {
		t.Fatalf("account page: %v %d", err, resp.StatusCode)
	}
	signOut(t, b)
	if resp, _, _ := b.Get(ctx, "/account"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("account page after sign-out answered %d, want a redirect to sign-in", resp.StatusCode)
	}

	rp := env.NewRP(testenv.RPOptions{})
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := cb.Query().Get("iss"); got != env.Issuer {
		t.Fatalf("iss parameter %q, want %q (RFC 9207)", got, env.Issuer)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		t.Fatal(err)
	}
	tok, idt, err := rp.Exchange(ctx, code, f)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified *bool    `json:"email_verified"`
		Name          string   `json:"name"`
		AuthTime      int64    `json:"auth_time"`
		AMR           []string `json:"amr"`
		ACR           string   `json:"acr"`
		SID           string   `json:"sid"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Email != "ada@example.com" || claims.Name != "Ada Lovelace" || claims.EmailVerified == nil {
		t.Errorf("profile claims = %+v", claims)
	}
	if claims.AuthTime == 0 || claims.SID == "" {
		t.Errorf("auth_time %d, sid %q: both required", claims.AuthTime, claims.SID)
	}
	// A user-verified synced passkey: software key, user verification, multi-factor.
	for _, want := range []string{"swk", "user", "mfa"} {
		if !slices.Contains(claims.AMR, want) {
			t.Errorf("amr %v lacks %q", claims.AMR, want)
		}
	}
	if claims.ACR != "phr" {
		t.Errorf("acr %q, want phr", claims.ACR)
	}
	if strings.Contains(idt.Subject, "@") || idt.Subject == "" {
		t.Errorf("sub %q must be opaque", idt.Subject)
	}
	acc, err := env.Store.GetAccountByEmail(ctx, "ada@example.com")
	if err != nil || acc.ID != idt.Subject {
		t.Fatalf("sub %q does not name the account (%v)", idt.Subject, err)
	}

	ui, err := rp.Provider.UserInfo(ctxWith(ctx, rp), rp.OAuth2.TokenSource(ctx, tok))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Subject != idt.Subject || ui.Email != "ada@example.com" {
		t.Fatalf("userinfo = %+v", ui)
	}

	// A second authorization in the same browser needs neither sign-in nor consent again.
	f2 := testenv.NewFlow()
	resp, _, err = b.Get(ctx, rp.AuthURL(f2))
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second authorize: %v %v", err, resp.StatusCode)
	}
	loc, _ := resp.Location()
	if _, err := rp.Callback(loc, f2); err != nil {
		t.Fatalf("second authorize did not go straight back to the app: %v", err)
	}
}

func signOut(t *testing.T, b *passkeyclient.Client) {
	t.Helper()
	ctx := context.Background()
	csrf, err := b.CSRF(ctx, "/account")
	if err != nil {
		t.Fatal(err)
	}
	resp := postForm(t, b, "/logout", "csrf_token="+csrf)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/logged-out" {
		t.Fatalf("logout answered %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestFirstPartyClientSkipsConsentAndES256(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("grace@example.com")
	rp := env.NewRP(testenv.RPOptions{FirstParty: true, Alg: "ES256"})
	f := testenv.NewFlow()
	resp, _, err := b.Get(ctx, rp.AuthURL(f))
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: %v %d", err, resp.StatusCode)
	}
	loc, _ := resp.Location()
	code, err := rp.Callback(loc, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rp.Exchange(ctx, code, f); err != nil {
		t.Fatalf("ES256 id_token: %v", err)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	resp, err := env.Server.Client().Get(env.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d["issuer"] != env.Issuer {
		t.Errorf("issuer %v", d["issuer"])
	}
	for key, want := range map[string]string{
		"response_types_supported":              `["code"]`,
		"code_challenge_methods_supported":      `["S256"]`,
		"id_token_signing_alg_values_supported": `["RS256","ES256"]`,
	} {
		got, _ := json.Marshal(d[key])
		if string(got) != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if d["authorization_response_iss_parameter_supported"] != true {
		t.Error("authorization_response_iss_parameter_supported must be true")
	}
	jr, err := env.Server.Client().Get(env.Issuer + "/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Body.Close()
	raw, _ := io.ReadAll(jr.Body)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) < 2 {
		t.Fatalf("jwks: %v %s", err, raw)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS leaks private member %q", private)
			}
		}
		kid, _ := k["kid"].(string)
		if kid == "" || kids[kid] || k["use"] != "sig" {
			t.Fatalf("bad key entry %v", k)
		}
		kids[kid] = true
	}
}

var _ = time.Second
