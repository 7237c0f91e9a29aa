// Package webauthn proves the WebAuthn relying-party items of ../shared/SECURITY.md §3 (WA-*)
// end to end: a fully wired Keyward over loopback HTTP (internal/testenv), people driven by
// internal/passkeyclient, and the software authenticator of internal/softauthn forging the one
// field under test in an otherwise correctly signed response.
//
// Each test is named after the item it proves (TestWA03_…). A refusal is checked the same way
// everywhere (refused in helpers_test.go): HTTP 400 with one of Keyward's generic codes, no
// internals in the body, no new session cookie, the browser still signed out (or still on its
// old session), and the person's accounts, passkeys and sessions unchanged in the store.
//
// Items already proven elsewhere under their id (WA-01, WA-06, WA-08 to WA-12, WA-14, WA-15,
// WA-17 in idp/ and test/integration/) are not repeated here.
package webauthn
