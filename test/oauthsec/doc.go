// Package oauthsec proves the authorization-server and OpenID provider items of
// ../shared/SECURITY.md §1 (OA-*) and §2 (OC-*) that no other test names: each test is
// named after its item (TestOA14_…, TestOC02_…) and drives a fully wired Keyward over
// loopback HTTP (internal/testenv) as a browser (internal/passkeyclient) and as relying apps
// do (go-oidc and x/oauth2, or raw HTTP where a library would refuse to misbehave).
//
// Each test starts a Keyward of its own, so it may compare the whole token table before and
// after a refused request. Items already proven under their id elsewhere (test/conformance,
// test/integration, oidc/) are not repeated here.
package oauthsec
