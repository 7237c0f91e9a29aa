package oidc

import (
	"context"
	"sync"
	"time"

	"github.com/keyward/keyward/store"
)

// clientCacheTTL bounds how long a change made by another process (the CLI, another replica)
// goes unseen. Changes made through this process's console drop the entry at once.
const clientCacheTTL = 5 * time.Second

// clientCache keeps the built *Client per id for clientCacheTTL on the injected clock: a
// sign-in looks the client up about nine times (fosite on every request, and every stored
// token row names its client). Only found clients are kept, so the map is bounded by the
// number of registered clients whatever ids requests carry.
type clientCache struct {
	st  store.Store
	now func() time.Time

	mu      sync.Mutex
	entries map[string]clientEntry
	// gen counts forget calls. A lookup that raced with a forget may have read the row
	// before the change committed; it must not put that stale copy back.
	gen uint64
}

type clientEntry struct {
	c       *Client
	expires time.Time
}

func newClientCache(st store.Store, now func() time.Time) *clientCache {
	return &clientCache{st: st, now: now, entries: map[string]clientEntry{}}
}

// get returns the client, shared between requests: callers must not modify it.
func (c *clientCache) get(ctx context.Context, id string) (*Client, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.c, nil
	}
	sc, err := c.st.GetClient(ctx, id)
	if err != nil {
		if ok {
			c.forget(id)
		}
		return nil, err
	}
	built := toFositeClient(sc)
	c.mu.Lock()
	if c.gen == gen {
		c.entries[id] = clientEntry{c: built, expires: now.Add(clientCacheTTL)}
	}
	c.mu.Unlock()
	return built, nil
}

func (c *clientCache) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.gen++
	c.mu.Unlock()
}

// ForgetClient drops the cached registration of a client this process has just created,
// changed or deleted (call it after the store transaction committed), so the next request
// sees the change instead of waiting out clientCacheTTL.
func (p *Provider) ForgetClient(id string) { p.storage.clients.forget(id) }
