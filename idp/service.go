package idp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/keyward/keyward/store"
)

// Service is the identity domain. It is safe for concurrent use; all state lives in the store.
type Service struct {
	cfg    Config
	st     store.Store
	log    *slog.Logger
	now    func() time.Time
	wa     *webauthn.WebAuthn
	labels map[string]string // AAGUID (canonical UUID text) → provider name
	// allowed is the attestation policy's AAGUID allowlist; nil when there is no policy.
	allowed map[uuid.UUID]bool
	mailer  Mailer
	// observers see every committed audit event (audit.go).
	observers auditObservers
	// ended is told of the sessions scheduled actions end (session_ends.go).
	ended sessionsEndedHook
}

// RequestMeta describes the request a ceremony call comes from.
type RequestMeta struct {
	// SessionID is the browser session the ceremony is bound to (the store's session id, not
	// the cookie value). Begin and finish must carry the same one.
	SessionID string
	IP        string
	UserAgent string
}

// Authentication is the result of a successful sign-up or sign-in, what oidc/ needs for the ID
// token and ui/ for the session.
type Authentication struct {
	AccountID    string
	AuthTime     time.Time
	AMR          []string // RFC 8176 values
	ACR          string
	CredentialID []byte
	NewAccount   bool
}

// Authentication context values (OpenID EAP ACR values).
const (
	// ACRPhishingResistantHardware: a device-bound key (BE=0).
	ACRPhishingResistantHardware = "phrh"
	// ACRPhishingResistant: a synced passkey (BE=1).
	ACRPhishingResistant = "phr"
)

// New builds the Service. now may be nil (time.Now); log may be nil (discarded).
func New(cfg Config, st store.Store, log *slog.Logger, now func() time.Time) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("idp: nil store")
	}
	cfg = cfg.withDefaults()
	cfg.RPOrigins = append([]string(nil), cfg.RPOrigins...)
	cfg.EnumerationKey = append([]byte(nil), cfg.EnumerationKey...)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	labels, err := loadAAGUIDLabels()
	if err != nil {
		return nil, err
	}
	wa, err := webauthn.New(webauthnConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("idp: webauthn config: %w", err)
	}
	svc := &Service{cfg: cfg, st: st, log: log, now: now, wa: wa, labels: labels, mailer: cfg.Mailer}
	if len(cfg.AllowedAAGUIDs) > 0 {
		svc.allowed = map[uuid.UUID]bool{}
		for _, a := range cfg.AllowedAAGUIDs {
			svc.allowed[uuid.MustParse(a)] = true // Validate checked every entry
		}
	}
	if svc.mailer == nil {
		svc.mailer = LogMailer{Log: log}
	}
	return svc, nil
}

func webauthnConfig(cfg Config) *webauthn.Config {
	requireRK := true
	// Consumer IdP: attestation would only block synced passkeys (NIST 63B-4 App. B). An
	// AAGUID allowlist needs the attestation statement, so it asks for it.
	conveyance := protocol.PreferNoAttestation
	if len(cfg.AllowedAAGUIDs) > 0 {
		conveyance = protocol.PreferDirectAttestation
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.CeremonyTimeout, TimeoutUVD: cfg.CeremonyTimeout}
	return &webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPDisplayName,
		RPOrigins:     cfg.RPOrigins,
		// Never framed (OA-11), so a cross-origin ceremony is always an attack.
		RPAllowCrossOrigin:    false,
		AttestationPreference: conveyance,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: &requireRK,
			UserVerification:   protocol.VerificationRequired,
		},
		// go-webauthn checks these against the wall clock; the store row (injected clock) is
		// the authoritative expiry, this is a second line.
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	}
}

// credentialParameters are the algorithms offered at registration, in order of preference.
// go-webauthn refuses any other alg in the attestation (§7.1 step 20).
func credentialParameters() []protocol.CredentialParameter {
	return []protocol.CredentialParameter{
		{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256},
		{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgEdDSA},
		{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgRS256},
	}
}

// Account returns the account with id; store.ErrNotFound (wrapped) when there is none.
func (s *Service) Account(ctx context.Context, id string) (*store.Account, error) {
	a, err := s.st.GetAccount(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("idp: account: %w", err)
		}
		return nil, storeError("get account", err)
	}
	return a, nil
}

// newAccountID returns 128 random bits in lower-case base32: opaque, never derived from the
// email, because it is the OIDC subject and must survive an email change.
func newAccountID() string {
	return strings.ToLower(rand.Text())
}

// randomBytes returns n bytes from crypto/rand, which never fails on supported platforms.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// amrACR maps the flags of THIS ceremony's authenticator data to RFC 8176 AMR values and the
// ACR: a synced key (BE=1) is a software key, a device-bound one a hardware key; UV adds the
// user factor, which makes the passkey multi-factor.
func amrACR(flags protocol.AuthenticatorFlags) ([]string, string) {
	amr := []string{"hwk"}
	acr := ACRPhishingResistantHardware
	if flags.HasBackupEligible() {
		amr = []string{"swk"}
		acr = ACRPhishingResistant
	}
	if flags.HasUserVerified() {
		amr = append(amr, "user", "mfa")
	}
	return amr, acr
}
