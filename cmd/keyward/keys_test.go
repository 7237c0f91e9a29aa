package main

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/keyward/keyward/internal/app"
)

// TestKeysRotate: `keyward keys rotate` goes through oidc.Provider.RotateKeys, the path the
// console's "Rotate now" takes: it prints the new kids, which are then the active keys, and
// the keys they replace stay stored, retired, with the date they leave the JWKS.
func TestKeysRotate(t *testing.T) {
	e := newCLIEnv(t, "")
	kidsRE := regexp.MustCompile(`new tokens use (\S+) \(RS256\) and (\S+) \(ES256\)`)
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
	active := map[string]bool{}
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			active[k.ID] = true
		} else if !k.ExpiresAt.After(k.RetiredAt) {
			t.Errorf("retired key %s has no time left in the JWKS", k.ID)
		}
	}
	if len(keys) != 6 || len(active) != 2 || !active[printed[1][0]] || !active[printed[1][1]] {
		t.Fatalf("%d keys, active %v; want 6 keys with the last printed kids %v active", len(keys), active, printed[1])
	}
}
