// Package loadtest is the engine behind `keyward loadtest`: it plays people with software
// passkeys (internal/softauthn) in browsers (internal/passkeyclient) and a relying app that
// uses go-oidc and x/oauth2 exactly as a real one would, against a running Keyward, for a
// bounded time and a bounded number of operations.
//
// It owns:
//   - the target checks: loopback only unless remote targets are explicitly allowed
//     (target.go);
//   - the relying app and the people: sign-up, the complete sign-in (authorization request
//     with PKCE, passkey ceremony, consent, code exchange, ID token verification), and the
//     token endpoint, introspection, userinfo, JWKS and discovery calls (rp.go, person.go);
//   - the run: workers, the time and count bounds, per-operation timeouts (engine.go);
//   - measurement: latency histograms with bounded memory, per-route statistics, errors by
//     kind, CPU of this process and optionally of the server process (histogram.go,
//     routes.go, errors.go, cpu.go, report.go).
//
// It knows Keyward only through its public HTTP surface; cmd/keyward sets up the client and
// the invites (local mode) or takes them from flags (remote mode).
package loadtest
