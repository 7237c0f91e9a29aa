// Package oidc is Keyward's OAuth 2.0 and OpenID Connect provider and the only importer of
// fosite. It owns: the explicit fosite factory list (no implicit, hybrid or password grant),
// the storage adapter from fosite's interfaces onto store.Store (expiry on the injected clock,
// rotated refresh tokens kept for reuse detection), the one versioned session type, signing
// keys and the JWKS, client authentication (secrets, and private_key_jwt with client key sets
// inline or fetched from jwks_uri) and secret hashing, the checks fosite leaves out
// (duplicate and oversized parameters, request objects, PKCE before anything is stored, RFC
// 9207 iss), the protocol endpoints, and the OIDC side of logout (validating RP-initiated
// logout requests, revoking the session's grants, back-channel logout tokens, the apps to
// frame for front-channel logout).
//
// Routes mounted by Mount (no browser session needed):
//
//	GET  /.well-known/openid-configuration  discovery
//	GET  /oauth2/jwks                        public signing keys
//	POST /oauth2/token                       token endpoint
//	GET  /oauth2/userinfo                    UserInfo (also POST)
//	POST /oauth2/revoke                      RFC 7009 revocation
//	POST /oauth2/introspect                  RFC 7662 introspection (confidential clients)
//	POST /oauth2/par                         RFC 9126 pushed authorization requests
//
// Routes ui mounts, because they need the browser session, calling into this package:
//
//	GET  /oauth2/authorize                   Authorize (also POST)
//	GET  /oauth2/resume?interaction=…        Resume, after sign-in
//	POST /consent                            Consent
//	GET  /oauth2/logout                      ParseLogout + EndSession (also POST; end_session_endpoint)
//
// An authorization request that needs the person is stored as a store.Interaction and the
// browser is sent to the sign-in or consent page; ui calls Resume when that step is done.
// docs/oidc.md describes the protocol surface for relying apps.
package oidc
