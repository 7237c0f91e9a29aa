package softauthn

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
)

// Create answers navigator.credentials.create(): creationJSON is the relying party's options
// ({"publicKey": {...}} or the bare object) and the result is the credential's toJSON(). The
// new credential is resident; it replaces any held one with the same id or the same RP ID and
// user handle. It is kept even if the relying party refuses the response, as a real
// authenticator's would be: Remove it if a later Get should not pick it.
func (a *Authenticator) Create(creationJSON []byte, forges ...Forge) ([]byte, error) {
	f := applyForges(forges)
	if err := f.check(true); err != nil {
		return nil, err
	}
	if f.badSignature && !f.selfAttestation {
		return nil, fmt.Errorf("%w: BadSignature at Create needs SelfAttestation", ErrForge)
	}
	if len(f.credID) > 0xffff {
		return nil, fmt.Errorf("%w: a credential id longer than 65535 bytes cannot be encoded", ErrForge)
	}
	var opts creationOptions
	if err := unwrapPublicKey(creationJSON, &opts); err != nil {
		return nil, err
	}
	if opts.Challenge == nil || len(*opts.Challenge) == 0 {
		return nil, fmt.Errorf("%w: missing challenge", ErrInvalidOptions)
	}
	if opts.User.ID == nil || len(*opts.User.ID) == 0 || len(*opts.User.ID) > 64 {
		return nil, fmt.Errorf("%w: user.id must be 1 to 64 bytes", ErrInvalidOptions)
	}
	if !offersES256(opts) {
		return nil, ErrNotSupported
	}
	rpID, err := a.rpID(opts.RP.ID)
	if err != nil {
		return nil, err
	}
	excluded := make([][]byte, 0, len(opts.ExcludeCredentials))
	for _, d := range opts.ExcludeCredentials {
		excluded = append(excluded, d.ID)
	}
	if a.holdsAny(rpID, excluded) {
		return nil, ErrInvalidState
	}

	cred, err := newCredential(rpID, *opts.User.ID, f.credID)
	if err != nil {
		return nil, err
	}
	if f.counter != nil {
		cred.SignCount = *f.counter
	}
	cdj, err := a.clientDataJSON("webauthn.create", *opts.Challenge, f)
	if err != nil {
		return nil, err
	}
	alg, crv := int64(algES256), int64(crvP256)
	if f.alg != nil {
		alg = *f.alg
	}
	if f.curve != nil {
		crv = *f.curve
	}
	key, err := coseKey(&cred.PrivateKey.PublicKey, alg, crv)
	if err != nil {
		return nil, err
	}
	ext, err := f.extensions()
	if err != nil {
		return nil, err
	}
	flags := a.flags | byte(FlagAT)
	if ext != nil {
		flags |= byte(FlagED)
	}
	ad := authData(f.hashFor(rpID), f.flags(flags), cred.SignCount,
		attestedCredentialData(a.aaguid, cred.ID, key), ext)
	for _, edit := range f.editAuthData {
		ad = edit(ad)
	}

	format, stmt := "none", map[string]any(nil)
	if f.format != nil {
		format, stmt = *f.format, f.attStmt
	}
	if f.selfAttestation {
		sig, err := sign(cred.PrivateKey, ad, cdj, f.badSignature)
		if err != nil {
			return nil, err
		}
		format, stmt = "packed", map[string]any{"alg": alg, "sig": sig}
	}
	obj, err := attestationObject(format, stmt, ad)
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode attestation object: %w", err)
	}
	obj = append(obj, f.trailing...)
	spki, err := x509.MarshalPKIXPublicKey(&cred.PrivateKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode public key: %w", err)
	}

	resultExt := f.clientExtResults
	if resultExt == nil && opts.Extensions.CredProps {
		resultExt = []byte(`{"credProps":{"rk":true}}`)
	}
	out, err := credentialResponse(f.idInResponse(cred.ID), attestationResponseJSON{
		ClientDataJSON:     b64.EncodeToString(cdj),
		AuthenticatorData:  b64.EncodeToString(ad),
		Transports:         []string{"internal"},
		PublicKey:          b64.EncodeToString(spki),
		PublicKeyAlgorithm: alg,
		AttestationObject:  b64.EncodeToString(obj),
	}, resultExt)
	if err != nil {
		return nil, err
	}
	a.store(cred)
	return out, nil
}

