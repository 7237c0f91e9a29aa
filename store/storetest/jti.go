package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

var jtiTests = map[string]func(*testing.T, store.Store){
	"UseOnceUntilExpiry": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		now, exp := at(0), at(5*time.Minute)
		known, err := s.ClientAssertionJTIKnown(ctx, "jti-1", now)
		must(t, err)
		if known {
			t.Fatal("unknown jti reported as known")
		}
		must(t, s.UseClientAssertionJTI(ctx, "jti-1", exp, now))
		wantErr(t, s.UseClientAssertionJTI(ctx, "jti-1", exp, at(time.Minute)), store.ErrAlreadyExists, "replayed jti")
		known, err = s.ClientAssertionJTIKnown(ctx, "jti-1", at(time.Minute))
		must(t, err)
		if !known {
			t.Fatal("used jti not known before its expiry")
		}
		// After its expiry the assertion itself is refused for exp, so the row may be reused.
		known, err = s.ClientAssertionJTIKnown(ctx, "jti-1", exp)
		must(t, err)
		if known {
			t.Fatal("jti still known at its expiry")
		}
		must(t, s.UseClientAssertionJTI(ctx, "jti-1", at(20*time.Minute), exp))
		wantErr(t, s.UseClientAssertionJTI(ctx, "jti-1", at(20*time.Minute), at(10*time.Minute)), store.ErrAlreadyExists, "jti replayed after take-over")
	},
	"PurgedWhenExpired": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.UseClientAssertionJTI(ctx, "old", at(time.Minute), at(0)))
		must(t, s.UseClientAssertionJTI(ctx, "live", at(time.Hour), at(0)))
		n, err := s.PurgeExpired(ctx, at(2*time.Minute))
		must(t, err)
		if n != 1 {
			t.Fatalf("PurgeExpired removed %d rows, want 1 (the expired jti)", n)
		}
		known, err := s.ClientAssertionJTIKnown(ctx, "live", at(2*time.Minute))
		must(t, err)
		if !known {
			t.Fatal("purge removed a live jti")
		}
	},
	"ConcurrentUseOneWinner": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		var wins, dup atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				err := s.UseClientAssertionJTI(ctx, "race", at(time.Hour), at(0))
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrAlreadyExists):
					dup.Add(1)
				default:
					t.Errorf("UseClientAssertionJTI: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || dup.Load() != 15 {
			t.Fatalf("16 concurrent uses of one jti: %d won, %d refused; want 1 and 15", wins.Load(), dup.Load())
		}
	},
}
