package conformance

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// clientKey is a private_key_jwt client's signing key, as the relying app holds it.
type clientKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func newClientKey(t *testing.T, alg jose.SignatureAlgorithm) clientKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{alg: alg, kid: "k-" + randomString(6), priv: priv}
}

// public is the key as the client registers it.
func (k clientKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// jwksOf is a JWK Set JSON of the keys' public halves.
func jwksOf(t *testing.T, keys ...clientKey) string {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.public())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sign makes a JWS of claims with the key, kid in the header (unless the claims ask otherwise
// through hdr).
func (k clientKey) sign(t *testing.T, claims map[string]any, hdr map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for h, v := range hdr {
		opts = opts.WithHeader(h, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// assertionClaims are the claims of a valid assertion for clientID at now: aud the token
// endpoint, a fresh jti, one minute of life.
func assertionClaims(env *testenv.Env, clientID string, now time.Time) map[string]any {
	return map[string]any{
		"iss": clientID, "sub": clientID, "aud": env.Issuer + "/oauth2/token",
		"jti": randomString(16), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

// rawJWS is header.claims.sig with the given header: alg none, or anything a library would
// refuse to produce.
func rawJWS(t *testing.T, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + enc(sig)
}

// pkjClient registers a confidential client that authenticates with private_key_jwt and the
// given inline keys (or jwksURI), for grants.
func pkjClient(t *testing.T, env *testenv.Env, o testenv.RPOptions, jwks, jwksURI string) *testenv.RP {
	t.Helper()
	rp := env.NewRP(o)
	env.UpdateClient(rp.ID, func(c *store.Client) {
		c.TokenEndpointAuthMethod = "private_key_jwt"
		c.SecretHash = nil
		c.JWKS, c.JWKSURI = jwks, jwksURI
	})
	rp.Secret, rp.OAuth2.ClientSecret = "", ""
	return rp
}

// postAssertion posts form to path, authenticated by the client assertion (none when empty).
func postAssertion(t *testing.T, env *testenv.Env, path string, form url.Values, assertion string) tokenReply {
	t.Helper()
	form = cloneValues(form)
	if assertion != "" {
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, env.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	o := &op{t: t, ctx: context.Background(), env: env}
	return o.do(req)
}

var ccForm = url.Values{"grant_type": {"client_credentials"}}

// jtiRows counts the recorded client assertion ids, read from the SQLite file.
func jtiRows(t *testing.T, env *testenv.Env) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+env.DBPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM client_assertion_jtis`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// jwksServer is a client's jwks_uri: it serves the current key set and counts the fetches.
type jwksServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	body    string
	fetches atomic.Int32
}

func startJWKSServer(t *testing.T, body string) *jwksServer {
	t.Helper()
	js := &jwksServer{body: body}
	js.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		js.fetches.Add(1)
		js.mu.Lock()
		defer js.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write([]byte(js.body))
	}))
	t.Cleanup(js.srv.Close)
	return js
}

func (js *jwksServer) set(body string) {
	js.mu.Lock()
	js.body = body
	js.mu.Unlock()
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
