package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
)

// consoleClientForm is a complete, valid console client form; tests change what they need.
func consoleClientForm(redirect string) url.Values {
	return url.Values{"name": {"SPA"}, "redirect_uris": {redirect}, "type": {"public"},
		"grant": {"authorization_code", "refresh_token"}, "scope": {"openid", "email", "offline_access"}, "alg": {"RS256"},
		"access_token_format": {"jwt"}, "access_token_lifetime": {"5m"}, "refresh_token_lifetime": {"14d"},
		"id_token_lifetime": {"20m"}, "allowed_origins": {"https://spa.example\nhttp://localhost:5173"}, "require_par": {"1"}}
}

// corsPreflight asks the token endpoint whether origin may POST to it.
func corsPreflight(t *testing.T, env *testenv.Env, origin string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, env.Issuer+"/oauth2/token", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent && resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("204 without the origin echoed: %v", resp.Header)
	}
	return resp.StatusCode
}

// The console's token, CORS and key fields: they round-trip through the form, take effect at
// once (the CORS allow-list is reloaded on save), and bad values are shown in the form with
// their reasons while nothing changes.
func TestAdminClientTokenFields(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	// Loads the allow-list while the origin is unknown: only the console's reload can admit it.
	if got := corsPreflight(t, env, "https://spa.example"); got != http.StatusForbidden {
		t.Fatalf("unknown origin preflight: %d", got)
	}
	csrf := csrfOf(t, env.Admin, "/admin/clients/new")
	form := consoleClientForm("http://127.0.0.1:9/callback/spa")
	form.Set("id", "spa")
	resp, page := adminPost(t, env.Admin, "/admin/clients", csrf, form)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d\n%s", resp.StatusCode, page)
	}
	c, err := env.Store.GetClient(ctx, "spa")
	if err != nil || c.AccessTokenFormat != "jwt" || c.AccessTokenLifetime != 5*time.Minute || c.RefreshTokenLifetime != 14*24*time.Hour ||
		c.IDTokenLifetime != 20*time.Minute || len(c.AllowedOrigins) != 2 || !c.RequirePAR || len(c.SecretHash) != 0 {
		t.Fatalf("stored: %+v (%v)", c, err)
	}
	if got := corsPreflight(t, env, "https://spa.example"); got != http.StatusNoContent {
		t.Fatalf("origin added in the console not allowed at once: %d", got)
	}
	page = adminGet(t, env.Admin, "/admin/clients/spa", http.StatusOK)
	for _, want := range []string{`name="access_token_lifetime" type="text" value="5m"`, `value="14d"`, `value="20m"`,
		"https://spa.example\nhttp://localhost:5173", `<option value="jwt" selected`, `id="require-par" type="checkbox" name="require_par" value="1" checked`} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("edit form lacks %q", want)
		}
	}

	// Every problem is listed; the stored client is untouched.
	bad := consoleClientForm("http://127.0.0.1:9/callback/spa")
	bad.Set("access_token_lifetime", "2h")
	bad.Set("refresh_token_lifetime", "10m")
	bad.Set("id_token_lifetime", "soon")
	bad.Set("access_token_format", "xml")
	bad.Set("allowed_origins", "https://spa.example/app\nhttp://evil.example")
	csrf = csrfOf(t, env.Admin, "/admin/clients/spa")
	resp, page = adminPost(t, env.Admin, "/admin/clients/spa", csrf, bad)
	page = html.UnescapeString(page)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad update: %d", resp.StatusCode)
	}
	for _, want := range []string{"Access token lifetime: must be between 1m and 1h", "Refresh token lifetime: must be between 1h",
		"ID token lifetime: \"soon\" is not a duration", "Access token format: must be opaque or jwt",
		`"https://spa.example/app": must be an origin only`, `"http://evil.example": http is allowed only`} {
		if !strings.Contains(page, want) {
			t.Errorf("form errors lack %q", want)
		}
	}
	if after, _ := env.Store.GetClient(ctx, "spa"); after.AccessTokenLifetime != 5*time.Minute || len(after.AllowedOrigins) != 2 {
		t.Fatalf("a refused update changed the client: %+v", after)
	}

	// Removing the origin in the console closes CORS at once.
	edit := consoleClientForm("http://127.0.0.1:9/callback/spa")
	edit.Set("allowed_origins", "")
	if resp, _ := adminPost(t, env.Admin, "/admin/clients/spa", csrf, edit); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", resp.StatusCode)
	}
	if got := corsPreflight(t, env, "https://spa.example"); got != http.StatusForbidden {
		t.Fatalf("origin removed in the console still allowed: %d", got)
	}

	// A confidential client switched to private_key_jwt loses its secret; without keys it is refused.
	conf := consoleClientForm("https://svc.example/cb")
	conf.Set("type", "confidential")
	conf.Set("id", "svc")
	resp, page = adminPost(t, env.Admin, "/admin/clients", csrf, conf)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(page, "client-secret-value") {
		t.Fatalf("create confidential: %d", resp.StatusCode)
	}
	conf.Del("id")
	conf.Set("auth_method", "private_key_jwt")
	if resp, page := adminPost(t, env.Admin, "/admin/clients/svc", csrf, conf); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(page, "Keys: private_key_jwt needs jwks or jwks_uri") {
		t.Fatalf("private_key_jwt without keys: %d", resp.StatusCode)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	conf.Set("jwks", string(set))
	if resp, page := adminPost(t, env.Admin, "/admin/clients/svc", csrf, conf); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("private_key_jwt with keys: %d\n%s", resp.StatusCode, page)
	}
	if svc, _ := env.Store.GetClient(ctx, "svc"); svc.TokenEndpointAuthMethod != "private_key_jwt" || svc.JWKS == "" || len(svc.SecretHash) != 0 {
		t.Fatalf("svc: method %q, keys %d bytes, secret hash %d bytes", svc.TokenEndpointAuthMethod, len(svc.JWKS), len(svc.SecretHash))
	}
	if page := adminGet(t, env.Admin, "/admin/clients/svc", http.StatusOK); strings.Contains(page, `id="rotate-form"`) {
		t.Error("a key-authenticated client offers secret rotation")
	}
}

