package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// The benchmarks mirror store/sqlite's, on the same data and traffic, so the two backends'
// numbers compare directly. signins/s is wall clock and includes the server's work; on a
// shared machine it swings with the neighbours' load.

const benchAccounts = 1000

var benchNow = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

// benchStore opens a store with benchAccounts accounts, each with one passkey.
func benchStore(b *testing.B) *Store {
	b.Helper()
	ctx := b.Context()
	s := openTest(b, freshSchema(b), Options{})
	err := store.WithTx(ctx, s, func(q store.Queries) error {
		for i := range benchAccounts {
			a := &store.Account{ID: fmt.Sprintf("acc-%d", i), Email: fmt.Sprintf("u%d@example.test", i),
				UserHandle: benchHandle(i), CreatedAt: benchNow, UpdatedAt: benchNow}
			if err := q.CreateAccount(ctx, a); err != nil {
				return err
			}
			c := &store.Credential{ID: fmt.Appendf(nil, "cred-%d", i), AccountID: a.ID,
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
	if _, err := s.pool.Exec(ctx, "ANALYZE"); err != nil { // plans as on a live database
		b.Fatal(err)
	}
	return s
}

func benchHandle(i int) []byte { return fmt.Appendf(nil, "%032d", i) }

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
	for b.Loop() {
		n++
		if err := signIn(ctx, s, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
}

func BenchmarkSignInStoreOpsParallel(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	var n atomic.Int64
	b.SetParallelism(32) // with GOMAXPROCS=2, 64 goroutines sharing the pool's 10 connections
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := signIn(ctx, s, n.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
}

func BenchmarkGetSession(b *testing.B) {
	s := benchStore(b)
	for i := range benchAccounts {
		if err := signIn(b.Context(), s, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if _, err := s.GetSession(ctx, fmt.Sprintf("sess-%d", i%benchAccounts)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
