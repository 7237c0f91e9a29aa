package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// Fixtures fill every field with a value that differs from its zero value and from its
// neighbours, so a column that is dropped or swapped shows up in a comparison.

func account(n int) *store.Account {
	return &store.Account{
		ID:            fmt.Sprintf("acc-%d", n),
		Email:         fmt.Sprintf("user%d@example.test", n),
		EmailVerified: true,
		DisplayName:   fmt.Sprintf("User Number %d", n),
		UserHandle:    bytesOf("handle", n),
		Admin:         n%2 == 1,
		Disabled:      false,
		CreatedAt:     at(time.Duration(n) * time.Minute),
		UpdatedAt:     at(time.Duration(n)*time.Minute + 17*time.Second),
	}
}

func credential(n int, accountID string) *store.Credential {
	return &store.Credential{
		ID:              bytesOf("cred", n),
		AccountID:       accountID,
		PublicKey:       bytesOf("cose", n),
		AttestationType: "packed",
		AAGUID:          bytesOf("aaguid", n)[:16],
		SignCount:       4294967295 - uint32(n),
		Transports:      []string{"internal", "hybrid"},
		UserPresent:     true,
		UserVerified:    false,
		BackupEligible:  true,
		BackupState:     false,
		CloneWarning:    false,
		Name:            fmt.Sprintf("Passkey %d", n),
		CreatedAt:       at(time.Duration(n) * time.Hour),
		CreatedIP:       "192.0.2.1",
		CreatedUA:       "Mozilla/5.0 (created)",
		LastUsedAt:      time.Time{},
		LastUsedIP:      "",
		LastUsedUA:      "",
	}
}

func ceremony(sessionID, purpose string) *store.Ceremony {
	return &store.Ceremony{
		SessionID: sessionID,
		Purpose:   purpose,
		AccountID: "acc-for-" + purpose,
		Data:      []byte(`{"challenge":"abc","user_id":"` + sessionID + `"}`),
		CreatedAt: at(0),
		ExpiresAt: at(5 * time.Minute),
	}
}

func session(id, accountID string) *store.Session {
	return &store.Session{
		ID:           id,
		AccountID:    accountID,
		AuthTime:     at(-time.Minute),
		AMR:          []string{"hwk", "user"},
		ACR:          "urn:keyward:aal2",
		CredentialID: bytesOf("cred", 1),
		CreatedAt:    at(-2 * time.Minute),
		LastSeenAt:   at(-30 * time.Second),
		ExpiresAt:    at(24 * time.Hour),
		IP:           "198.51.100.7",
		UserAgent:    "Mozilla/5.0 (session)",
		Data:         []byte(`{"flash":["hello"]}`),
	}
}

func interaction(id, sessionID string) *store.Interaction {
	return &store.Interaction{
		ID:        id,
		SessionID: sessionID,
		ClientID:  "client-a",
		Request:   "client_id=client-a&response_type=code&scope=openid+email&state=s%26t",
		LoginAt:   time.Time{},
		Consented: nil,
		CreatedAt: at(0),
		ExpiresAt: at(10 * time.Minute),
	}
}

func invite(hash string) *store.Invite {
	return &store.Invite{
		TokenHash: hash,
		Email:     "invitee@example.test",
		Admin:     true,
		CreatedBy: "acc-1",
		CreatedAt: at(0),
		ExpiresAt: at(24 * time.Hour),
	}
}

func token(kind, sig, requestID, subject, clientID string) *store.OAuthToken {
	return &store.OAuthToken{
		Kind:        kind,
		Signature:   sig,
		RequestID:   requestID,
		ClientID:    clientID,
		Subject:     subject,
		SessionID:   "sess-of-" + subject,
		Active:      true,
		RequestedAt: at(0),
		ExpiresAt:   at(time.Hour),
		Request:     []byte(`{"v":1,"scopes":["openid"],"form":{"nonce":["n"]}}`),
	}
}

func client(id string) *store.Client {
	return &store.Client{
		ID:                          id,
		Name:                        "App " + id,
		SecretHash:                  bytesOf("secret", len(id)),
		RedirectURIs:                []string{"https://" + id + ".test/cb", "https://" + id + ".test/cb2"},
		PostLogoutRedirectURIs:      []string{"https://" + id + ".test/bye"},
		GrantTypes:                  []string{"authorization_code", "refresh_token"},
		ResponseTypes:               []string{"code"},
		Scopes:                      []string{"openid", "email", "profile", "offline_access"},
		Public:                      false,
		FirstParty:                  true,
		BackchannelLogoutURI:        "https://" + id + ".test/bcl",
		IDTokenSignedAlg:            "ES256",
		TokenEndpointAuthMethod:     "client_secret_basic",
		JWKS:                        `{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y"}]}`,
		JWKSURI:                     "https://" + id + ".test/jwks",
		TokenEndpointAuthSigningAlg: "ES256",
		RequirePAR:                  true,
		AccessTokenFormat:           "jwt",
		AccessTokenLifetime:         10 * time.Minute,
		RefreshTokenLifetime:        720 * time.Hour,
		IDTokenLifetime:             15 * time.Minute,
		AllowedOrigins:              []string{"https://" + id + ".test"},
		Source:                      "config",
		CreatedAt:                   at(-time.Hour),
		UpdatedAt:                   at(-time.Minute),
		// Both set, unlike the defaults, so a backend that drops either column fails.
		FrontchannelLogoutURI:             "https://" + id + ".test/fcl",
		FrontchannelLogoutSessionRequired: true,
	}
}

func consent(accountID, clientID string) *store.Consent {
	return &store.Consent{
		AccountID: accountID,
		ClientID:  clientID,
		Scopes:    []string{"openid", "email"},
		CreatedAt: at(-time.Hour),
		UpdatedAt: at(-time.Minute),
	}
}

func signingKey(id string, age time.Duration) *store.SigningKey {
	return &store.SigningKey{
		ID:         id,
		Alg:        "ES256",
		PrivateKey: bytesOf("sealed", int(age)),
		CreatedAt:  at(-age),
		RetiredAt:  time.Time{},
		ExpiresAt:  time.Time{},
	}
}

func auditEvent(n int, accountID, event, ip string) *store.AuditEvent {
	return &store.AuditEvent{
		Time:         at(time.Duration(n) * time.Second),
		Event:        event,
		AccountID:    accountID,
		ActorID:      "actor-" + accountID,
		CredentialID: "Y3JlZA",
		ClientID:     "client-a",
		IP:           ip,
		UserAgent:    "Mozilla/5.0 (audit)",
		Result:       "ok",
		Detail:       fmt.Appendf(nil, `{"n":%d,"why":"test"}`, n),
	}
}

// seedAccounts creates accounts 1..n.
func seedAccounts(ctx context.Context, t *testing.T, q store.Queries, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		must(t, q.CreateAccount(ctx, account(i)))
	}
}
