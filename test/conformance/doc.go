// Package conformance ports the OpenID Foundation certification test plans to Go tests that
// drive a fully wired Keyward over loopback HTTP (internal/testenv) with go-oidc, x/oauth2 and
// raw HTTP where a library would refuse to misbehave.
//
// Naming: one test per module of the oidcc-basic and oidcc-config plans, named after the
// module (oidcc-codereuse-30seconds → TestOIDCCCodeReuse30Seconds); one test per
// authorization-server item of ../shared/SECURITY.md, named after its id
// (TestOA07_RefreshRotationReuseRevokesFamily, TestOC09_…); and TestBadInput_* for the
// issue's list of malformed requests, each proving the spec's error, no redirect to an
// unregistered URI and no change in the token table.
//
// The issuer is http://localhost:PORT here, so https-only checks of the real suite are
// asserted only when the issuer is https.
package conformance
