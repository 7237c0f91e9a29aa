package softauthn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
)

// The errors a browser would raise, so callers can tell a refused ceremony from a bug.
var (
	// ErrInvalidOptions means the options JSON is malformed (a browser's TypeError).
	ErrInvalidOptions = errors.New("softauthn: invalid options")
	// ErrNotSupported means pubKeyCredParams does not offer ES256 (NotSupportedError).
	ErrNotSupported = errors.New("softauthn: no supported public key algorithm offered")
	// ErrInvalidState means a credential in excludeCredentials is held here (InvalidStateError),
	// or Import was given an id already held.
	ErrInvalidState = errors.New("softauthn: authenticator already holds the credential")
	// ErrNotAllowed means no held credential matches the request (NotAllowedError).
	ErrNotAllowed = errors.New("softauthn: no matching credential")
	// ErrSecurity means the RP ID is not the origin's host or a parent domain of it (SecurityError).
	ErrSecurity = errors.New("softauthn: rp id not valid for origin")
	// ErrForge means a Forge was used with a ceremony it does not apply to.
	ErrForge = errors.New("softauthn: forge does not apply to this ceremony")
)

// Options configures an Authenticator. Only Origin is required.
type Options struct {
	// Origin is what the simulated browser reports as the calling page, e.g. "http://localhost:8080".
	Origin string
	// RPID is used when the options JSON carries no RP ID; empty means the origin's host.
	RPID string
	// AAGUID is the 16-byte authenticator model id; nil means all zeros.
	AAGUID []byte
	// UserPresent, UserVerified, BackupEligible and BackupState set the flags of every
	// response; nil means true (a synced passkey after biometric unlock).
	UserPresent, UserVerified, BackupEligible, BackupState *bool
	// ZeroCounter keeps every sign count at 0, as synced passkeys do; otherwise each assertion
	// adds 1.
	ZeroCounter bool
}

// Credential is a snapshot of one resident credential.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	SignCount  uint32
	PrivateKey *ecdsa.PrivateKey
}

// PublicKey returns the credential's public key.
func (c Credential) PublicKey() *ecdsa.PublicKey { return &c.PrivateKey.PublicKey }

// COSEKey returns the public key as the COSE_Key a relying party stores (EC2, ES256, P-256).
func (c Credential) COSEKey() ([]byte, error) {
	if c.PrivateKey == nil {
		return nil, errors.New("softauthn: credential has no key")
	}
	return coseKey(&c.PrivateKey.PublicKey, algES256, crvP256)
}

// Authenticator holds resident credentials and answers ceremonies for one origin.
type Authenticator struct {
	origin      string
	defaultRPID string
	aaguid      []byte
	flags       byte
	zeroCounter bool

	mu    sync.Mutex
	creds []*Credential // creation order: Get picks the first match, as Chromium does
}

// New returns an empty Authenticator.
func New(opts Options) (*Authenticator, error) {
	u, err := url.Parse(opts.Origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("softauthn: origin %q is not scheme://host[:port]", opts.Origin)
	}
	a := &Authenticator{origin: opts.Origin, defaultRPID: opts.RPID, zeroCounter: opts.ZeroCounter}
	if a.defaultRPID == "" {
		a.defaultRPID = u.Hostname()
	}
	switch len(opts.AAGUID) {
	case 0:
		a.aaguid = make([]byte, 16)
	case 16:
		a.aaguid = bytes.Clone(opts.AAGUID)
	default:
		return nil, fmt.Errorf("softauthn: AAGUID must be 16 bytes, got %d", len(opts.AAGUID))
	}
	for _, f := range []struct {
		v    *bool
		flag Flag
	}{
		{opts.UserPresent, FlagUP},
		{opts.UserVerified, FlagUV},
		{opts.BackupEligible, FlagBE},
		{opts.BackupState, FlagBS},
	} {
		if f.v == nil || *f.v {
			a.flags |= byte(f.flag)
		}
	}
	return a, nil
}

// Origin returns the origin this authenticator reports in client data.
func (a *Authenticator) Origin() string { return a.origin }

