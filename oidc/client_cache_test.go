package oidc

import (
	"context"
	"testing"

	"github.com/keyward/keyward/store"
)

// A change made by another process (the CLI, another replica: here a second store on the same
// file) is seen once clientCacheTTL has passed on the injected clock, not before; a change
// this process announces with ForgetClient is seen at once. Unknown ids are not kept.
func TestClientCacheTTLAndForget(t *testing.T) {
	e := newOutboxEnv(t, nil)
	_, other := e.provider(nil)
	now := e.clock.Now()
	if err := other.CreateClient(e.ctx, &store.Client{ID: "app", Name: "One", RedirectURIs: []string{"https://rp.test/cb"},
		Public: true, Source: "cli", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	name := func() string {
		t.Helper()
		c, err := e.p.storage.clients.get(e.ctx, "app")
		if err != nil {
			return "error: " + err.Error()
		}
		return c.Name
	}
	rename := func(to string) {
		t.Helper()
		c, err := other.GetClient(e.ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		c.Name = to
		if err := other.UpdateClient(e.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if got := name(); got != "One" {
		t.Fatalf("first read: %q", got)
	}
	rename("Two")
	e.clock.Advance(clientCacheTTL - 1)
	if got := name(); got != "One" {
		t.Fatalf("within the TTL: %q, want the cached One", got)
	}
	e.clock.Advance(1)
	if got := name(); got != "Two" {
		t.Fatalf("after the TTL: %q, want Two", got)
	}
	rename("Three")
	e.p.ForgetClient("app")
	if got := name(); got != "Three" {
		t.Fatalf("after ForgetClient: %q, want Three", got)
	}
	if err := other.DeleteClient(e.ctx, "app"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(clientCacheTTL)
	if _, err := e.p.storage.clients.get(e.ctx, "app"); err == nil {
		t.Fatal("a deleted client still found after the TTL")
	}
	for _, id := range []string{"app", "nope-1", "nope-2"} {
		_, _ = e.p.storage.clients.get(e.ctx, id)
	}
	if n := len(e.p.storage.clients.entries); n != 0 {
		t.Fatalf("%d entries kept for clients that do not exist", n)
	}
}

// A lookup that read the row before a ForgetClient must not put its copy back: the console
// forgets after its transaction commits, and a request that read just before would otherwise
// keep the old registration for a whole TTL.
func TestClientCacheLookupRacingForgetKeepsNothing(t *testing.T) {
	e := newOutboxEnv(t, nil)
	now := e.clock.Now()
	if err := e.st.CreateClient(e.ctx, &store.Client{ID: "app", Name: "Old", RedirectURIs: []string{"https://rp.test/cb"},
		Public: true, Source: "cli", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	cc := e.p.storage.clients
	// The store read happens between the generation snapshot and the store of the result;
	// a store wrapper runs the forget exactly there.
	cc.st = forgetDuringRead{Store: e.st, forget: func() { cc.forget("app") }}
	if _, err := cc.get(e.ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, kept := cc.entries["app"]; kept {
		t.Fatal("a copy read before ForgetClient was cached")
	}
	cc.st = e.st
	if _, err := cc.get(e.ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, kept := cc.entries["app"]; !kept {
		t.Fatal("a lookup with no forget in between was not cached")
	}
}

// forgetDuringRead is the real store whose GetClient also runs forget after reading, as a
// console save committing right then would.
type forgetDuringRead struct {
	store.Store
	forget func()
}

func (f forgetDuringRead) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c, err := f.Store.GetClient(ctx, id)
	f.forget()
	return c, err
}
