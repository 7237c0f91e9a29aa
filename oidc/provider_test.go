package oidc

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// newTestProvider wires a Provider on a real SQLite file, for the few checks the HTTP suites
// (test/conformance) cannot reach: tokens signed with Keyward's key but claims no flow
// produces, such as an ID token that expired yesterday.
func newTestProvider(t *testing.T) (*Provider, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek := make([]byte, 32)
	keys, err := NewKeys(ctx, st, kek, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	p, err := New(Config{Issuer: "http://localhost:1", GlobalSecret: secret, ClientSecretKey: secret}, st, keys,
		slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now,
		func(w http.ResponseWriter, _ *http.Request, status int, _, _ string) { w.WriteHeader(status) })
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}

// sign makes a JWT with Keyward's RS256 key.
func sign(t *testing.T, p *Provider, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	h := map[string]any{"kid": p.keys.KID(AlgRS256)}
	for k, v := range header {
		h[k] = v
	}
	raw, _, err := signer{keys: p.keys}.Generate(context.Background(), claims, &jwt.Headers{Extra: h})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// OC-04: an expired ID token Keyward signed is a valid id_token_hint (OIDC Core §3.1.2.1);
// one with another issuer, a logout token, or one without a subject is not.
func TestOC04_ExpiredHintAccepted(t *testing.T) {
	p, _ := newTestProvider(t)
	ctx := context.Background()
	past := time.Now().Add(-24 * time.Hour)
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": p.cfg.Issuer, "sub": "acc-1", "aud": []string{"c"}, "iat": past.Unix(), "exp": past.Add(time.Hour).Unix()}
	}
	if sub, err := p.hintSubject(ctx, sign(t, p, base(), nil)); err != nil || sub != "acc-1" {
		t.Fatalf("expired hint: %q %v", sub, err)
	}
	if _, err := p.verifyOwnJWT(ctx, sign(t, p, base(), nil), false); err == nil {
		t.Fatal("an expired token passed where expiry matters")
	}
	other := base()
	other["iss"] = "https://elsewhere.test"
	logout := base()
	logout["events"] = map[string]any{backchannelEvent: map[string]any{}}
	noSub := base()
	delete(noSub, "sub")
	for name, raw := range map[string]string{
		"other issuer":       sign(t, p, other, nil),
		"logout token":       sign(t, p, logout, nil),
		"typed logout token": sign(t, p, base(), map[string]any{"typ": "logout+jwt"}),
		"no subject":         sign(t, p, noSub, nil),
	} {
		if _, err := p.hintSubject(ctx, raw); err == nil {
			t.Errorf("%s accepted as id_token_hint", name)
		}
	}
}

// A signing key retired by a rotation keeps verifying; once the new keys sign, a session that
// names the old key signs with the new key of the same algorithm.
func TestRetiredKeySignsWithSuccessorOfSameAlg(t *testing.T) {
	e := newOutboxEnv(t, nil)
	p, ctx := e.p, e.ctx
	oldES := p.keys.KID(AlgES256)
	rot, err := p.keys.Rotate(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultKeyActivationDelay)
	raw, _, err := signer{keys: p.keys}.Generate(ctx, jwt.MapClaims{"iss": p.cfg.Issuer, "sub": "s",
		"exp": time.Now().Add(time.Minute).Unix()}, &jwt.Headers{Extra: map[string]any{"kid": oldES}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer{keys: p.keys}.Decode(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["kid"] != rot.KIDs[1] || tok.Header["alg"] != AlgES256 {
		t.Fatalf("signed with %v/%v, want the new ES256 key %s", tok.Header["kid"], tok.Header["alg"], rot.KIDs[1])
	}
}
