package oidc

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/store/sqlite"
)

// TestNewKeysConcurrentStartsAgreeOnOneKeySet: replicas starting together on an empty
// database must not each publish their own keys (a token signed by one replica would then fail
// against the other's JWKS until the next reload).
func TestNewKeysConcurrentStartsAgreeOnOneKeySet(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kek := make([]byte, 32)
	var wg sync.WaitGroup
	kids := make([]string, 4)
	for i := range kids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			k, err := NewKeys(ctx, st, kek, time.Now)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = k.KID(AlgRS256) + "/" + k.KID(AlgES256)
		}(i)
	}
	wg.Wait()
	rows, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d signing keys stored, want one RS256 and one ES256", len(rows))
	}
	for _, k := range kids[1:] {
		if k != kids[0] {
			t.Fatalf("starts disagree on the active keys: %v", kids)
		}
	}
}
