package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/app"
)

// cliEnv is a configuration file on a SQLite database in a temporary directory.
type cliEnv struct {
	t    *testing.T
	dir  string
	conf string
}

func newCLIEnv(t *testing.T, extra string) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "keyward.yaml")
	body := "database: sqlite:" + filepath.Join(dir, "keyward.db") + "\n" + extra
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, dir: dir, conf: conf}
}

func (e *cliEnv) run(args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), append(args, "--config", e.conf), &out, &out, nil)
	return out.String(), err
}

// show returns `clients show` as a map of key to value.
func (e *cliEnv) show(id string) map[string]string {
	e.t.Helper()
	out, err := e.run("clients", "show", id)
	if err != nil {
		e.t.Fatalf("clients show %s: %v", id, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

func publicJWKS(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// `clients add|update|show` with the token, CORS and key fields: the values round-trip, bad
// values are refused with every reason and change nothing, and the secret follows the
// authentication method.
func TestClientsCLITokenFieldsRoundTrip(t *testing.T) {
	e := newCLIEnv(t, "")
	out, err := e.run("clients", "add", "spa", "--public", "--redirect-uri", "http://127.0.0.1/cb", "--allowed-origin", "https://spa.example",
		"--allowed-origin", "http://localhost:5173", "--access-token-format", "jwt", "--access-token-lifetime", "5m",
		"--refresh-token-lifetime", "14d", "--id-token-lifetime", "30m", "--require-par")
	if err != nil || strings.Contains(out, "client_secret") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	want := map[string]string{"public": "true", "token_endpoint_auth_method": "none", "access_token_format": "jwt",
		"access_token_lifetime": "5m", "refresh_token_lifetime": "14d", "id_token_lifetime": "30m", "require_pushed_authorization_requests": "true",
		"allowed_origins": "https://spa.example http://localhost:5173"}
	got := e.show("spa")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("show %s = %q, want %q", k, got[k], v)
		}
	}

	// Every bad value is named at once; nothing is written.
	_, err = e.run("clients", "update", "spa", "--access-token-lifetime", "2h", "--refresh-token-lifetime", "30m",
		"--id-token-lifetime", "25h", "--access-token-format", "xml", "--allowed-origin", "https://spa.example/app")
	for _, key := range []string{"access_token_lifetime", "refresh_token_lifetime", "id_token_lifetime", "access_token_format", "allowed_origins"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("update error %v does not name %s", err, key)
		}
	}
	if _, err := e.run("clients", "update", "spa", "--id-token-lifetime", "soon"); err == nil || !strings.Contains(err.Error(), "--id-token-lifetime") {
		t.Errorf("unreadable duration: %v", err)
	}
	if again := e.show("spa"); again["access_token_lifetime"] != "5m" || again["allowed_origins"] != want["allowed_origins"] {
		t.Fatalf("a refused update changed the client: %v", again)
	}

	// Clearing: an empty list value and an empty lifetime go back to the defaults.
	if _, err := e.run("clients", "update", "spa", "--allowed-origin", "", "--access-token-lifetime", "", "--access-token-format", "opaque"); err != nil {
		t.Fatal(err)
	}
	if got := e.show("spa"); got["allowed_origins"] != "" || got["access_token_lifetime"] != "server default" || got["access_token_format"] != "opaque" ||
		got["refresh_token_lifetime"] != "14d" {
		t.Fatalf("after clearing: %v", got)
	}

	// A key-authenticated client gets no secret; switching it to a secret prints a new one.
	jwksFile := filepath.Join(e.dir, "jwks.json")
	if err := os.WriteFile(jwksFile, publicJWKS(t), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = e.run("clients", "add", "svc", "--redirect-uri", "https://svc.example/cb", "--auth-method", "private_key_jwt", "--jwks-file", jwksFile)
	if err != nil || strings.Contains(out, "client_secret") {
		t.Fatalf("add private_key_jwt: %v\n%s", err, out)
	}
	if got := e.show("svc"); got["token_endpoint_auth_method"] != "private_key_jwt" || !strings.HasPrefix(got["jwks"], "inline") {
		t.Fatalf("svc: %v", got)
	}
	if _, err := e.run("clients", "add", "svc2", "--redirect-uri", "https://svc.example/cb", "--auth-method", "private_key_jwt"); err == nil || !strings.Contains(err.Error(), "jwks") {
		t.Fatalf("private_key_jwt without keys: %v", err)
	}
	if _, err := e.run("clients", "add", "svc3", "--redirect-uri", "https://svc.example/cb", "--jwks-uri", "https://svc.example/jwks"); err == nil || !strings.Contains(err.Error(), "only used with") {
		t.Fatalf("keys without private_key_jwt: %v", err)
	}
	out, err = e.run("clients", "update", "svc", "--auth-method", "client_secret_basic", "--jwks-uri", "")
	if err != nil || !strings.Contains(out, "client_secret: ") {
		t.Fatalf("switch to a secret: %v\n%s", err, out)
	}
	if _, err := e.run("clients", "update", "nobody", "--name", "x"); err == nil || !strings.Contains(err.Error(), "no client") {
		t.Fatalf("update of an unknown client: %v", err)
	}
}

// Config-file clients: every field validated, every problem reported with its key; a valid
// client with all the new fields reaches the store unchanged and is read-only for the CLI.
func TestClientConfigTokenFields(t *testing.T) {
	bad := newCLIEnv(t, `clients:
  - id: bad
    public: true
    redirect_uris: [http://127.0.0.1/cb]
    access_token_lifetime: 2h
    refresh_token_lifetime: 100000h
    id_token_lifetime: 10s
    access_token_format: paseto
    allowed_origins: ["https://a.example/", "http://evil.example", "https://A.example", "*"]
    token_endpoint_auth_method: private_key_jwt
`)
	_, err := loadConfig(bad.conf, nil)
	for _, want := range []string{"clients[0].access_token_lifetime", "clients[0].refresh_token_lifetime", "clients[0].id_token_lifetime",
		"clients[0].access_token_format", `"https://a.example/"`, `"http://evil.example"`, `"https://A.example"`, `"*"`,
		"clients[0].token_endpoint_auth_method"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config error %v does not name %s", err, want)
		}
	}
	capped := newCLIEnv(t, "tokens:\n  refresh_token_ttl: 24h\n  refresh_token_max_lifetime: 720h\nclients:\n  - id: c\n    public: true\n    redirect_uris: [http://127.0.0.1/cb]\n    refresh_token_lifetime: 1000h\n")
	if _, err := loadConfig(capped.conf, nil); err == nil || !strings.Contains(err.Error(), "refresh_token_lifetime") {
		t.Errorf("a refresh lifetime past the family cap: %v", err)
	}

	good := newCLIEnv(t, `clients:
  - id: spa
    public: true
    redirect_uris: [http://127.0.0.1/cb]
    access_token_format: jwt
    access_token_lifetime: 5m
    refresh_token_lifetime: 336h
    id_token_lifetime: 20m
    allowed_origins: ["https://spa.example"]
    require_pushed_authorization_requests: true
`)
	cfg, err := loadConfig(good.conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Secret = make([]byte, 32)
	st, err := app.OpenStore(context.Background(), cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(context.Background(), cfg, st, slog.New(slog.DiscardHandler), time.Now); err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(context.Background(), "spa")
	st.Close()
	if err != nil || c.AccessTokenFormat != "jwt" || c.AccessTokenLifetime != 5*time.Minute || c.RefreshTokenLifetime != 14*24*time.Hour ||
		c.IDTokenLifetime != 20*time.Minute || len(c.AllowedOrigins) != 1 || !c.RequirePAR || c.Source != "config" {
		t.Fatalf("synced client %+v (%v)", c, err)
	}
	if _, err := good.run("clients", "update", "spa", "--access-token-lifetime", "10m"); err == nil || !strings.Contains(err.Error(), "configuration file") {
		t.Fatalf("update of a config client: %v", err)
	}
}
