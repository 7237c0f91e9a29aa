// Package templates holds Keyward's hosted pages as templ components and the
// view-model structs they take.
//
// Components are pure: they read only their view model and the render
// context (for the CSP nonce), and never do I/O, so the ui layer decides every
// value shown. Each page is a full HTML document built by [Layout]. The
// elements the ceremony script (static/keyward.js) drives sit inside
// <main id="ceremony" data-mode="…">, and their ids are a contract with that
// script and with the tests: #email, #display-name, #passkey-login, #signup,
// #error, #allow, #deny, #logout, #passkeys, #sessions, #apps, #events.
//
// The only <script> is /static/keyward.js; it carries the nonce set by the ui
// layer with templ.WithNonce, and nothing is inline, so the page works under
// the strict CSP (script-src 'self' 'nonce-…'; style-src 'self').
//
// The generated *_templ.go files are committed; regenerate them with
//
//	go tool templ generate -path templates
package templates
