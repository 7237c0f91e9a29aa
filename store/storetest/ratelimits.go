package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func take(t *testing.T, s store.Store, now time.Time, keys ...store.RateLimitKey) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := s.TakeRateLimit(context.Background(), keys, now)
	must(t, err)
	return ok, retry
}

var rateLimitTests = map[string]func(*testing.T, store.Store){
	// A bucket gives its burst, then refuses with the wait until the next token, and refills
	// at one token per Every.
	"BurstThenRefill": func(t *testing.T, s store.Store) {
		k := store.RateLimitKey{Key: "signin\x00ip:192.0.2.1", Every: time.Minute, Burst: 3}
		for i := range 3 {
			if ok, _ := take(t, s, at(0), k); !ok {
				t.Fatalf("take %d refused within the burst", i)
			}
		}
		ok, retry := take(t, s, at(0), k)
		if ok || retry != time.Minute {
			t.Fatalf("4th take: ok=%v retry=%s, want refused with 1m", ok, retry)
		}
		if ok, retry := take(t, s, at(59*time.Second), k); ok || retry != time.Second {
			t.Fatalf("after 59s: ok=%v retry=%s, want refused with 1s", ok, retry)
		}
		if ok, _ := take(t, s, at(time.Minute), k); !ok {
			t.Fatal("no token after one interval")
		}
		if ok, _ := take(t, s, at(time.Minute), k); ok {
			t.Fatal("two tokens after one interval")
		}
		// A long pause refills to the burst, never beyond it.
		for i := range 3 {
			if ok, _ := take(t, s, at(time.Hour), k); !ok {
				t.Fatalf("after an hour, take %d refused", i)
			}
		}
		if ok, _ := take(t, s, at(time.Hour), k); ok {
			t.Fatal("the bucket held more than its burst")
		}
	},
	// A refusal by one bucket takes nothing from the others, and keys are independent.
	"AllOrNothing": func(t *testing.T, s store.Store) {
		ip := store.RateLimitKey{Key: "ip:1", Every: time.Minute, Burst: 5}
		acct := store.RateLimitKey{Key: "account:x", Every: time.Minute, Burst: 2}
		for range 2 {
			if ok, _ := take(t, s, at(0), ip, acct); !ok {
				t.Fatal("refused within both bursts")
			}
		}
		if ok, _ := take(t, s, at(0), acct, ip); ok {
			t.Fatal("the empty account bucket did not refuse")
		}
		for i := range 3 {
			if ok, _ := take(t, s, at(0), ip); !ok {
				t.Fatalf("ip take %d refused: the refused call took from it", i)
			}
		}
		if ok, _ := take(t, s, at(0), store.RateLimitKey{Key: "ip:2", Every: time.Minute, Burst: 1}); !ok {
			t.Fatal("another key was limited")
		}
		if ok, _ := take(t, s, at(0)); !ok {
			t.Fatal("no keys must be allowed")
		}
	},
	"BadRule": func(t *testing.T, s store.Store) {
		for _, k := range []store.RateLimitKey{{Key: "a", Every: 0, Burst: 1}, {Key: "a", Every: time.Second, Burst: 0}} {
			if _, _, err := s.TakeRateLimit(context.Background(), []store.RateLimitKey{k}, at(0)); err == nil {
				t.Fatalf("rule %+v accepted", k)
			}
		}
		if ok, _ := take(t, s, at(0), store.RateLimitKey{Key: "a", Every: time.Second, Burst: 1}); !ok {
			t.Fatal("a refused rule left state behind")
		}
	},
	// Concurrent takes never hand out more tokens than the bucket holds.
	"ConcurrentTakes": func(t *testing.T, s store.Store) {
		k := store.RateLimitKey{Key: "token_use\x00ip:198.51.100.7", Every: time.Hour, Burst: 7}
		var granted int
		errs := race(racers, func(int) error {
			ok, _, err := s.TakeRateLimit(context.Background(), []store.RateLimitKey{k}, at(0))
			if err == nil && ok {
				return nil
			}
			if err == nil {
				return errRefused
			}
			return err
		})
		for i, err := range errs {
			switch err {
			case nil:
				granted++
			case errRefused:
			default:
				t.Fatalf("take %d: %v", i, err)
			}
		}
		if granted != k.Burst {
			t.Fatalf("%d of %d concurrent takes granted, want exactly the burst %d", granted, racers, k.Burst)
		}
	},
	"Purge": func(t *testing.T, s store.Store) {
		take(t, s, at(0), store.RateLimitKey{Key: "short", Every: time.Second, Burst: 1})
		take(t, s, at(0), store.RateLimitKey{Key: "long", Every: time.Hour, Burst: 1})
		n, err := s.PurgeRateLimits(context.Background(), at(time.Minute))
		must(t, err)
		if n != 1 {
			t.Fatalf("purged %d rows, want the one full bucket", n)
		}
		if ok, _ := take(t, s, at(time.Minute), store.RateLimitKey{Key: "long", Every: time.Hour, Burst: 1}); ok {
			t.Fatal("purge emptied a bucket still in use")
		}
	},
}

type refusedErr struct{}

func (refusedErr) Error() string { return "refused" }

var errRefused error = refusedErr{}
