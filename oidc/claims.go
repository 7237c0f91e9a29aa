package oidc

import (
	"slices"
	"time"

	"github.com/keyward/keyward/store"
)

// userClaims places claims per OIDC Core §5.4: profile → name, updated_at; email → email,
// email_verified; plus the names in extra (already checked against the client's scopes).
func userClaims(acc *store.Account, scopes []string, extra []string) map[string]any {
	out := map[string]any{}
	want := func(name string) bool {
		return slices.Contains(scopes, claimScope[name]) || slices.Contains(extra, name)
	}
	if want("name") {
		out["name"] = acc.DisplayName
	}
	if want("updated_at") {
		out["updated_at"] = acc.UpdatedAt.Unix()
	}
	if want("email") {
		out["email"] = acc.Email
	}
	if want("email_verified") {
		out["email_verified"] = acc.EmailVerified
	}
	return out
}

// newUserSession builds the session a code is issued with: subject = the opaque account id,
// auth_time, amr, acr, sid, the claims the scopes and the claims parameter allow, and the kid
// of the client's chosen algorithm.
func (p *Provider) newUserSession(acc *store.Account, who Principal, c *Client, scopes []string, cr claimsRequest, requestedAt time.Time) *Session {
	sess := newSession()
	sess.Subject = acc.ID
	sess.SID = sid(familyOf(who.SessionFamily, who.SessionID))
	// Tokens record the OP session family, not the current id: the id rotates at every
	// step-up, and revoking by session (idp, SA-04) must still find tokens issued before it.
	sess.BrowserSession = familyOf(who.SessionFamily, who.SessionID)
	sess.GrantedAt = p.now().UTC()
	sess.UserinfoClaims = allowedClaims(cr.Userinfo, c)
	cl := sess.Claims
	cl.Subject = acc.ID
	cl.AuthTime = who.AuthTime.UTC()
	cl.RequestedAt = requestedAt.UTC()
	cl.AuthenticationContextClassReference = who.ACR
	cl.AuthenticationMethodsReferences = who.AMR
	cl.Extra = userClaims(acc, scopes, allowedClaims(cr.IDToken, c))
	cl.Extra["sid"] = sess.SID
	sess.Headers.Extra = map[string]any{"kid": p.keys.KID(c.IDTokenSignedAlg)}
	return sess
}
