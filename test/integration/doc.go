// Package integration drives a fully wired Keyward over loopback HTTP with a software
// authenticator and real relying-party libraries (go-oidc, x/oauth2). Test names carry the
// ../shared/SECURITY.md item they prove where there is one.
package integration
