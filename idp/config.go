package idp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/publicsuffix"
)

// Registration policies.
const (
	// RegistrationOpen lets anyone sign up; an invite is optional (it can grant admin or a
	// verified email).
	RegistrationOpen = "open"
	// RegistrationInvite requires a valid invite for every sign-up.
	RegistrationInvite = "invite"
	// RegistrationClosed still honours invites, but only those an administrator issued (from the
	// console, the CLI or the setup link). Invites created by ordinary accounts, should a later
	// feature allow them, stop working. Closing registration stops self-service growth; it does
	// not stop the operator from adding people.
	RegistrationClosed = "closed"
)

// Defaults applied to zero fields.
const (
	DefaultCeremonyTimeout = 5 * time.Minute
	DefaultInviteTTL       = 7 * 24 * time.Hour
	// DefaultEmailVerificationTTL is also the maximum: NIST SP 800-63B-4 §4.2.1.2 gives emailed
	// codes at most 24 hours.
	DefaultEmailVerificationTTL = 24 * time.Hour
	DefaultRPDisplayName        = "Keyward"
	// DefaultChangeCoolingOff delays the account changes an attacker with a stolen session would
	// want (email change, account deletion, removing the last passkey), so the owner can cancel.
	DefaultChangeCoolingOff = 24 * time.Hour
	// MinEnumerationKeyLen is the shortest accepted EnumerationKey (256 bits).
	MinEnumerationKeyLen = 32
)

// Config is the relying-party and policy configuration of the Service.
type Config struct {
	// RPID is the WebAuthn relying party id: the host of every origin or a registrable parent
	// domain of it. Passkeys are bound to it forever: changing it orphans every passkey.
	RPID          string
	RPDisplayName string // default "Keyward"
	// RPOrigins are the exact origins (scheme://host[:port]) the ceremonies may come from.
	// https only, except http://localhost (and *.localhost), which browsers treat as secure.
	RPOrigins []string
	// CeremonyTimeout bounds a ceremony from begin to finish; default 5m, at most 10m
	// (WebAuthn §15.1 recommends 300–600 s).
	CeremonyTimeout time.Duration
	Registration    string        // "open" | "invite" | "closed"; default "invite"
	InviteTTL       time.Duration // default 7 days
	// EnumerationKey keys the HMAC that derives the fake allowCredentials answered for unknown
	// emails. It must be stable across restarts (derive it from the configured secret), or the
	// fake lists change and unknown emails become recognisable. At least 32 bytes.
	EnumerationKey []byte
	// AllowedAAGUIDs, when not empty, is the attestation policy of an organisation that issues
	// its own security keys: registration asks for direct attestation, refuses fmt "none" and
	// accepts only authenticators whose AAGUID is listed (canonical UUID text). Empty (the
	// default): attestation "none", any authenticator (NIST 63B-4 App. B: attestation should
	// not block synced passkeys for public-facing services). Without a metadata service the
	// AAGUID is the authenticator's own claim, verified only as far as its attestation
	// signature goes: it keeps honest people to the issued keys, it does not stop a forged
	// software authenticator.
	AllowedAAGUIDs []string
	// PublicURL is the origin the links in messages point to; default RPOrigins[0].
	PublicURL string
	// EmailVerificationTTL bounds a verification link; default and maximum 24h.
	EmailVerificationTTL time.Duration
	// Mailer delivers messages (email verification); nil logs them instead (LogMailer), which
	// is for development until a real mailer is configured.
	Mailer Mailer
	// ChangeCoolingOff is how long a pending email change, account deletion or removal of the
	// last passkey waits before it takes effect; default 24h, at least 1h.
	ChangeCoolingOff time.Duration
}

// withDefaults fills the zero optional fields.
func (c Config) withDefaults() Config {
	if c.RPDisplayName == "" {
		c.RPDisplayName = DefaultRPDisplayName
	}
	if c.CeremonyTimeout == 0 {
		c.CeremonyTimeout = DefaultCeremonyTimeout
	}
	if c.Registration == "" {
		c.Registration = RegistrationInvite
	}
	if c.InviteTTL == 0 {
		c.InviteTTL = DefaultInviteTTL
	}
	if c.EmailVerificationTTL == 0 {
		c.EmailVerificationTTL = DefaultEmailVerificationTTL
	}
	if c.ChangeCoolingOff == 0 {
		c.ChangeCoolingOff = DefaultChangeCoolingOff
	}
	if c.PublicURL == "" && len(c.RPOrigins) > 0 {
		c.PublicURL = strings.TrimSuffix(c.RPOrigins[0], "/")
	}
	return c
}

