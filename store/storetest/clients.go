package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

var clientTests = map[string]func(*testing.T, store.Store){
	"CRUD": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		list, err := s.ListClients(ctx)
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("ListClients on an empty store: %d", len(list))
		}
		a := client("client-a")
		must(t, s.CreateClient(ctx, a))
		pub := client("client-b")
		pub.SecretHash, pub.PostLogoutRedirectURIs, pub.BackchannelLogoutURI = nil, nil, ""
		pub.Public, pub.FirstParty, pub.TokenEndpointAuthMethod, pub.IDTokenSignedAlg = true, false, "none", "RS256"
		pub.Source = "admin"
		pub.JWKS, pub.JWKSURI, pub.TokenEndpointAuthSigningAlg, pub.RequirePAR = "", "", "", false
		pub.AccessTokenFormat, pub.AllowedOrigins = "", nil
		pub.FrontchannelLogoutURI, pub.FrontchannelLogoutSessionRequired = "", false
		pub.AccessTokenLifetime, pub.RefreshTokenLifetime, pub.IDTokenLifetime = 0, 0, 0
		must(t, s.CreateClient(ctx, pub))
		wantErr(t, s.CreateClient(ctx, client("client-a")), store.ErrAlreadyExists, "duplicate client id")

		got, err := s.GetClient(ctx, a.ID)
		must(t, err)
		wantSame(t, "GetClient", a, got)
		got, err = s.GetClient(ctx, pub.ID)
		must(t, err)
		wantSame(t, "GetClient (public)", pub, got)
		_, err = s.GetClient(ctx, "client-missing")
		wantErr(t, err, store.ErrNotFound, "GetClient missing")

		upd := *a
		upd.Name = "Renamed"
		upd.SecretHash = []byte("rotated")
		upd.RedirectURIs = []string{"https://new.test/cb"}
		upd.PostLogoutRedirectURIs = nil
		upd.GrantTypes = []string{"authorization_code"}
		upd.ResponseTypes = []string{"code", "none"}
		upd.Scopes = []string{"openid"}
		upd.Public, upd.FirstParty = true, false
		upd.BackchannelLogoutURI, upd.IDTokenSignedAlg = "", "RS256"
		upd.TokenEndpointAuthMethod, upd.Source = "private_key_jwt", "cli"
		upd.JWKS, upd.JWKSURI, upd.TokenEndpointAuthSigningAlg = "", "https://new.test/jwks", "RS256"
		upd.RequirePAR, upd.AccessTokenFormat = false, "opaque"
		upd.AccessTokenLifetime, upd.RefreshTokenLifetime, upd.IDTokenLifetime = time.Minute, 0, time.Hour
		upd.AllowedOrigins = []string{"https://new.test", "http://localhost:3000"}
		upd.FrontchannelLogoutURI, upd.FrontchannelLogoutSessionRequired = "https://new.test/fcl?x=1", false
		upd.UpdatedAt = at(time.Hour)
		want := upd
		upd.CreatedAt = at(99 * time.Hour) // ignored
		must(t, s.UpdateClient(ctx, &upd))
		got, err = s.GetClient(ctx, a.ID)
		must(t, err)
		wantSame(t, "after UpdateClient", &want, got)
		missing := client("client-missing")
		wantErr(t, s.UpdateClient(ctx, missing), store.ErrNotFound, "UpdateClient missing")

		list, err = s.ListClients(ctx)
		must(t, err)
		slices.SortFunc(list, func(x, y store.Client) int { return strings.Compare(x.ID, y.ID) })
		if len(list) != 2 {
			t.Fatalf("ListClients: %d clients, want 2", len(list))
		}
		wantSame(t, "listed client a", &want, &list[0])
		wantSame(t, "listed client b", pub, &list[1])

		must(t, s.DeleteClient(ctx, a.ID))
		_, err = s.GetClient(ctx, a.ID)
		wantErr(t, err, store.ErrNotFound, "GetClient after delete")
		wantErr(t, s.DeleteClient(ctx, a.ID), store.ErrNotFound, "DeleteClient twice")
		list, err = s.ListClients(ctx)
		must(t, err)
		wantIDs(t, "ListClients after delete", ids(list, func(c store.Client) string { return c.ID }), []string{"client-b"})
	},
}

