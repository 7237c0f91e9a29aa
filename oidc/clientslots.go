package oidc

import (
	"context"
	"fmt"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

// ClientSlots bounds the requests one OAuth client has in flight (RL-09), so one client
// cannot starve the others. The HTTP layer puts one per request into the context; a client is
// charged only once it has authenticated, because a client_id that anyone can write into a
// request would let anyone use up another client's slots. Public clients prove nothing about
// who is calling, so they are never charged: the per-address cap covers them.
type ClientSlots interface {
	// Take charges the request to clientID; false when the client is at its cap.
	Take(clientID string) bool
}

type clientSlotsKey struct{}

// WithClientSlots returns ctx carrying s for the request's client authentication.
func WithClientSlots(ctx context.Context, s ClientSlots) context.Context {
	return context.WithValue(ctx, clientSlotsKey{}, s)
}

// errClientBusy answers like an unavailable store: 503 temporarily_unavailable, Retry-After.
var errClientBusy = fmt.Errorf("oidc: the client has too many requests in flight: %w", store.ErrUnavailable)

// chargeClient charges an authenticated confidential client's request to its slots.
func chargeClient(ctx context.Context, c fosite.Client) error {
	s, _ := ctx.Value(clientSlotsKey{}).(ClientSlots)
	if s == nil || c.IsPublic() || s.Take(c.GetID()) {
		return nil
	}
	return errClientBusy
}
