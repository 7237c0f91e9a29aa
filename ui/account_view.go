package ui

import (
	"bytes"
	"context"
	"net/http"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// accountView gathers what the account page shows about the signed-in account.
func (s *Server) accountView(ctx context.Context, r *http.Request, b *browserSession, acc *store.Account) (templates.AccountView, error) {
	v := templates.AccountView{Page: s.page(b, "Your account"), Email: acc.Email, EmailVerified: acc.EmailVerified,
		DisplayName: acc.DisplayName, RPID: s.idp.RPID(), UserID: b64url(acc.UserHandle),
		Notice: accountNotices[r.URL.Query().Get("notice")]}
	v.AccountName, v.Admin = acc.DisplayName, acc.Admin
	// A pending change (a passkey enrolled through recovery) is announced on the account page,
	// where its owner can cancel it (SA-02).
	v.Banner = s.PendingBanner(ctx, acc.ID)
	unused, err := s.idp.UnusedRecoveryCodes(ctx, acc.ID)
	if err != nil {
		return v, err
	}
	v.UnusedCodes = unused

	keys, err := s.idp.Passkeys(ctx, acc.ID)
	if err != nil {
		return v, err
	}
	for _, k := range keys {
		c := k.Credential
		item := templates.PasskeyItem{ID: b64url(c.ID), Name: c.Name, Provider: k.Provider,
			CreatedAt: c.CreatedAt.Format(timeFormat), CreatedOn: idp.ParseUserAgent(c.CreatedUA).String(),
			Synced: k.Synced, BackedUp: c.BackupState, Transports: c.Transports, CloneWarning: c.CloneWarning,
			Current: bytes.Equal(c.ID, b.row.CredentialID)}
		if !c.LastUsedAt.IsZero() {
			item.LastUsedAt, item.LastUsedOn = c.LastUsedAt.Format(timeFormat), idp.ParseUserAgent(c.LastUsedUA).String()
		}
		v.Passkeys = append(v.Passkeys, item)
	}

	sessions, err := s.idp.Sessions(ctx, acc.ID)
	if err != nil {
		return v, err
	}
	now := s.now()
	for _, se := range sessions {
		// Rows past the idle timeout are dead (the cookie no longer loads them) until the purge.
		if se.ID != b.row.ID && now.Sub(se.LastSeenAt) > s.cfg.SessionIdle {
			continue
		}
		ua := idp.ParseUserAgent(se.UserAgent)
		v.Sessions = append(v.Sessions, templates.SessionItem{ID: se.Ref, Browser: ua.Browser, OS: ua.OS, IP: se.IP,
			LastSeen: se.LastSeenAt.Format(timeFormat), Current: se.ID == b.row.ID})
	}

	consents, err := s.st.ListConsents(ctx, acc.ID)
	if err != nil {
		return v, err
	}
	for _, c := range consents {
		name := c.ClientID
		if cl, err := s.st.GetClient(ctx, c.ClientID); err == nil && cl.Name != "" {
			name = cl.Name
		}
		v.Apps = append(v.Apps, templates.AppItem{ClientID: c.ClientID, Name: name, Scopes: c.Scopes, GrantedAt: c.CreatedAt.Format(timeFormat)})
	}

	events, err := s.st.ListAudit(ctx, store.AuditQuery{AccountID: acc.ID, Limit: 20})
	if err != nil {
		return v, err
	}
	for _, e := range events {
		v.Events = append(v.Events, templates.EventItem{Time: e.Time.Format(timeFormat), Event: e.Event, Detail: e.Result,
			IP: e.IP, Device: idp.ParseUserAgent(e.UserAgent).String()})
	}
	return v, nil
}