// Credentials returns snapshots of the held credentials in creation order.
func (a *Authenticator) Credentials() []Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Credential, len(a.creds))
	for i, c := range a.creds {
		out[i] = snapshot(c)
	}
	return out
}

// Credential returns a snapshot of the credential with the given id.
func (a *Authenticator) Credential(id []byte) (Credential, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.find(id); c != nil {
		return snapshot(c), true
	}
	return Credential{}, false
}

// Remove deletes the credential with the given id and reports whether it was held.
func (a *Authenticator) Remove(id []byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.creds)
	a.creds = slices.DeleteFunc(a.creds, func(c *Credential) bool { return bytes.Equal(c.ID, id) })
	return len(a.creds) != n
}

// Import adds a copy of c, e.g. one taken from another Authenticator's Credentials() to
// simulate a cloned key. Its id must not already be held here.
func (a *Authenticator) Import(c Credential) error {
	if len(c.ID) == 0 || c.RPID == "" {
		return errors.New("softauthn: import needs a credential id and an RP ID")
	}
	if c.PrivateKey == nil || c.PrivateKey.Curve != elliptic.P256() {
		return errors.New("softauthn: import needs a P-256 private key")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.find(c.ID) != nil {
		return fmt.Errorf("import: %w", ErrInvalidState)
	}
	cp := snapshot(&c)
	a.creds = append(a.creds, &cp)
	return nil
}

// SetSignCount sets the stored counter of a held credential, e.g. to let a clone run ahead.
func (a *Authenticator) SetSignCount(id []byte, n uint32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.find(id); c != nil {
		c.SignCount = n
		return true
	}
	return false
}

// store adds c, first dropping any credential with the same id or the same RP ID and user
// handle: CTAP2 authenticators overwrite a resident credential for the same account.
func (a *Authenticator) store(c *Credential) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.creds = slices.DeleteFunc(a.creds, func(o *Credential) bool {
		return bytes.Equal(o.ID, c.ID) || (o.RPID == c.RPID && bytes.Equal(o.UserHandle, c.UserHandle))
	})
	a.creds = append(a.creds, c)
}

// holdsAny reports whether any of ids is held for rpID.
func (a *Authenticator) holdsAny(rpID string, ids [][]byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.creds {
		if c.RPID == rpID && slices.ContainsFunc(ids, func(id []byte) bool { return bytes.Equal(id, c.ID) }) {
			return true
		}
	}
	return false
}

// take picks the credential for an assertion and advances its counter under the lock, so
// concurrent assertions never report the same count. It returns a snapshot to sign with.
func (a *Authenticator) take(rpID string, allow [][]byte, use []byte, counter *uint32) (Credential, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var picked *Credential
	switch {
	case use != nil:
		picked = a.find(use)
	case len(allow) > 0:
		for _, id := range allow {
			if c := a.find(id); c != nil && c.RPID == rpID {
				picked = c
				break
			}
		}
	default:
		for _, c := range a.creds {
			if c.RPID == rpID {
				picked = c
				break
			}
		}
	}
	if picked == nil {
		return Credential{}, ErrNotAllowed
	}
	switch {
	case counter != nil:
		picked.SignCount = *counter
	case !a.zeroCounter:
		picked.SignCount++
	}
	return snapshot(picked), nil
}

func (a *Authenticator) find(id []byte) *Credential {
	for _, c := range a.creds {
		if bytes.Equal(c.ID, id) {
			return c
		}
	}
	return nil
}

// snapshot copies the slices so callers cannot alter held state; ecdsa keys are never mutated.
func snapshot(c *Credential) Credential {
	return Credential{
		ID:         bytes.Clone(c.ID),
		RPID:       c.RPID,
		UserHandle: bytes.Clone(c.UserHandle),
		SignCount:  c.SignCount,
		PrivateKey: c.PrivateKey,
	}
}

func newCredential(rpID string, userHandle, id []byte) (*Credential, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("softauthn: generate key: %w", err)
	}
	if id == nil {
		id = make([]byte, 32)
		_, _ = rand.Read(id) // crypto/rand.Read never fails on supported platforms
	}
	return &Credential{ID: bytes.Clone(id), RPID: rpID, UserHandle: bytes.Clone(userHandle), PrivateKey: key}, nil
}
