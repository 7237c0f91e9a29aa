package idp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/keyward/keyward/store"
)

// Email-first sign-in must not tell whether an email has an account (SECURITY WA-15, WebAuthn
// §14.6.2). An unknown email gets allowCredentials that look like a real person's: one or two
// credential ids of common lengths with common transports, derived by HMAC from the email, so
// the same email always gets the same answer, across requests and restarts.

// fakeLabel separates this HMAC use from any other use of the key.
const fakeLabel = "keyward/idp/fake-allow-credentials/v1\x00"

// Lengths and transports seen from common passkey providers (16: Google Password Manager,
// 20: iCloud Keychain, 32: Windows Hello and password managers, 64: security keys).
var (
	fakeIDLens     = [...]int{16, 20, 32, 32, 64}
	fakeTransports = [...][]protocol.AuthenticatorTransport{
		{protocol.Hybrid, protocol.Internal},
		{protocol.Hybrid, protocol.Internal},
		{protocol.Internal},
		{protocol.USB},
		{protocol.NFC, protocol.USB},
	}
)

// fakeAllowCredentials returns the deterministic decoy list for an email without an account.
func (s *Service) fakeAllowCredentials(email string) []protocol.CredentialDescriptor {
	stream := s.fakeStream(email)
	n := 1 + int(stream.byte()%2)
	out := make([]protocol.CredentialDescriptor, 0, n)
	for range n {
		id := make([]byte, fakeIDLens[int(stream.byte())%len(fakeIDLens)])
		for i := range id {
			id[i] = stream.byte()
		}
		out = append(out, protocol.CredentialDescriptor{
			Type:         protocol.PublicKeyCredentialType,
			CredentialID: id,
			Transport:    fakeTransports[int(stream.byte())%len(fakeTransports)],
		})
	}
	return out
}

// hmacStream is HMAC-SHA256 in counter mode over a per-email seed: enough pseudo-random bytes
// for any decoy list.
type hmacStream struct {
	key, seed []byte
	block     []byte
	counter   uint32
}

func (s *Service) fakeStream(email string) *hmacStream {
	m := hmac.New(sha256.New, s.cfg.EnumerationKey)
	m.Write([]byte(fakeLabel))
	m.Write([]byte(email))
	return &hmacStream{key: s.cfg.EnumerationKey, seed: m.Sum(nil)}
}

func (h *hmacStream) byte() byte {
	if len(h.block) == 0 {
		m := hmac.New(sha256.New, h.key)
		m.Write(h.seed)
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], h.counter)
		m.Write(c[:])
		h.counter++
		h.block = m.Sum(nil)
	}
	b := h.block[0]
	h.block = h.block[1:]
	return b
}

// loginAccount finds the account and passkeys for email-first sign-in; a nil account means
// "answer with decoys". An account without passkeys is answered the same way, so it is not
// distinguishable either. Both paths make the same two queries, keeping timing alike.
func (s *Service) loginAccount(ctx context.Context, email string) (*store.Account, []store.Credential, error) {
	acct, err := s.st.GetAccountByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, storeError("get account by email", err)
	}
	id := ""
	if acct != nil {
		id = acct.ID
	}
	creds, err := s.st.ListCredentials(ctx, id)
	if err != nil {
		return nil, nil, storeError("list credentials", err)
	}
	if acct == nil || len(creds) == 0 {
		return nil, nil, nil
	}
	return acct, creds, nil
}