// A config-file client shows its token fields read-only, and the console refuses to change it.
func TestAdminConfigClientTokenFieldsReadOnly(t *testing.T) {
	env := testenv.Start(t, testenv.Options{Configure: func(c *app.Config) {
		c.Clients = append(c.Clients, app.ClientConfig{ID: "filed", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"},
			AccessTokenFormat: "jwt", AccessTokenLifetime: 10 * time.Minute, AllowedOrigins: []string{"https://filed.example"}})
	}})
	page := html.UnescapeString(adminGet(t, env.Admin, "/admin/clients/filed", http.StatusOK))
	if !strings.Contains(page, `id="client-readonly"`) || !strings.Contains(page, `value="10m"`) || !strings.Contains(page, "https://filed.example") {
		t.Fatal("config client's token fields not shown read-only")
	}
	csrf := csrfOf(t, env.Admin, "/admin/clients/filed")
	if resp, _ := adminPost(t, env.Admin, "/admin/clients/filed", csrf, consoleClientForm("http://127.0.0.1/cb")); resp.StatusCode != http.StatusConflict {
		t.Fatalf("config client update: %d", resp.StatusCode)
	}
	if c, _ := env.Store.GetClient(context.Background(), "filed"); c.AccessTokenLifetime != 10*time.Minute || c.RequirePAR {
		t.Fatalf("config client changed: %+v", c)
	}
	if got := corsPreflight(t, env, "https://filed.example"); got != http.StatusNoContent {
		t.Fatalf("config client's origin: %d", got)
	}
}