var consentTests = map[string]func(*testing.T, store.Store){
	"PutGetListDelete": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		a, b := account(1).ID, account(2).ID
		ca := consent(a, "client-a")
		must(t, s.PutConsent(ctx, ca))
		got, err := s.GetConsent(ctx, a, "client-a")
		must(t, err)
		wantSame(t, "GetConsent", ca, got)

		// Put again replaces the row.
		repl := consent(a, "client-a")
		repl.Scopes = []string{"openid", "email", "profile"}
		repl.CreatedAt, repl.UpdatedAt = at(time.Hour), at(2*time.Hour)
		must(t, s.PutConsent(ctx, repl))
		got, err = s.GetConsent(ctx, a, "client-a")
		must(t, err)
		wantSame(t, "GetConsent after replace", repl, got)

		cb := consent(a, "client-b")
		cb.Scopes = nil
		must(t, s.PutConsent(ctx, cb))
		must(t, s.PutConsent(ctx, consent(b, "client-a")))
		list, err := s.ListConsents(ctx, a)
		must(t, err)
		slices.SortFunc(list, func(x, y store.Consent) int { return strings.Compare(x.ClientID, y.ClientID) })
		if len(list) != 2 {
			t.Fatalf("ListConsents: %d, want 2", len(list))
		}
		wantSame(t, "listed consent a", repl, &list[0])
		wantSame(t, "listed consent b", cb, &list[1])

		_, err = s.GetConsent(ctx, a, "client-missing")
		wantErr(t, err, store.ErrNotFound, "GetConsent missing")
		must(t, s.DeleteConsent(ctx, a, "client-a"))
		_, err = s.GetConsent(ctx, a, "client-a")
		wantErr(t, err, store.ErrNotFound, "GetConsent after delete")
		wantErr(t, s.DeleteConsent(ctx, a, "client-a"), store.ErrNotFound, "DeleteConsent twice")
		_, err = s.GetConsent(ctx, b, "client-a")
		must(t, err)
		wantErr(t, s.PutConsent(ctx, consent("nobody", "client-a")), store.ErrNotFound, "PutConsent for a missing account")
	},
}

var keyTests = map[string]func(*testing.T, store.Store){
	"CreateListUpdateDelete": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		// Created out of order; ListSigningKeys is newest first.
		k1, k2, k3 := signingKey("kid-1", 3*time.Hour), signingKey("kid-2", 2*time.Hour), signingKey("kid-3", time.Hour)
		k1.Alg = "RS256"
		k1.RetiredAt, k1.ExpiresAt = at(-time.Hour), at(time.Hour)
		for _, k := range []*store.SigningKey{k2, k3, k1} {
			must(t, s.CreateSigningKey(ctx, k))
		}
		wantErr(t, s.CreateSigningKey(ctx, signingKey("kid-1", time.Minute)), store.ErrAlreadyExists, "duplicate kid")
		list, err := s.ListSigningKeys(ctx)
		must(t, err)
		if len(list) != 3 {
			t.Fatalf("ListSigningKeys: %d, want 3", len(list))
		}
		for i, want := range []*store.SigningKey{k3, k2, k1} {
			wantSame(t, "ListSigningKeys newest first", want, &list[i])
		}

		upd := *k3
		upd.RetiredAt, upd.ExpiresAt = at(time.Minute), at(25*time.Hour)
		want := upd
		upd.Alg, upd.PrivateKey, upd.CreatedAt = "RS256", []byte("other"), at(time.Hour) // ignored
		must(t, s.UpdateSigningKey(ctx, &upd))
		list, err = s.ListSigningKeys(ctx)
		must(t, err)
		wantSame(t, "after UpdateSigningKey", &want, &list[0])
		wantErr(t, s.UpdateSigningKey(ctx, signingKey("kid-missing", 0)), store.ErrNotFound, "UpdateSigningKey missing")

		must(t, s.DeleteSigningKey(ctx, "kid-2"))
		wantErr(t, s.DeleteSigningKey(ctx, "kid-2"), store.ErrNotFound, "DeleteSigningKey twice")
		list, err = s.ListSigningKeys(ctx)
		must(t, err)
		wantIDs(t, "after delete", ids(list, func(k store.SigningKey) string { return k.ID }), []string{"kid-3", "kid-1"})
	},
}
