package hardening

import (
	"crypto/rand"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/internal/testpg"
)

// freshPostgres: an empty PostgreSQL schema for this test (skipped without one).
func freshPostgres(t *testing.T) string { return testpg.Schema(t, "keyward_hardening") }

// signInAttempts posts n sign-in begins from 127.0.0.1, alternating over the replicas, and
// returns how many the rate limit let through (anything but 429).
func signInAttempts(t *testing.T, n int, replicas ...*testenv.Env) int {
	t.Helper()
	through := 0
	for i := range n {
		env := replicas[i%len(replicas)]
		a := do(t, http.MethodPost, env.Issuer+"/webauthn/login/begin", "{}", http.Header{"Content-Type": {"application/json"}})
		if a.status == http.StatusTooManyRequests {
			if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("429 with Retry-After %q", a.header.Get("Retry-After"))
			}
			continue
		}
		through++
	}
	return through
}

func replicasOn(t *testing.T, database, rateLimitStore string) (*testenv.Env, *testenv.Env) {
	secret := make([]byte, 32) // replicas share the master secret, as in production
	_, _ = rand.Read(secret)
	configure := func(c *app.Config) {
		c.Database, c.Secret = database, secret
		c.Recovery.SignInPerMinute, c.Recovery.SignInBurst = 1, 10
		c.Limits.RateLimitStore = rateLimitStore
	}
	return testenv.Start(t, testenv.Options{NoAdmin: true, Configure: configure}),
		testenv.Start(t, testenv.Options{NoAdmin: true, Configure: configure})
}

// TestRT01_RateLimitBudgetSharedAcrossReplicas: two Keyward instances on one PostgreSQL give
// one address a single sign-in budget (burst 10), not one per replica; with in-process
// buckets the same two would let through twice as many, which is what the shared store fixes.
func TestRT01_RateLimitBudgetSharedAcrossReplicas(t *testing.T) {
	t.Run("store", func(t *testing.T) {
		a, b := replicasOn(t, freshPostgres(t), "auto")
		if got := signInAttempts(t, 40, a, b); got != 10 {
			t.Fatalf("two replicas let %d sign-in attempts through, want the shared burst of 10", got)
		}
		// Time moves on for both: the shared bucket refills by one per minute.
		a.Clock.Advance(3 * time.Minute)
		b.Clock.Advance(3 * time.Minute)
		if got := signInAttempts(t, 10, b, a); got != 3 {
			t.Fatalf("after 3 minutes %d attempts got through, want 3", got)
		}
	})
	t.Run("memory", func(t *testing.T) {
		a, b := replicasOn(t, freshPostgres(t), "memory")
		if got := signInAttempts(t, 40, a, b); got != 20 {
			t.Fatalf("in-process buckets let %d through, want 10 per replica", got)
		}
	})
}

// TestRT01_SharedBucketsOnSQLite: rate_limit_store "store" on SQLite keeps the buckets in the
// database too: a restart (nothing in memory survives) does not reset an address's budget.
func TestRT01_SharedBucketsOnSQLite(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoAdmin: true, Configure: func(c *app.Config) {
		c.Recovery.SignInPerMinute, c.Recovery.SignInBurst = 1, 5
		c.Limits.RateLimitStore = "store"
	}})
	if got := signInAttempts(t, 8, env); got != 5 {
		t.Fatalf("%d attempts through, want the burst of 5", got)
	}
	env.Restart()
	if got := signInAttempts(t, 3, env); got != 0 {
		t.Fatalf("%d attempts through after a restart, want 0: the budget lives in the database", got)
	}
}