// Get answers navigator.credentials.get(): requestJSON is the relying party's options and the
// result is the assertion's toJSON(). With an allowCredentials list it uses the first listed
// credential it holds, otherwise the first resident credential for the RP ID; UseCredential
// overrides both. The sign count advances by one unless Options.ZeroCounter or Counter says
// otherwise.
func (a *Authenticator) Get(requestJSON []byte, forges ...Forge) ([]byte, error) {
	f := applyForges(forges)
	if err := f.check(false); err != nil {
		return nil, err
	}
	var opts requestOptions
	if err := unwrapPublicKey(requestJSON, &opts); err != nil {
		return nil, err
	}
	if opts.Challenge == nil || len(*opts.Challenge) == 0 {
		return nil, fmt.Errorf("%w: missing challenge", ErrInvalidOptions)
	}
	rpID, err := a.rpID(opts.RPID)
	if err != nil {
		return nil, err
	}
	allow := make([][]byte, 0, len(opts.AllowCredentials))
	for _, d := range opts.AllowCredentials {
		allow = append(allow, d.ID)
	}
	cred, err := a.take(rpID, allow, f.useCredential, f.counter)
	if err != nil {
		return nil, err
	}
	cdj, err := a.clientDataJSON("webauthn.get", *opts.Challenge, f)
	if err != nil {
		return nil, err
	}
	ext, err := f.extensions()
	if err != nil {
		return nil, err
	}
	flags := a.flags
	if ext != nil {
		flags |= byte(FlagED)
	}
	ad := authData(f.hashFor(rpID), f.flags(flags), cred.SignCount, nil, ext)
	for _, edit := range f.editAuthData {
		ad = edit(ad)
	}
	sig, err := sign(cred.PrivateKey, ad, cdj, f.badSignature)
	if err != nil {
		return nil, err
	}
	userHandle := cred.UserHandle
	if f.userHandle != nil {
		userHandle = *f.userHandle
	}
	return credentialResponse(f.idInResponse(cred.ID), assertionResponseJSON{
		ClientDataJSON:    b64.EncodeToString(cdj),
		AuthenticatorData: b64.EncodeToString(ad),
		Signature:         b64.EncodeToString(sig),
		UserHandle:        b64.EncodeToString(userHandle),
	}, f.clientExtResults)
}

func offersES256(opts creationOptions) bool {
	if len(opts.PubKeyCredParams) == 0 {
		return true // the spec's default list is ES256 and RS256
	}
	for _, p := range opts.PubKeyCredParams {
		if p.Type == "public-key" && p.Alg == algES256 {
			return true
		}
	}
	return false
}

// rpID resolves the ceremony's RP ID and applies the browser's rule that it must be the
// origin's host or a parent domain of it.
func (a *Authenticator) rpID(requested string) (string, error) {
	rpID := requested
	if rpID == "" {
		rpID = a.defaultRPID
	}
	u, err := url.Parse(a.origin)
	if err != nil {
		return "", err
	}
	host := strings.ToLower(u.Hostname())
	if l := strings.ToLower(rpID); host != l && !strings.HasSuffix(host, "."+l) {
		return "", fmt.Errorf("%w: %q for %q", ErrSecurity, rpID, a.origin)
	}
	return rpID, nil
}

func (a *Authenticator) clientDataJSON(typ string, challenge []byte, f *forgery) ([]byte, error) {
	cd := clientData{Type: typ, Challenge: b64.EncodeToString(challenge), Origin: a.origin}
	if f.clientType != nil {
		cd.Type = *f.clientType
	}
	if f.challenge != nil {
		cd.Challenge = *f.challenge
	}
	if f.origin != nil {
		cd.Origin = *f.origin
	}
	if f.crossOrigin != nil {
		cd.CrossOrigin = *f.crossOrigin
	}
	if f.topOrigin != nil {
		cd.TopOrigin = *f.topOrigin
	}
	out, err := cd.marshal()
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode client data: %w", err)
	}
	for _, edit := range f.editClientData {
		out = edit(out)
	}
	return out, nil
}

func (f *forgery) hashFor(rpID string) [32]byte {
	if f.rpIDHashOf != nil {
		return rpIDHash(*f.rpIDHashOf)
	}
	return rpIDHash(rpID)
}

func (f *forgery) idInResponse(id []byte) []byte {
	switch {
	case f.responseID != nil:
		return f.responseID
	case f.credID != nil:
		return f.credID
	}
	return id
}

func (f *forgery) extensions() ([]byte, error) {
	if f.authenticatorExt == nil {
		return nil, nil
	}
	out, err := ctap2.Marshal(f.authenticatorExt)
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode extensions: %w", err)
	}
	return out, nil
}

// sign returns the ES256 signature over authData ‖ sha256(clientDataJSON), with its last
// byte altered when corrupt is set (the DER framing stays valid, the value does not).
func sign(key *ecdsa.PrivateKey, authData, clientDataJSON []byte, corrupt bool) ([]byte, error) {
	cdh := sha256.Sum256(clientDataJSON)
	digest := sha256.Sum256(append(append(make([]byte, 0, len(authData)+32), authData...), cdh[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("softauthn: sign: %w", err)
	}
	if corrupt {
		sig[len(sig)-1] ^= 0x01
	}
	return sig, nil
}
