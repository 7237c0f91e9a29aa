package oidc

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

func advanceTo(c *fakeClock, t time.Time) { c.Advance(t.Sub(c.Now())) }

// publishedKIDs is the kid list of the JWKS document the replica serves.
func publishedKIDs(t *testing.T, k *Keys) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, jk := range set.Keys {
		kids = append(kids, jk.KeyID)
	}
	return kids
}

// signedKID signs an ES256 token the way an ID token is signed (the session names the kid
// KID gave it) and returns the kid the token carries, after checking the replica verifies it.
func signedKID(t *testing.T, p *Provider) string {
	t.Helper()
	ctx := context.Background()
	s := signer{keys: p.keys}
	raw, _, err := s.Generate(ctx, jwt.MapClaims{"iss": p.cfg.Issuer, "sub": "s", "exp": time.Now().Add(time.Hour).Unix()},
		&jwt.Headers{Extra: map[string]any{"kid": p.keys.KID(AlgES256)}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Decode(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	if kid != p.keys.KID(AlgES256) {
		t.Fatalf("token signed with %s while KID says %s", kid, p.keys.KID(AlgES256))
	}
	return kid
}

// RL-06 across replicas: two Providers on one database (a SQLite file, and PostgreSQL when
// KEYWARD_TEST_POSTGRES is set). After A rotates, B, which has not reloaded, neither publishes
// nor uses the new keys; at its reload (a minute later) it publishes them while both replicas
// still sign with the old keys; only once the activation delay has passed do both sign with
// the new keys, which both then verify.
func TestRL06_OtherReplicaPublishesNewKeyBeforeItSigns(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k.db")
		otherReplicaPublishesFirst(t, func() (store.Store, error) { return sqlite.Open(context.Background(), path, sqlite.Options{}) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := freshPostgresSchema(t)
		otherReplicaPublishesFirst(t, func() (store.Store, error) { return postgres.Open(context.Background(), dsn, postgres.Options{}) })
	})
}

func otherReplicaPublishesFirst(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Now().UTC().Truncate(time.Second)}
	a := replicaOn(t, open, clock)
	b := replicaOn(t, open, clock)
	clock.Advance(time.Hour) // the first keys are long in use
	oldES := a.keys.KID(AlgES256)
	if b.keys.KID(AlgES256) != oldES {
		t.Fatal("the replicas start with different keys")
	}

	rot, err := a.RotateKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newES := rot.KIDs[1]
	if !rot.SignsFrom.Equal(clock.Now().Add(DefaultKeyActivationDelay)) {
		t.Fatalf("new keys sign from %v, want %v after now", rot.SignsFrom, DefaultKeyActivationDelay)
	}
	if !slices.Contains(publishedKIDs(t, a.keys), newES) || slices.Contains(publishedKIDs(t, b.keys), newES) {
		t.Fatal("right after the rotation A should publish the new key and B (not reloaded) not yet")
	}
	for name, p := range map[string]*Provider{"A": a, "B": b} {
		if kid := signedKID(t, p); kid != oldES {
			t.Fatalf("replica %s signs with %s right after the rotation, want the old key", name, kid)
		}
	}

	clock.Advance(keyReloadInterval)
	if err := b.keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if kids := publishedKIDs(t, b.keys); !slices.Contains(kids, newES) || !slices.Contains(kids, oldES) {
		t.Fatalf("B after its reload publishes %v, want the old and the new key", kids)
	}
	clock.Advance(DefaultKeyActivationDelay - keyReloadInterval - time.Microsecond)
	for name, p := range map[string]*Provider{"A": a, "B": b} {
		if kid := signedKID(t, p); kid != oldES {
			t.Fatalf("replica %s signs with %s before the delay ended, want the old key", name, kid)
		}
	}

	// No reload needed at the activation: the time is in the key rows both replicas hold.
	clock.Advance(time.Microsecond)
	for name, p := range map[string]*Provider{"A": a, "B": b} {
		if kid := signedKID(t, p); kid != newES {
			t.Fatalf("replica %s signs with %s after the delay, want the new key %s", name, kid, newES)
		}
		if !slices.Contains(publishedKIDs(t, p.keys), oldES) {
			t.Fatalf("replica %s stopped publishing the old key when it stopped signing", name)
		}
	}
}

// replicaOn opens a store with open and builds a Provider on it: one replica.
func replicaOn(t *testing.T, open func() (store.Store, error), clock *fakeClock) *Provider {
	t.Helper()
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := NewKeys(context.Background(), st, make([]byte, 32), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	p, err := New(Config{Issuer: "http://localhost:1", GlobalSecret: secret, ClientSecretKey: secret}, st, keys,
		slog.New(slog.DiscardHandler), clock.Now,
		func(w http.ResponseWriter, _ *http.Request, status int, _, _ string) { w.WriteHeader(status) })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freshPostgresSchema: an empty PostgreSQL schema for this test (skipped without one).
func freshPostgresSchema(t *testing.T) string { return testpg.Schema(t, "keyward_oidc_keys") }

// A fresh database has no older key to wait behind: its first keys sign at once.
func TestKeysFirstKeysSignAtOnce(t *testing.T) {
	e := newOutboxEnv(t, nil)
	states, err := e.p.keys.KeyStates(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || states[0].State != KeyActive || states[1].State != KeyActive {
		t.Fatalf("fresh key states %+v, want two active keys", states)
	}
	if kid := signedKID(t, e.p); kid != e.p.keys.KID(AlgES256) || kid == "" {
		t.Fatalf("first key does not sign: %q", kid)
	}
}

// Two rotations within the delay hand over in order: each key signs until its successor's
// delay ends, and the states the console shows say so at every step. Retention counts from
// when a key stops signing.
func TestKeysRotateTwiceWithinDelay(t *testing.T) {
	e := newOutboxEnv(t, nil)
	k := e.p.keys
	e.clock.Advance(time.Hour)
	first := k.KID(AlgES256)
	t0 := e.clock.Now()
	r1, err := k.Rotate(e.ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	r2, err := k.Rotate(e.ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultKeyActivationDelay
	want := func(step string, signing string, states map[string]string) {
		t.Helper()
		if got := signedKID(t, e.p); got != signing {
			t.Fatalf("%s: signs with %s, want %s", step, got, signing)
		}
		got, err := k.KeyStates(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			if w, ok := states[s.KID]; ok && s.State != w {
				t.Errorf("%s: key %s is %s, want %s (%+v)", step, s.KID, s.State, w, s)
			}
			if s.State == KeyPending && !s.SignsFrom.Equal(s.CreatedAt.Add(d)) {
				t.Errorf("%s: pending key %s signs from %v", step, s.KID, s.SignsFrom)
			}
		}
	}
	want("after both rotations", first, map[string]string{first: KeyActive, r1.KIDs[1]: KeyPending, r2.KIDs[1]: KeyPending})
	advanceTo(e.clock, r1.SignsFrom)
	want("at the first delay's end", r1.KIDs[1], map[string]string{first: KeyRetired, r1.KIDs[1]: KeyActive, r2.KIDs[1]: KeyPending})
	advanceTo(e.clock, r2.SignsFrom)
	want("at the second delay's end", r2.KIDs[1], map[string]string{first: KeyRetired, r1.KIDs[1]: KeyRetired, r2.KIDs[1]: KeyActive})
	advanceTo(e.clock, t0.Add(d+time.Hour))
	want("after the first key's retention", r2.KIDs[1], map[string]string{first: KeyExpired, r1.KIDs[1]: KeyRetired})
	if err := k.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	if kids := publishedKIDs(t, k); slices.Contains(kids, first) || !slices.Contains(kids, r1.KIDs[1]) {
		t.Fatalf("published %v after the first key's retention", kids)
	}
}

// A delay other than the default is the one used (internal/app sets it from
// tokens.key_activation_delay through Config.KeyActivationDelay), and RotateIfDue measures
// the interval from a key's creation.
func TestKeysConfiguredActivationDelay(t *testing.T) {
	e := newOutboxEnv(t, nil)
	e.p.keys.SetActivationDelay(10 * time.Minute)
	e.clock.Advance(time.Hour)
	rot, err := e.p.RotateKeys(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clock.Now().Add(10 * time.Minute); !rot.SignsFrom.Equal(want) || e.p.KeyActivationDelay() != 10*time.Minute {
		t.Fatalf("signs from %v, want %v", rot.SignsFrom, want)
	}
	e.clock.Advance(10*time.Minute - time.Second)
	if kid := signedKID(t, e.p); kid == rot.KIDs[1] {
		t.Fatal("the new key signs before the configured delay")
	}
	e.clock.Advance(time.Second)
	if kid := signedKID(t, e.p); kid != rot.KIDs[1] {
		t.Fatalf("signs with %s after the configured delay, want %s", kid, rot.KIDs[1])
	}
	if rotated, err := e.p.keys.RotateIfDue(e.ctx, time.Hour, time.Hour); err != nil || rotated {
		t.Fatalf("RotateIfDue ten minutes after a rotation: %v %v", rotated, err)
	}
}
