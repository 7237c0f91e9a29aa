package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/store"
)

// Back-channel logout delivery from the outbox (Back-Channel Logout 1.0 §2.5, RL-11).
//
// EndSession writes one message per client in the logout's transaction; the loop below claims
// due messages (a lease, so several replicas never post one message at once and a replica
// that dies mid-attempt leaves it due again), signs a fresh logout token per attempt, POSTs
// it, and records the outcome: delivered on 200/204; on a recoverable failure (network error,
// timeout, 5xx, 429) pending again after the next BackchannelRetryDelays wait; abandoned on any
// other answer (a 4xx is the relying app's final word), after the last retry, or once the
// message is older than BackchannelMaxAge.

// deliveryBatch is how many messages one pass claims; a full batch starts the next pass at
// once.
const deliveryBatch = 32

// EventBackchannelAbandoned is the audit event of a logout Keyward gave up delivering.
const EventBackchannelAbandoned = "logout.backchannel_abandoned"

// attemptTimeout bounds one POST: the client's own timeout, or 5s without one, so a relying
// app that never answers cannot hold a sender.
func (p *Provider) attemptTimeout() time.Duration {
	if t := p.cfg.BackchannelClient.Timeout; t > 0 {
		return t
	}
	return 5 * time.Second
}

// lease is how long a claim holds a message: well past one attempt, so a slow attempt is not
// claimed again by another replica while it still runs.
func (p *Provider) lease() time.Duration { return max(time.Minute, 2*p.attemptTimeout()) }

// wakeDelivery tells this replica's loop that messages are due, so a logout is delivered at
// once rather than at the next poll. It never blocks: one pending wake-up is enough.
func (p *Provider) wakeDelivery() {
	select {
	case p.bclWake <- struct{}{}:
	default:
	}
}

// RunLogoutDelivery delivers due back-channel logouts until ctx ends: after each logout on
// this replica and every BackchannelPollInterval (for messages queued by other replicas and
// for retries). Safe to run on every replica at once.
func (p *Provider) RunLogoutDelivery(ctx context.Context) {
	t := time.NewTicker(p.cfg.BackchannelPollInterval)
	defer t.Stop()
	for {
		n, err := p.DeliverLogouts(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.WarnContext(ctx, "back-channel logout delivery failed", "err", err.Error())
		}
		if err == nil && n == deliveryBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-p.bclWake:
		case <-t.C:
		}
	}
}

// DeliverLogouts makes one pass: it claims the messages due now (by the injected clock),
// attempts each once, concurrently, and records the outcomes. It returns how many it
// attempted. Tests call it to drive delivery step by step.
func (p *Provider) DeliverLogouts(ctx context.Context) (int, error) {
	now := p.now().UTC()
	claim := randomID()
	msgs, err := p.st.ClaimLogouts(ctx, now, now.Add(p.lease()), claim, deliveryBatch)
	if err != nil {
		return 0, fmt.Errorf("oidc: claim back-channel logouts: %w", err)
	}
	var wg sync.WaitGroup
	for i := range msgs {
		wg.Go(func() { p.attemptLogout(ctx, &msgs[i], claim) })
	}
	wg.Wait()
	return len(msgs), nil
}

// PurgeLogouts drops delivered and abandoned messages older than BackchannelRetention (the
// purge job calls it); pending ones stay until they finish.
func (p *Provider) PurgeLogouts(ctx context.Context) (int64, error) {
	return p.st.PurgeLogouts(ctx, p.now().UTC().Add(-p.cfg.BackchannelRetention))
}

func (p *Provider) attemptLogout(ctx context.Context, m *store.LogoutMessage, claim string) {
	retry, err := p.postLogout(ctx, m)
	now := p.now().UTC()
	status, next, lastErr := store.LogoutDelivered, now, ""
	if err != nil {
		lastErr, status = err.Error(), store.LogoutAbandoned
		delays := p.cfg.BackchannelRetryDelays
		if retry && m.Attempts <= len(delays) && now.Sub(m.CreatedAt) < p.cfg.BackchannelMaxAge {
			status, next = store.LogoutPending, now.Add(delays[m.Attempts-1])
		}
	}
	if err := p.st.FinishLogout(ctx, m.ID, claim, status, next, lastErr, now); err != nil {
		// ErrNotFound: the lease ran out and another sender holds the message now; its
		// outcome is the one that counts.
		p.log.WarnContext(ctx, "back-channel logout outcome not recorded", "client_id", m.ClientID,
			"message_id", m.ID, "err", err.Error())
		return
	}
	switch status {
	case store.LogoutPending:
		p.log.InfoContext(ctx, "back-channel logout will be retried", "client_id", m.ClientID, "message_id", m.ID,
			"attempts", m.Attempts, "next_attempt_at", next, "err", lastErr)
	case store.LogoutAbandoned:
		p.abandoned(ctx, m, lastErr, now)
	}
}

// abandoned records the give-up in the audit log and the server log: which client, whose
// session, how many attempts and why; never the token.
func (p *Provider) abandoned(ctx context.Context, m *store.LogoutMessage, lastErr string, now time.Time) {
	detail, _ := json.Marshal(map[string]any{"message_id": m.ID, "attempts": m.Attempts, "last_error": lastErr})
	ev := store.AuditEvent{Time: now, Event: EventBackchannelAbandoned, AccountID: m.Subject, ClientID: m.ClientID,
		Result: "abandoned", Detail: detail}
	if err := p.st.AppendAudit(ctx, &ev); err != nil {
		p.log.WarnContext(ctx, "audit append failed", "event", ev.Event, "err", err.Error())
	}
	p.log.WarnContext(ctx, "back-channel logout abandoned", "client_id", m.ClientID, "message_id", m.ID,
		"attempts", m.Attempts, "err", lastErr)
}

// errClientGone abandons a message whose client was deleted since the logout.
var errClientGone = errors.New("the client is no longer registered")

// postLogout makes one attempt. Back-Channel Logout §2.5: retry only what may succeed later
// (network errors, timeouts, 5xx, 429); any other answer is the client's final one.
func (p *Provider) postLogout(ctx context.Context, m *store.LogoutMessage) (retry bool, err error) {
	sc, err := p.st.GetClient(ctx, m.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return false, errClientGone
	}
	if err != nil {
		return true, err
	}
	tok, err := p.logoutToken(ctx, toFositeClient(sc), m.ID, m.SID, m.Subject)
	if err != nil {
		return true, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.attemptTimeout())
	defer cancel()
	body := url.Values{"logout_token": {tok}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URI, strings.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.cfg.BackchannelClient.Do(req)
	if err != nil {
		return true, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("status %d", resp.StatusCode)
	}
	return false, fmt.Errorf("status %d", resp.StatusCode)
}
