package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward/store"
)

func TestMapErr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want error
	}{
		{pgx.ErrNoRows, store.ErrNotFound},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint \"accounts_email_key\""}, store.ErrAlreadyExists},
		{&pgconn.PgError{Code: "23503"}, store.ErrNotFound},
		{&pgconn.PgError{Code: "40001"}, store.ErrConflict},
		{&pgconn.PgError{Code: "40P01"}, store.ErrConflict},
		{&pgconn.PgError{Code: "08006"}, store.ErrUnavailable},
		{&pgconn.PgError{Code: "57P01"}, store.ErrUnavailable},
		{&pgconn.PgError{Code: "53300"}, store.ErrUnavailable},
		{&pgconn.PgError{Code: "3D000"}, store.ErrUnavailable},
		{&pgconn.PgError{Code: "55P03"}, store.ErrUnavailable},
		{context.DeadlineExceeded, store.ErrUnavailable},
		{errPoolClosed, store.ErrUnavailable},
		{fmt.Errorf("read: %w", net.ErrClosed), store.ErrUnavailable},
	} {
		got := mapErr("get thing", tc.err)
		if !errors.Is(got, tc.want) {
			t.Errorf("mapErr(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if !strings.HasPrefix(got.Error(), "postgres: get thing: ") {
			t.Errorf("mapErr(%v) = %q: no operation prefix", tc.err, got)
		}
	}
	// The sentinel cases carry no server text: a unique violation names the key's values in
	// its detail, and a printed error must not leak an email.
	got := mapErr("create account", &pgconn.PgError{Code: "23505", Message: "dup", Detail: "Key (email)=(a@b.test)"})
	if strings.Contains(got.Error(), "a@b.test") || strings.Contains(got.Error(), "dup") {
		t.Errorf("mapErr leaks the server's text: %q", got)
	}
	if mapErr("x", nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
	for _, err := range []error{context.Canceled, &pgconn.PgError{Code: "42601"}} {
		if got := mapErr("x", err); errors.Is(got, store.ErrUnavailable) || !errors.Is(got, err) {
			t.Errorf("mapErr(%v) = %v, want it wrapped as is", err, got)
		}
	}
}

// A DSN to a port nobody listens on fails at once with ErrUnavailable.
func TestOpenRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = Open(t.Context(), "postgres://postgres@"+addr+"/postgres?sslmode=disable", Options{ConnectTimeout: 200 * time.Millisecond})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open on a closed port = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Open on a closed port took %v", d)
	}
}

// A server that accepts and never answers is given ConnectTimeout, not the 5s default.
func TestOpenConnectTimeout(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	start := time.Now()
	_, err = Open(t.Context(), "postgres://postgres@"+l.Addr().String()+"/postgres?sslmode=disable",
		Options{ConnectTimeout: 200 * time.Millisecond})
	d := time.Since(start)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open on a silent server = %v, want ErrUnavailable", err)
	}
	if d < 150*time.Millisecond || d > 3*time.Second {
		t.Fatalf("Open on a silent server gave up after %v, want about 200ms", d)
	}
}

func TestPingAfterDatabaseDropped(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	name, dsn := freshDatabase(t)
	s := openTest(t, dsn, Options{})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	admin(t, "DROP DATABASE "+name+" WITH (FORCE)")
	// The first Ping meets the connection the server terminated, the second a failed connect.
	for i := range 2 {
		if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Ping %d after DROP DATABASE = %v, want ErrUnavailable", i+1, err)
		}
	}
	if _, err := s.GetAccount(ctx, "x"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetAccount after DROP DATABASE = %v, want ErrUnavailable", err)
	}
}

// A statement that cannot get a connection within ConnectTimeout is unavailable, and the
// store recovers once a connection is free.
func TestPoolExhausted(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, freshSchema(t), Options{MaxConns: 1, ConnectTimeout: time.Second})
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountAccounts(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CountAccounts with the only connection taken = %v, want ErrUnavailable", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountAccounts(ctx); err != nil {
		t.Fatalf("CountAccounts after the connection came back: %v", err)
	}
}

// A statement stuck behind a lock past its context's deadline is unavailable; the
// connection it broke is replaced.
func TestDeadlineIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, freshSchema(t), Options{MaxConns: 2})
	a := &store.Account{ID: "a", Email: "a@example.test", UserHandle: []byte("a"), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // after the test's Rollback, a no-op
	if _, err := tx.GetAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := s.UpdateAccount(short, a); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("UpdateAccount blocked past its deadline = %v, want ErrUnavailable", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for range 3 { // more calls than connections: a broken one would surface here
		if err := s.UpdateAccount(ctx, a); err != nil {
			t.Fatalf("UpdateAccount after the deadline: %v", err)
		}
	}
}

// Two transactions that each hold the row the other wants: PostgreSQL aborts one with
// deadlock_detected, which the store reports as ErrConflict so that WithTx retries it.
func TestDeadlockIsConflict(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, freshSchema(t), Options{})
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		acc := &store.Account{ID: id, Email: id + "@example.test", UserHandle: []byte(id), CreatedAt: now, UpdatedAt: now}
		if err := s.CreateAccount(ctx, acc); err != nil {
			t.Fatal(err)
		}
	}
	var txs [2]store.Tx
	for i, id := range []string{"a", "b"} {
		tx, err := s.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback() //nolint:errcheck // the victim's and the winner's are no-ops by then
		if _, err := tx.GetAccount(ctx, id); err != nil {
			t.Fatal(err)
		}
		txs[i] = tx
	}
	errs := make(chan error, 2)
	for i, other := range []string{"b", "a"} {
		go func() {
			_, err := txs[i].GetAccount(ctx, other)
			if err != nil {
				txs[i].Rollback() //nolint:errcheck // frees the winner; the error is err
			}
			errs <- err
		}()
	}
	var conflicts, ok int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
			conflicts++
		default:
			t.Fatalf("cross lock: %v", err)
		}
	}
	if conflicts != 1 || ok != 1 {
		t.Fatalf("deadlock: %d conflicts and %d successes, want 1 and 1", conflicts, ok)
	}
}