// Validate reports every problem at once. Zero optional fields are fine (defaults apply).
// It fails closed on what go-webauthn leaves unchecked (SECURITY WA-17): an RP ID that does
// not cover every origin, plain-http origins, origins with paths.
func (c Config) Validate() error {
	publicURL := c.PublicURL // the default comes from RPOrigins, which are checked on their own
	c = c.withDefaults()
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("idp config: "+format, a...)) }

	rpid := c.RPID
	switch {
	case rpid == "":
		bad("RPID is empty")
	case rpid != strings.ToLower(rpid) || strings.HasSuffix(rpid, ".") || strings.ContainsAny(rpid, ":/ "):
		bad("RPID %q must be a lower-case domain name without scheme, port or trailing dot", rpid)
		rpid = ""
	case net.ParseIP(rpid) != nil:
		bad("RPID %q is an IP address; WebAuthn needs a domain", rpid)
		rpid = ""
	}

	if len(c.RPOrigins) == 0 {
		bad("RPOrigins is empty")
	}
	for _, o := range c.RPOrigins {
		host, err := checkOrigin(o)
		if err != nil {
			bad("RPOrigins: %v", err)
			continue
		}
		if rpid != "" && !rpidCovers(rpid, host) {
			bad("RPID %q is neither the host nor a registrable parent domain of origin %q", rpid, o)
		}
	}

	if c.CeremonyTimeout < 30*time.Second || c.CeremonyTimeout > 10*time.Minute {
		bad("CeremonyTimeout %s is outside 30s..10m", c.CeremonyTimeout)
	}
	switch c.Registration {
	case RegistrationOpen, RegistrationInvite, RegistrationClosed:
	default:
		bad("Registration %q is not one of open, invite, closed", c.Registration)
	}
	if c.InviteTTL < 0 {
		bad("InviteTTL %s is negative", c.InviteTTL)
	}
	if c.EmailVerificationTTL < 5*time.Minute || c.EmailVerificationTTL > DefaultEmailVerificationTTL {
		bad("EmailVerificationTTL %s is outside 5m..24h", c.EmailVerificationTTL)
	}
	if c.ChangeCoolingOff < time.Hour {
		bad("ChangeCoolingOff %s is shorter than 1h", c.ChangeCoolingOff)
	}
	if publicURL != "" {
		if _, err := checkOrigin(publicURL); err != nil {
			bad("PublicURL: %v", err)
		}
	}
	for _, a := range c.AllowedAAGUIDs {
		if id, err := uuid.Parse(a); err != nil || id == uuid.Nil {
			bad("AllowedAAGUIDs: %q is not a non-zero UUID", a)
		}
	}
	if len(c.EnumerationKey) < MinEnumerationKeyLen {
		bad("EnumerationKey has %d bytes; at least %d are required", len(c.EnumerationKey), MinEnumerationKeyLen)
	}
	return errors.Join(errs...)
}

// checkOrigin accepts exactly scheme://host[:port] and returns the lower-case host.
func checkOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil {
		return "", fmt.Errorf("origin %q does not parse: %w", o, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("origin %q must start with https://", o)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("origin %q must be scheme://host[:port] only", o)
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) != nil {
		return "", fmt.Errorf("origin %q has an IP address; WebAuthn needs a domain", o)
	}
	if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
		return "", fmt.Errorf("origin %q uses http; only https (or http://localhost for development) is allowed", o)
	}
	return host, nil
}

// rpidCovers reports whether rpid is host itself or a registrable suffix of it: a parent domain
// that is not a public suffix (WebAuthn §5.1.3, HTML "registrable domain suffix").
func rpidCovers(rpid, host string) bool {
	if rpid == host {
		return true
	}
	if !strings.HasSuffix(host, "."+rpid) {
		return false
	}
	suffix, _ := publicsuffix.PublicSuffix(rpid)
	return suffix != rpid
}
