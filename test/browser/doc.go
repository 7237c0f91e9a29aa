// Package browser is the end-to-end test of the hosted pages: a fully wired Keyward
// (internal/testenv) driven by headless Chromium through chromedp, with the DevTools virtual
// authenticator standing in for the person's passkey and go-oidc + x/oauth2 as the relying
// app. It owns the proof that the real pages, keyward.js and the OIDC endpoints work together
// in a browser under their real CSP; the protocol's corner cases live in test/integration.
//
// Chromium is /usr/bin/chromium. Without it the tests skip, unless KEYWARD_TEST_BROWSER=1,
// where they fail: CI sets it so a missing browser can never pass silently.
package browser
