package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/keyward/keyward/store"
)

// kindSessionGrants rows record, per OP session and client, the grants issued in that session:
// logout must reach every client that got tokens there (Back-Channel Logout §2.3) and revoke
// the grants bound to the session (§2.7). The store has no query by session, so the row is
// keyed by session and client and found by listing the clients.
const kindSessionGrants = "session_grants"

// maxTrackedGrants bounds one row; older grants beyond it are short-lived access tokens.
const maxTrackedGrants = 100

type sessionGrants struct {
	V      int          `json:"v"`
	SID    string       `json:"sid"`
	Grants []trackedReq `json:"grants"`
}

type trackedReq struct {
	RequestID string `json:"id"`
	Offline   bool   `json:"offline,omitempty"`
}

func sessionGrantsKey(sessionID, clientID string) string { return sessionID + "|" + clientID }

// trackGrant records that the OP session is issuing the grant requestID to clientID.
func (p *Provider) trackGrant(ctx context.Context, sessionID, sidClaim, accountID, clientID, requestID string, offline bool) error {
	key := sessionGrantsKey(sessionID, clientID)
	now := p.now().UTC()
	return store.WithTx(ctx, p.st, func(q store.Queries) error {
		g := sessionGrants{V: 1, SID: sidClaim}
		old, err := q.GetOAuthToken(ctx, kindSessionGrants, key)
		switch {
		case err == nil:
			if err := json.Unmarshal(old.Request, &g); err != nil {
				return fmt.Errorf("oidc: decode session grants: %w", err)
			}
			if err := q.DeleteOAuthToken(ctx, kindSessionGrants, key); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		g.SID = sidClaim
		g.Grants = append(g.Grants, trackedReq{RequestID: requestID, Offline: offline})
		if n := len(g.Grants); n > maxTrackedGrants {
			g.Grants = g.Grants[n-maxTrackedGrants:]
		}
		body, err := json.Marshal(g)
		if err != nil {
			return err
		}
		return q.CreateOAuthToken(ctx, &store.OAuthToken{Kind: kindSessionGrants, Signature: key, RequestID: key,
			ClientID: clientID, Subject: accountID, SessionID: sessionID, Active: true, RequestedAt: now,
			ExpiresAt: now.Add(p.cfg.RefreshTokenTTL), Request: body})
	})
}

// EndSession is the OIDC side of ending an OP session (RP-initiated logout, or the person
// signing out at Keyward): it revokes the tokens of grants made in that session without
// offline_access, and sends a logout token to the back-channel logout URI of every client
// that got tokens in it. It waits for the deliveries at most BackchannelWait; retries go on
// in the background. ui deletes the session itself.
func (p *Provider) EndSession(ctx context.Context, sessionID string) error {
	clients, err := p.st.ListClients(ctx)
	if err != nil {
		return fmt.Errorf("oidc: end session: %w", err)
	}
	var jobs []delivery
	for i := range clients {
		c := toFositeClient(&clients[i])
		key := sessionGrantsKey(sessionID, c.GetID())
		// A read first: most clients have nothing in this session, and a write transaction
		// per client would hold the writer for nothing.
		if _, err := p.st.GetOAuthToken(ctx, kindSessionGrants, key); errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("oidc: end session: %w", err)
		}
		var g sessionGrants
		var sub string
		err := store.WithTx(ctx, p.st, func(q store.Queries) error {
			t, err := q.GetOAuthToken(ctx, kindSessionGrants, key)
			if err != nil {
				return err
			}
			sub = t.Subject
			if err := json.Unmarshal(t.Request, &g); err != nil {
				return fmt.Errorf("oidc: decode session grants: %w", err)
			}
			for _, gr := range g.Grants {
				if gr.Offline {
					continue // offline access outlives the session by definition
				}
				if err := q.DeleteOAuthTokensByRequest(ctx, store.KindAccessToken, gr.RequestID); err != nil {
					return err
				}
				if err := q.DeactivateOAuthTokensByRequest(ctx, store.KindRefreshToken, gr.RequestID); err != nil {
					return err
				}
			}
			return q.DeleteOAuthToken(ctx, kindSessionGrants, key)
		})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("oidc: end session for client %s: %w", c.GetID(), err)
		}
		if c.BackchannelURI == "" {
			continue
		}
		tok, err := p.logoutToken(ctx, c, g.SID, sub)
		if err != nil {
			return err
		}
		jobs = append(jobs, delivery{clientID: c.GetID(), uri: c.BackchannelURI, token: tok})
	}
	p.bcl.deliver(ctx, jobs)
	return nil
}

// backchannelEvent is the event member every logout token carries (Back-Channel Logout §2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutToken signs a Logout Token for the client: iss, aud, iat, exp (two minutes), jti,
// events, sid and sub; never nonce; header typ logout+jwt so it cannot pass as an ID token.
func (p *Provider) logoutToken(ctx context.Context, c *Client, sidClaim, sub string) (string, error) {
	now := p.now()
	claims := jwt.MapClaims{
		"iss": p.cfg.Issuer, "aud": c.GetID(), "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": randomID(), "events": map[string]any{backchannelEvent: map[string]any{}}, "sid": sidClaim,
	}
	if sub != "" {
		claims["sub"] = sub
	}
	header := &jwt.Headers{Extra: map[string]any{"kid": p.keys.KID(c.IDTokenSignedAlg), "typ": "logout+jwt"}}
	tok, _, err := signer{keys: p.keys}.Generate(ctx, claims, header)
	if err != nil {
		return "", fmt.Errorf("oidc: sign logout token: %w", err)
	}
	return tok, nil
}

type delivery struct {
	clientID, uri, token string
}

// backchannel posts logout tokens with bounded retries. Delivery state lives in memory: a
// restart loses pending retries (an outbox table is future work, see docs/oidc.md).
type backchannel struct {
	client *http.Client
	delays []time.Duration
	wait   time.Duration
	log    *slog.Logger
}

func newBackchannel(cfg Config, log *slog.Logger) *backchannel {
	return &backchannel{client: cfg.BackchannelClient, delays: cfg.BackchannelRetryDelays, wait: cfg.BackchannelWait, log: log}
}

// deliver sends every job concurrently and returns when all are done or after b.wait,
// whichever is first; unfinished jobs keep retrying on their own.
func (b *backchannel) deliver(ctx context.Context, jobs []delivery) {
	if len(jobs) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		// Detached from the request: the browser's answer must not cancel the retries.
		go func() {
			defer wg.Done()
			b.send(context.WithoutCancel(ctx), j)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(b.wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func (b *backchannel) send(ctx context.Context, j delivery) {
	for attempt := 0; ; attempt++ {
		retry, err := b.post(ctx, j)
		if err == nil {
			return
		}
		if !retry || attempt >= len(b.delays) {
			b.log.WarnContext(ctx, "back-channel logout not delivered", "client_id", j.clientID, "attempts", attempt+1, "err", err.Error())
			return
		}
		time.Sleep(b.delays[attempt])
	}
}

// post makes one attempt. Back-Channel Logout §2.5: retry only what may succeed later
// (network errors, 5xx, 429); a 4xx is the client's final answer.
func (b *backchannel) post(ctx context.Context, j delivery) (retry bool, err error) {
	body := url.Values{"logout_token": {j.token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.uri, strings.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
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
