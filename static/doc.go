// Package static holds the hosted pages' embedded assets: the stylesheet
// (keyward.css), the ceremony script (keyward.js) and the favicon.
//
// Nothing is loaded from another origin and nothing is inline: the pages run
// under a strict CSP (script-src 'self' 'nonce-…'; style-src 'self';
// connect-src 'self'), so every asset is served from /static/ by the ui layer.
// The script is plain ES2020 with no framework and no build step.
//
// Contract of keyward.js with the pages (templates/) and the ceremony
// endpoints (ui/):
//   - It acts on <main id="ceremony" data-mode="login|signup|…"
//     data-interaction="…" data-invite="…">; other modes are left alone.
//   - Every fetch is a same-origin POST of JSON with the header X-CSRF-Token
//     taken from <meta name="csrf-token">.
//   - Begin endpoints answer {"publicKey": …} (go-webauthn's
//     CredentialCreation / CredentialAssertion JSON); finish endpoints take the
//     credential JSON that go-webauthn's ParseCredential*ResponseBody expects and
//     answer {"redirect_to": url}; failures answer
//     {"error": code, "error_description": text}, and the text is shown to the
//     person, so it must be public.
//   - A non-empty data-interaction is sent as ?interaction=… on begin and finish.
//
// frontchannel.js serves only the front-channel logout page: once the page's
// load event (which waits for every app's iframe) fires, or after the link's
// data-timeout-ms, it replaces the page with the #frontchannel-continue link's
// target.
package static
