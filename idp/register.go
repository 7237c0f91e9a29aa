package idp

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/keyward/keyward/store"
)

// CodeAuthenticatorNotAllowed: the attestation policy refused the authenticator (WA-12).
const CodeAuthenticatorNotAllowed = "authenticator_not_allowed"

// ErrAuthenticatorNotAllowed answers a registration that the AAGUID allowlist refuses.
var ErrAuthenticatorNotAllowed = &Error{Code: CodeAuthenticatorNotAllowed, Status: 400,
	Message: "This kind of passkey is not accepted here. Use a security key issued by your organisation."}

// verifyNewCredential runs every check a new passkey must pass, for sign-up and for adding a
// passkey alike: go-webauthn's verification of the attestation against the ceremony, then what
// this package owns whatever the library does — UV, BE=0⇒BS=0, a usable public key (WA-11) and
// the attestation policy (WA-12). A refusal is a *Error; it never needs the store.
func (s *Service) verifyNewCredential(user *waUser, session webauthn.SessionData, resp *protocol.ParsedCredentialCreationData) (*webauthn.Credential, *Error) {
	if err := cmp.Or(strictClientData(resp.Raw.AttestationResponse.ClientDataJSON), s.exactOrigin(resp.Response.CollectedClientData.Origin)); err != nil { // WA-13, WA-03
		return nil, ErrVerificationFailed.Wrap(err)
	}
	cred, err := s.wa.CreateCredential(user, session, resp)
	if err != nil {
		return nil, ErrVerificationFailed.Wrap(err)
	}
	flags := resp.Response.AttestationObject.AuthData.Flags
	// go-webauthn v0.18.2 checks UV (session requires it) and BE=0⇒BS=0 (§7.1 step 17); kept as
	// a guard because both are security decisions this package owns.
	if !flags.HasUserVerified() || (!flags.HasBackupEligible() && flags.HasBackupState()) {
		return nil, ErrVerificationFailed.Wrap(errors.New("UV missing or BS without BE"))
	}
	// go-webauthn v0.18.2 does not parse the key at registration with fmt "none": a key whose
	// curve does not match its alg, or a point off the curve, would be stored and then fail
	// every sign-in. Refuse it now.
	if err := checkPublicKey(cred.PublicKey); err != nil {
		return nil, ErrVerificationFailed.Wrap(err)
	}
	if e := s.attestationPolicy(cred); e != nil {
		return nil, e
	}
	return cred, nil
}

// attestationPolicy applies the AAGUID allowlist when one is configured. go-webauthn's own
// Filtering.PermittedAAGUIDs lets the zero AAGUID through, and a client may zero the AAGUID of
// an unattested credential, so both "none" and the zero AAGUID are refused here.
func (s *Service) attestationPolicy(cred *webauthn.Credential) *Error {
	if s.allowed == nil {
		return nil
	}
	id, err := uuid.FromBytes(cred.Authenticator.AAGUID)
	switch {
	case err != nil:
		return ErrAuthenticatorNotAllowed.Wrap(fmt.Errorf("unreadable AAGUID: %w", err))
	case cred.AttestationFormat == "" || cred.AttestationFormat == string(protocol.AttestationFormatNone):
		return ErrAuthenticatorNotAllowed.Wrap(fmt.Errorf("attestation %q under an AAGUID allowlist", cred.AttestationFormat))
	case !s.allowed[id]:
		return ErrAuthenticatorNotAllowed.Wrap(fmt.Errorf("AAGUID %s is not in the allowlist", id))
	}
	return nil
}

// defaultPasskeyName is the label a new passkey gets until its owner renames it: the provider
// from the AAGUID table, else "Security key" for a device-bound key reached over USB, NFC or
// Bluetooth, else "Passkey", followed by the browser and system it was created on when the
// provider does not already say where it lives.
func (s *Service) defaultPasskeyName(cred *webauthn.Credential, userAgent string) string {
	if name := s.label(cred.Authenticator.AAGUID); name != genericPasskeyLabel {
		return name
	}
	name := genericPasskeyLabel
	if !cred.Flags.BackupEligible {
		for _, t := range cred.Transport {
			if t == protocol.USB || t == protocol.NFC || t == protocol.BLE {
				name = "Security key"
				break
			}
		}
	}
	if where := ParseUserAgent(userAgent).String(); where != "" {
		name += " (" + where + ")"
	}
	return name
}

// newPasskeyRecord is the stored form of a verified new credential.
func (s *Service) newPasskeyRecord(cred *webauthn.Credential, accountID string, m RequestMeta, now time.Time) *store.Credential {
	return newStoredCredential(cred, accountID, s.defaultPasskeyName(cred, m.UserAgent), m, now)
}
