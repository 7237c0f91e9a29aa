// Package softauthn is a software WebAuthn authenticator together with the small part of a
// browser that sits in front of it: it takes the options JSON a relying party sends
// (go-webauthn's marshalled protocol.CredentialCreation / protocol.CredentialAssertion) and
// returns the JSON that credential.toJSON() produces in a browser, ready to POST to the finish
// endpoints.
//
// It owns:
//   - resident P-256 / ES256 credentials (id, private key, user handle, RP ID, sign count),
//     with the flags of a synced passkey by default (UP, UV, BE and BS set);
//   - browser-like refusals (excludeCredentials, no ES256 offered, RP ID not valid for the
//     origin, no matching credential), reported as sentinel errors;
//   - forging: every field a relying party verifies can be replaced through a Forge, so
//     negative tests can send responses that are well-formed and correctly signed except for
//     the one defect under test.
//
// Keyward's integration tests and its load-test command use it; it is not a test double of any
// Keyward code. It exists instead of github.com/descope/virtualwebauthn, which encodes P-256
// coordinates without their leading zeros (about 0.6% of its registrations fail).
//
// An Authenticator is safe for concurrent use.
package softauthn
