package oidc

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/keyward/keyward/store"
)

// Supported JWT signing algorithms. RS256 is the OIDC default every client must accept;
// ES256 is faster and may be chosen per client.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

type signingKey struct {
	kid     string
	alg     string
	private crypto.Signer
	// The key may sign from created plus the activation delay. retireAt, set by a rotation
	// to when its successor may sign, is when it stops; zero while unretired.
	created, retireAt time.Time
}

// Keys holds the signing keys in memory (decrypted once, not per request) and the JWKS
// document derived from them. Private keys are sealed at rest with AES-256-GCM under kek.
type Keys struct {
	st    store.Store
	kek   cipher.AEAD
	now   func() time.Time
	delay time.Duration // activation delay; see SetActivationDelay

	mu    sync.RWMutex
	byKID map[string]*signingKey
	byAlg map[string][]*signingKey // published keys, newest first; pickActive chooses the signer
	jwks  []byte
}

// NewKeys loads the keys, creating an RS256 and an ES256 key when none is active.
func NewKeys(ctx context.Context, st store.Store, kek []byte, now func() time.Time) (*Keys, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("oidc: key encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &Keys{st: st, kek: aead, now: now, delay: DefaultKeyActivationDelay}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	var missing []string
	for _, alg := range []string{AlgRS256, AlgES256} {
		if k.activeKey(alg) == nil {
			missing = append(missing, alg)
		}
	}
	if len(missing) > 0 {
		if err := k.createMissing(ctx, missing); err != nil {
			return nil, err
		}
	}
	return k, k.Reload(ctx)
}

// activeKey is decided at each use rather than at Reload, so a waiting key starts signing the
// moment its delay ends on every replica alike, not at each one's next reload.
func (k *Keys) activeKey(alg string) *signingKey {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	return pickActive(k.byAlg[alg], now, k.delay)
}

// generate makes a new sealed key row for alg (not yet stored).
func (k *Keys) generate(alg string) (*store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("oidc: unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	thumb, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(thumb)
	nonce := make([]byte, k.kek.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	sealed := k.kek.Seal(nonce, nonce, der, []byte(kid))
	return &store.SigningKey{ID: kid, Alg: alg, PrivateKey: sealed, CreatedAt: k.now().UTC()}, nil
}

// createMissing stores a key for each alg that has no active one, deciding inside one
// transaction (SQLite's write lock; a table lock on PostgreSQL) so that replicas starting
// together on an empty database agree on one key set instead of each publishing its own.
func (k *Keys) createMissing(ctx context.Context, algs []string) error {
	fresh := map[string]*store.SigningKey{}
	for _, alg := range algs {
		sk, err := k.generate(alg) // slow for RSA: done before taking the lock
		if err != nil {
			return err
		}
		fresh[alg] = sk
	}
	return store.WithTx(ctx, k.st, func(q store.Queries) error {
		rows, err := q.ListSigningKeys(ctx)
		if err != nil {
			return err
		}
		now := k.now()
		for _, alg := range algs {
			have := false
			for _, r := range rows {
				if r.Alg == alg && (r.RetiredAt.IsZero() || r.RetiredAt.After(now)) && (r.ExpiresAt.IsZero() || r.ExpiresAt.After(now)) {
					have = true
				}
			}
			if !have {
				if err := q.CreateSigningKey(ctx, fresh[alg]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Reload reads the keys from the store; other replicas see a rotation after their next Reload.
func (k *Keys) Reload(ctx context.Context) error {
	rows, err := k.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("oidc: list signing keys: %w", err)
	}
	now := k.now()
	byKID := map[string]*signingKey{}
	byAlg := map[string][]*signingKey{}
	var set jose.JSONWebKeySet
	for _, r := range rows { // newest first
		if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now) {
			continue
		}
		ns := k.kek.NonceSize()
		if len(r.PrivateKey) < ns {
			return fmt.Errorf("oidc: signing key %s is corrupt", r.ID)
		}
		der, err := k.kek.Open(nil, r.PrivateKey[:ns], r.PrivateKey[ns:], []byte(r.ID))
		if err != nil {
			return fmt.Errorf("oidc: signing key %s cannot be decrypted with the configured key: %w", r.ID, err)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("oidc: signing key %s: %w", r.ID, err)
		}
		signer, ok := parsed.(crypto.Signer)
		if !ok {
			return fmt.Errorf("oidc: signing key %s has type %T", r.ID, parsed)
		}
		sk := &signingKey{kid: r.ID, alg: r.Alg, private: signer, created: r.CreatedAt, retireAt: r.RetiredAt}
		byKID[r.ID] = sk
		byAlg[r.Alg] = append(byAlg[r.Alg], sk)
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: signer.Public(), KeyID: r.ID, Algorithm: r.Alg, Use: "sig"})
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.byKID, k.byAlg, k.jwks = byKID, byAlg, doc
	k.mu.Unlock()
	return nil
}

// Rotation is what a rotation did: the new keys (RS256, then ES256), published at once, and
// when they start signing, which is also when the keys they replace retire.
type Rotation struct {
	KIDs      []string
	SignsFrom time.Time
}

// Rotate publishes new keys and schedules the current ones to retire when the new ones start
// signing, after the activation delay: until then the old keys keep signing, so no relying
// app sees a kid its cached JWKS lacks. A retired key stays published for retention after it
// stops signing, so every token it signed can still be verified until it expires.
func (k *Keys) Rotate(ctx context.Context, retention time.Duration) (Rotation, error) {
	rows, err := k.st.ListSigningKeys(ctx)
	if err != nil {
		return Rotation{}, err
	}
	// One instant, at the stores' common precision, so the old keys retire exactly when the
	// new ones activate (signsFrom is computed from the stored created time).
	now := k.now().UTC().Truncate(time.Microsecond)
	from := now.Add(k.activationDelay())
	rot := Rotation{SignsFrom: from}
	for _, alg := range []string{AlgRS256, AlgES256} {
		sk, err := k.generate(alg)
		if err != nil {
			return Rotation{}, err
		}
		sk.CreatedAt = now
		if err := k.st.CreateSigningKey(ctx, sk); err != nil {
			return Rotation{}, err
		}
		rot.KIDs = append(rot.KIDs, sk.ID)
	}
	for i := range rows {
		r := rows[i]
		// A key already due to retire (its successor still waiting) keeps its date: it
		// hands over to that successor, which in turn retires when this rotation's keys sign.
		if r.RetiredAt.IsZero() {
			r.RetiredAt, r.ExpiresAt = from, from.Add(retention)
			if err := k.st.UpdateSigningKey(ctx, &r); err != nil {
				return Rotation{}, err
			}
		}
	}
	return rot, k.Reload(ctx)
}

// RotateIfDue rotates when the newest key was made longer than interval ago (a zero interval
// never rotates), so each key signs for about interval after its activation delay. Replicas
// may race: each creates keys and the newest wins once their delay ends, which is harmless.
func (k *Keys) RotateIfDue(ctx context.Context, interval, retention time.Duration) (bool, error) {
	if interval <= 0 {
		return false, nil
	}
	rows, err := k.st.ListSigningKeys(ctx)
	if err != nil {
		return false, err
	}
	for _, r := range rows { // newest first
		if r.RetiredAt.IsZero() {
			if k.now().Sub(r.CreatedAt) < interval {
				return false, nil
			}
			break
		}
	}
	_, err = k.Rotate(ctx, retention)
	return err == nil, err
}

// JWKS returns the public key set document.
func (k *Keys) JWKS() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.jwks
}

// KID returns the kid of the active key for alg (RS256 when alg is unknown).
func (k *Keys) KID(alg string) string {
	sk := k.activeKey(alg)
	if sk == nil {
		sk = k.activeKey(AlgRS256)
	}
	if sk == nil {
		return ""
	}
	return sk.kid
}

func (k *Keys) byID(kid string) *signingKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.byKID[kid]
}

var errUnknownKey = errors.New("oidc: unknown signing key")

// signer implements fosite's jwt.Signer over Keys: it signs with the key named by the token
// header's kid (the session sets it per client) and verifies with whichever published key the
// token names, so tokens signed before a rotation still verify.
type signer struct{ keys *Keys }

var _ jwt.Signer = signer{}

func (s signer) Generate(_ context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	kid, _ := header.ToMap()["kid"].(string)
	sk := s.keys.byID(kid)
	if sk == nil {
		sk = s.keys.activeKey(AlgRS256)
	} else {
		// The kid only chooses the algorithm: a session stored before a rotation names the
		// old key, and one stored by a replica whose clock runs ahead may name a key still
		// waiting here; either way the key signing now for that algorithm signs.
		sk = s.keys.activeKey(sk.alg)
	}
	if sk == nil {
		return "", "", errUnknownKey
	}
	h := header.ToMap()
	h["kid"] = sk.kid
	tok := jwt.NewWithClaims(jose.SignatureAlgorithm(sk.alg), claims)
	for k, v := range h {
		tok.Header[k] = v
	}
	raw, err := tok.SignedString(sk.private)
	if err != nil {
		return "", "", err
	}
	sig, err := s.GetSignature(context.Background(), raw)
	return raw, sig, err
}

func (s signer) keyFunc(t *jwt.Token) (interface{}, error) {
	kid, _ := t.Header["kid"].(string)
	sk := s.keys.byID(kid)
	if sk == nil {
		return nil, errUnknownKey
	}
	if alg, _ := t.Header["alg"].(string); alg != sk.alg {
		return nil, errUnknownKey
	}
	return sk.private.Public(), nil
}

func (s signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

func (s signer) Decode(_ context.Context, token string) (*jwt.Token, error) {
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, s.keyFunc)
}

func (s signer) GetSignature(_ context.Context, token string) (string, error) {
	for i := len(token) - 1; i >= 0; i-- {
		if token[i] == '.' {
			return token[i+1:], nil
		}
	}
	return "", errors.New("oidc: malformed JWT")
}

func (s signer) Hash(_ context.Context, in []byte) ([]byte, error) {
	h := crypto.SHA256.New()
	h.Write(in)
	return h.Sum(nil), nil
}

func (s signer) GetSigningMethodLength(context.Context) int { return crypto.SHA256.Size() }
