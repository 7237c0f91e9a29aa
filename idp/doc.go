// Package idp is Keyward's domain: accounts, passkeys (a thin policy layer over go-webauthn),
// invitations, registration policy and the security audit trail.
//
// It owns:
//   - the relying-party configuration and its validation (config.go);
//   - sign-up with a passkey, gated by the registration policy and invites (signup.go,
//     invite.go);
//   - sign-in, discoverable or email-first, with enumeration-resistant options (login.go,
//     enumeration.go);
//   - the server-side ceremony state: the whole go-webauthn SessionData plus purpose fields, as
//     versioned JSON bound to the browser session and consumed by the first finish attempt
//     (ceremony.go);
//   - the audit events every security decision writes, in the same transaction as the change
//     they describe, mirrored to the structured log (audit.go);
//   - passkey labels from the AAGUID table (aaguid.go, passkey.go), with a fallback naming the
//     browser and system a passkey was created on (register.go, useragent.go);
//   - the checks every new passkey passes, at sign-up and when adding one, including the
//     optional AAGUID allowlist (register.go);
//   - the passkey lifecycle of a signed-in account: add another passkey with
//     excludeCredentials, rename, revoke; the sessions it opened and the tokens issued in them
//     end with it; the last one only with recovery codes left, after the cooling-off
//     (manage.go, passkey_removal.go);
//   - step-up (stepup.go), saved recovery codes (recovery_codes.go), account recovery
//     (recovery.go) and the pending actions with cooling-off, cancel links and the scheduler
//     (pending.go);
//   - account changes as pending actions: email change with confirmation of the new address,
//     account deletion (account_changes.go);
//   - an account's signed-in sessions as pages show them, and ending them (sessions.go);
//   - email verification by a one-time link, and the Mailer port messages leave through
//     (verify.go);
//   - the typed domain errors the ui layer turns into responses (errors.go).
//
// idp imports no net/http, fosite or templ: the ui layer parses HTTP bodies with go-webauthn's
// protocol.Parse*Body functions and hands the parsed data in. Every time comes from the
// injected clock; every store write that belongs to one decision happens in one store.WithTx.
package idp
