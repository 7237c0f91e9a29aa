package oidc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/keyward/keyward/store"
)

// kindSessionGrants rows record, per OP session and client, the grants issued in that session:
// logout must reach every client that got tokens there (Back-Channel Logout §2.3) and revoke
// the grants bound to the session (§2.7). The store has no query by session, so the row is
// keyed by session family and client and found by listing the clients. The family, not the
// session id, because the id rotates at every re-authentication while the grants made before
// it still belong to the same OP session.
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

func sessionGrantsKey(family, clientID string) string { return family + "|" + clientID }

// familyOf is the OP session's family: rows written before families existed have none, and
// for them the session id is what their grants are keyed by.
func familyOf(family, sessionID string) string { return cmp.Or(family, sessionID) }

// trackGrant records that the OP session family is issuing the grant requestID to clientID.
func (p *Provider) trackGrant(ctx context.Context, family, sidClaim, accountID, clientID, requestID string, offline bool) error {
	key := sessionGrantsKey(family, clientID)
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
			ClientID: clientID, Subject: accountID, SessionID: family, Active: true, RequestedAt: now,
			ExpiresAt: now.Add(p.cfg.RefreshTokenTTL), Request: body})
	})
}

// EndSession is the OIDC side of ending an OP session (RP-initiated logout, or the person
// signing out at Keyward): it revokes the tokens of grants made in that session (across its
// id rotations) without offline_access and, in the same transaction, puts one back-channel
// logout message per client with a back-channel logout URI into the outbox. It does not wait
// for any delivery: the delivery loop (RunLogoutDelivery) sends them, here or on another
// replica, and retries survive a restart. ui deletes the session itself, after this returns.
func (p *Provider) EndSession(ctx context.Context, sessionID string) error {
	queued, err := p.endSession(ctx, sessionID)
	if queued {
		p.deliverNow(ctx)
	}
	return err
}

// endSession revokes and queues for one session (or family) and reports whether it queued
// any back-channel logout message.
func (p *Provider) endSession(ctx context.Context, sessionID string) (bool, error) {
	rows, err := p.sessionGrantRows(ctx, sessionID)
	if err != nil {
		return false, fmt.Errorf("oidc: end session: %w", err)
	}
	queued := false
	for _, row := range rows {
		c := row.client
		err := store.WithTx(ctx, p.st, func(q store.Queries) error {
			// Read again inside the transaction: a grant issued since the scan is revoked too.
			t, err := q.GetOAuthToken(ctx, kindSessionGrants, row.key)
			if err != nil {
				return err
			}
			var g sessionGrants
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
			if err := q.DeleteOAuthToken(ctx, kindSessionGrants, row.key); err != nil {
				return err
			}
			if c.BackchannelLogoutURI == "" {
				return nil
			}
			now := p.now().UTC()
			// The message, not a signed token: the token is signed at each attempt (outbox.go).
			return q.EnqueueLogout(ctx, &store.LogoutMessage{ID: randomID(), ClientID: c.ID, URI: c.BackchannelLogoutURI,
				SID: g.SID, Subject: t.Subject, Status: store.LogoutPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now})
		})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return queued, fmt.Errorf("oidc: end session for client %s: %w", c.ID, err)
		}
		queued = queued || c.BackchannelLogoutURI != ""
	}
	return queued, nil
}

// grantRow is one client's record of the grants issued in an OP session family.
type grantRow struct {
	client *store.Client
	key    string
	grants sessionGrants
}

// sessionGrantRows finds, for the OP session sessionID (or a family whose rows are gone), the
// clients that were issued grants in its family, with their grant records: what both
// front- and back-channel logout start from. It only reads.
func (p *Provider) sessionGrantRows(ctx context.Context, sessionID string) ([]grantRow, error) {
	family := sessionID
	switch row, err := p.st.GetSession(ctx, sessionID); {
	case err == nil:
		family = familyOf(row.Family, row.ID)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	clients, err := p.st.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	var rows []grantRow
	for i := range clients {
		key := sessionGrantsKey(family, clients[i].ID)
		// One read per client: most clients have nothing in this session.
		t, err := p.st.GetOAuthToken(ctx, kindSessionGrants, key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var g sessionGrants
		if err := json.Unmarshal(t.Request, &g); err != nil {
			return nil, fmt.Errorf("decode session grants: %w", err)
		}
		rows = append(rows, grantRow{client: &clients[i], key: key, grants: g})
	}
	return rows, nil
}

// EndSessionFamilies is EndSession for OP sessions idp has already ended and deleted (a
// scheduled account deletion or last-passkey removal): families are store.Session.Family
// values, which EndSession takes once no row has that id. Every family is tried; the errors
// are joined. Call it after the deleting transaction commits, never inside it.
func (p *Provider) EndSessionFamilies(ctx context.Context, families []string) error {
	var errs []error
	queued := false
	for _, f := range families {
		q, err := p.endSession(ctx, f)
		queued = queued || q
		if err != nil {
			errs = append(errs, err)
		}
	}
	if queued {
		p.deliverNow(ctx) // one bounded wait for all of them, not one per session
	}
	return errors.Join(errs...)
}

// deliverNow makes a delivery pass for the logout just queued and waits for it at most
// BackchannelWait. The pass runs detached from the request: attempts cut short by the wait
// would keep their claim until the lease ends, so they finish (each within its own timeout)
// and record their outcome even after the person has been redirected.
func (p *Provider) deliverNow(ctx context.Context) {
	if p.cfg.BackchannelWait <= 0 {
		p.wakeDelivery()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := p.DeliverLogouts(context.WithoutCancel(ctx)); err != nil {
			p.log.WarnContext(ctx, "back-channel logout delivery failed", "err", err.Error())
			p.wakeDelivery()
		}
	}()
	// A wall-clock bound on a network wait: the injected clock only decides what is due.
	t := time.NewTimer(p.cfg.BackchannelWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// backchannelEvent is the event member every logout token carries (Back-Channel Logout §2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutTokenTTL bounds a logout token's life (Back-Channel Logout §4: about two minutes).
const logoutTokenTTL = 2 * time.Minute

// logoutToken signs a Logout Token for the client: iss, aud, iat, exp, jti, events, sid and
// sub; never nonce; header typ logout+jwt so it cannot pass as an ID token. jti is the outbox
// message's id, so every retry of one logout carries the same jti and a relying app can drop
// duplicates.
func (p *Provider) logoutToken(ctx context.Context, c *Client, jti, sidClaim, sub string) (string, error) {
	now := p.now()
	claims := jwt.MapClaims{
		"iss": p.cfg.Issuer, "aud": c.GetID(), "iat": now.Unix(), "exp": now.Add(logoutTokenTTL).Unix(),
		"jti": jti, "events": map[string]any{backchannelEvent: map[string]any{}}, "sid": sidClaim,
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
