package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

const benchAccounts = 1000

var benchNow = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

// benchStore opens a store with benchAccounts accounts, each with one passkey.
func benchStore(b *testing.B) *Store {
	b.Helper()
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	err = store.WithTx(ctx, s, func(q store.Queries) error {
		for i := range benchAccounts {
			a := &store.Account{ID: fmt.Sprintf("acc-%d", i), Email: fmt.Sprintf("u%d@example.test", i),
				UserHandle: benchHandle(i), CreatedAt: benchNow, UpdatedAt: benchNow}
			if err := q.CreateAccount(ctx, a); err != nil {
				return err
			}
			c := &store.Credential{ID: []byte(fmt.Sprintf("cred-%d", i)), AccountID: a.ID,
				PublicKey: make([]byte, 77), AttestationType: "none", AAGUID: make([]byte, 16),
				Transports: []string{"internal", "hybrid"}, UserPresent: true, UserVerified: true,
				CreatedAt: benchNow}
			if err := q.CreateCredential(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// cpuTime is the process's user plus system CPU time so far. On a shared machine wall-clock
// numbers swing with the neighbours' load; CPU per operation does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-µs/op, measured from start, to b's results.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

func benchHandle(i int) []byte { return []byte(fmt.Sprintf("%032d", i)) }

// signIn is the store traffic of one passkey sign-in: the challenge stored at begin, then one
// transaction at finish.
func signIn(ctx context.Context, s store.Store, n int64) error {
	i := int(n % benchAccounts)
	sid := fmt.Sprintf("pre-%d", n)
	c := &store.Ceremony{SessionID: sid, Purpose: "login", Data: make([]byte, 300),
		CreatedAt: benchNow, ExpiresAt: benchNow.Add(5 * time.Minute)}
	if err := s.PutCeremony(ctx, c); err != nil {
		return err
	}
	return store.WithTx(ctx, s, func(q store.Queries) error {
		if _, err := q.ConsumeCeremony(ctx, sid, "login", benchNow); err != nil {
			return err
		}
		a, err := q.GetAccountByUserHandle(ctx, benchHandle(i))
		if err != nil {
			return err
		}
		creds, err := q.ListCredentials(ctx, a.ID)
		if err != nil {
			return err
		}
		cred := creds[0]
		cred.SignCount++
		cred.LastUsedAt, cred.LastUsedIP, cred.LastUsedUA = benchNow, "192.0.2.1", "bench"
		if err := q.UpdateCredential(ctx, &cred); err != nil {
			return err
		}
		if err := q.AppendAudit(ctx, &store.AuditEvent{Time: benchNow, Event: "login.succeeded",
			AccountID: a.ID, IP: "192.0.2.1", UserAgent: "bench", Result: "ok"}); err != nil {
			return err
		}
		return q.CreateSession(ctx, &store.Session{ID: fmt.Sprintf("sess-%d", n), AccountID: a.ID,
			AuthTime: benchNow, AMR: []string{"hwk", "user"}, ACR: "aal2", CredentialID: cred.ID,
			CreatedAt: benchNow, LastSeenAt: benchNow, ExpiresAt: benchNow.Add(24 * time.Hour),
			IP: "192.0.2.1", UserAgent: "bench"})
	})
}

func BenchmarkSignInStoreOps(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	var n int64
	start := cpuTime()
	for b.Loop() {
		n++
		if err := signIn(ctx, s, n); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
}

func BenchmarkSignInStoreOpsParallel(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	var n atomic.Int64
	b.SetParallelism(32) // with GOMAXPROCS=2, 64 goroutines: the budget's concurrency
	b.ResetTimer()
	start := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := signIn(ctx, s, n.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCPU(b, start)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
}

// benchSessions stores one session per account for the GetSession benchmarks.
func benchSessions(b *testing.B, s *Store) {
	b.Helper()
	for i := range benchAccounts {
		if err := signIn(b.Context(), s, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetSession(b *testing.B) {
	s := benchStore(b)
	benchSessions(b, s)
	ctx := b.Context()
	i := 0
	start := cpuTime()
	for b.Loop() {
		if _, err := s.GetSession(ctx, fmt.Sprintf("sess-%d", i%benchAccounts)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportCPU(b, start)
}

func BenchmarkGetSessionParallel(b *testing.B) {
	s := benchStore(b)
	benchSessions(b, s)
	ctx := b.Context()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	start := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetSession(ctx, fmt.Sprintf("sess-%d", n.Add(1)%benchAccounts)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCPU(b, start)
}
