package main

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/oidc"
)

// TestKeysRotate: `keyward keys rotate` goes through oidc.Provider.RotateKeys, the path the
// console's "Rotate now" takes: it prints the new kids, published at once, and when they start
// signing (RL-06); the keys they replace stay stored with the date they stop signing, which is
// that time, and the later date they leave the JWKS.
func TestKeysRotate(t *testing.T) {
	e := newCLIEnv(t, "")
	kidsRE := regexp.MustCompile(`new keys (\S+) \(RS256\) and (\S+) \(ES256\) published, sign from (\d\d:\d\d) `)
	var printed [][]string
	for range 2 {
		out, err := e.run("keys", "rotate")
		if err != nil {
			t.Fatalf("keys rotate: %v\n%s", err, out)
		}
		m := kidsRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("keys rotate printed %q", out)
		}
		printed = append(printed, m[1:])
		// The CLI runs on the wall clock: the printed time is the delay from now, give or
		// take the minute boundary the run may cross.
		from := time.Now().Add(oidc.DefaultKeyActivationDelay)
		if m[3] != from.Format("15:04") && m[3] != from.Add(-time.Minute).Format("15:04") {
			t.Errorf("keys rotate says the new keys sign from %s, want about %s", m[3], from.Format("15:04"))
		}
	}
	if printed[0][0] == printed[1][0] || printed[0][1] == printed[1][1] {
		t.Fatalf("two rotations printed the same kids: %v", printed)
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, "sqlite:"+filepath.Join(e.dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Unretired: the last rotation's keys, which no rotation has scheduled to retire yet.
	unretired := map[string]bool{}
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			unretired[k.ID] = true
		} else if !k.ExpiresAt.After(k.RetiredAt) {
			t.Errorf("retired key %s has no time left in the JWKS", k.ID)
		} else if !k.RetiredAt.After(k.CreatedAt.Add(oidc.DefaultKeyActivationDelay - time.Second)) {
			t.Errorf("key %s retires at %v, before a successor could sign", k.ID, k.RetiredAt)
		}
	}
	if len(keys) != 6 || len(unretired) != 2 || !unretired[printed[1][0]] || !unretired[printed[1][1]] {
		t.Fatalf("%d keys, unretired %v; want 6 keys with the last printed kids %v unretired", len(keys), unretired, printed[1])
	}
}
