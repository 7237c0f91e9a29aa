package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Limits on fetching a private_key_jwt client's jwks_uri. A key set is a few KiB; the fetch
// happens inside a token request, so it must be quick or fail.
const (
	jwksMaxBytes     = 64 << 10
	jwksFetchTimeout = 5 * time.Second
	jwksMaxRedirects = 3
	// jwksCacheTTL is how long a fetched set is used before it is fetched again.
	jwksCacheTTL = 10 * time.Minute
	// jwksMinRefetch spaces the refetches an unknown kid triggers, so assertions with random
	// kids cannot turn Keyward into a request generator against the client's server.
	jwksMinRefetch = 10 * time.Second
)

var errJWKSFetch = errors.New("oidc: client jwks_uri could not be fetched")

// jwksFetcher fetches and caches client key sets. It only talks to public addresses: a
// jwks_uri is chosen by whoever registers the client, and without this rule it could point
// Keyward at its own management listener, a cloud metadata service or an internal host
// (SSRF). With an http://localhost issuer (development) loopback addresses are allowed too.
type jwksFetcher struct {
	client        *http.Client
	now           func() time.Time
	allowLoopback bool

	mu    sync.Mutex
	cache map[string]*jwksEntry
}

type jwksEntry struct {
	mu      sync.Mutex // held during a fetch: concurrent requests for one URI wait for it
	set     *jose.JSONWebKeySet
	fetched time.Time
	// failed is the last failed fetch: a slow or broken jwks_uri is not retried for
	// jwksMinRefetch, so requests naming that client fail fast instead of queueing.
	failed time.Time
}

func newJWKSFetcher(now func() time.Time, allowLoopback bool) *jwksFetcher {
	f := &jwksFetcher{now: now, allowLoopback: allowLoopback, cache: map[string]*jwksEntry{}}
	f.client = newOutboundClient(jwksFetchTimeout, allowLoopback)
	// Unlike logout tokens, a key set may move (CDNs redirect): a few redirects, each to a URL
	// this fetcher would fetch directly; the dialer still checks every address.
	f.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > jwksMaxRedirects {
			return errors.New("too many redirects")
		}
		return f.checkURL(req.URL)
	}
	return f
}

// checkURL allows https, and http only to a loopback host in development.
func (f *jwksFetcher) checkURL(u *url.URL) error {
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && f.allowLoopback && isLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("jwks_uri must be https, got %s://%s", u.Scheme, u.Host)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// get returns uri's key set from the cache, fetching it when absent or older than the TTL.
// refresh asks for a new copy (an unknown kid), at most once per jwksMinRefetch.
func (f *jwksFetcher) get(ctx context.Context, uri string, refresh bool) (*jose.JSONWebKeySet, error) {
	f.mu.Lock()
	e := f.cache[uri]
	if e == nil {
		e = &jwksEntry{}
		f.cache[uri] = e
	}
	f.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := f.now()
	age := now.Sub(e.fetched)
	fresh := e.set != nil && age >= 0 && age < jwksCacheTTL
	if fresh && (!refresh || age < jwksMinRefetch) {
		return e.set, nil
	}
	if since := now.Sub(e.failed); !e.failed.IsZero() && since >= 0 && since < jwksMinRefetch {
		if fresh {
			return e.set, nil
		}
		return nil, fmt.Errorf("%w: failed %s ago", errJWKSFetch, since)
	}
	set, err := f.fetch(ctx, uri)
	if err != nil {
		e.failed = now
		if fresh {
			// A refetch that failed leaves the cached set in use until it expires.
			return e.set, nil
		}
		return nil, err
	}
	e.set, e.fetched, e.failed = set, now, time.Time{}
	return set, nil
}

func (f *jwksFetcher) fetch(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errJWKSFetch, err)
	}
	if err := f.checkURL(u); err != nil {
		return nil, fmt.Errorf("%w: %v", errJWKSFetch, err)
	}
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errJWKSFetch, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errJWKSFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", errJWKSFetch, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errJWKSFetch, err)
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", errJWKSFetch, jwksMaxBytes)
	}
	return parseClientJWKS(body)
}

// clientKeySet returns a client's parsed inline key set.
type clientKeySet = func() (*jose.JSONWebKeySet, error)

// lazyClientJWKS parses raw on first use and remembers the outcome.
func lazyClientJWKS(raw string) clientKeySet {
	return sync.OnceValues(func() (*jose.JSONWebKeySet, error) { return parseClientJWKS([]byte(raw)) })
}

// parseClientJWKS reads a client's key set; private key material is refused outright, since
// a client that publishes its private key can no longer be told apart from anyone else.
func parseClientJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("oidc: client JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("oidc: client JWKS has no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("oidc: client JWKS key %q holds private key material", k.KeyID)
		}
	}
	return &set, nil
}

// ValidateClientKeys checks a private_key_jwt client's registration: exactly one of an inline
// JWKS and a jwks_uri, the JWKS public keys Keyward can verify with, the URI https, and the
// signing alg one Keyward supports. The console and CLI call it before saving a client.
func ValidateClientKeys(jwks, jwksURI, alg string) error {
	var errs []error
	switch {
	case jwks != "" && jwksURI != "":
		errs = append(errs, errors.New("give either jwks or jwks_uri, not both"))
	case jwks == "" && jwksURI == "":
		errs = append(errs, errors.New("private_key_jwt needs jwks or jwks_uri"))
	case jwks != "":
		set, err := parseClientJWKS([]byte(jwks))
		if err != nil {
			errs = append(errs, err)
			break
		}
		for _, k := range set.Keys {
			if !usableKeyType(k) {
				errs = append(errs, fmt.Errorf("jwks key %q is not an RSA (2048+ bits), P-256 or Ed25519 public key", k.KeyID))
			}
		}
	default:
		u, err := url.Parse(jwksURI)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
			errs = append(errs, errors.New("jwks_uri must be an absolute https URL"))
		}
	}
	if alg != "" && !isAssertionAlg(alg) {
		errs = append(errs, fmt.Errorf("token_endpoint_auth_signing_alg %q is not one of %v", alg, assertionAlgs))
	}
	return errors.Join(errs...)
}
