// Package oidc is Keyward's OAuth 2.0 and OpenID Connect provider and the only importer of
// fosite. It owns: the explicit fosite factory list (no implicit, hybrid or password grant),
// the storage adapter from fosite's interfaces onto store.Store, the one versioned session type,
// signing keys and the JWKS, client secret hashing, and the protocol endpoints.
//
// Routes (mounted by ui, which supplies the browser session):
//
//	GET  /.well-known/openid-configuration  discovery
//	GET  /oauth2/jwks                        public signing keys
//	GET  /oauth2/authorize                   authorization endpoint (also POST)
//	GET  /oauth2/resume?interaction=…        continue a request after sign-in or consent
//	POST /oauth2/token                       token endpoint
//	GET  /oauth2/userinfo                    UserInfo (also POST)
//
// An authorization request that needs the person is stored as a store.Interaction and the
// browser is sent to the sign-in or consent page; ui calls Resume when that step is done.
package oidc
