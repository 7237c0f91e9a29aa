package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/oidc"
)

// Limits bound what one request, one address and one client can take of the server, so that
// no one of them starves the others (SECURITY RL-09). Zero fields take the defaults.
//
// In-flight caps answer at once with 503 and Retry-After instead of queueing: a request over
// a cap costs a counter check, not a goroutine waiting its turn, so latency does not grow with
// the load and the load balancer can retry elsewhere. They count requests inside the handler
// (reading a body included); connections still sending their headers are bounded by the
// server's ReadHeaderTimeout and MaxHeaderBytes instead (internal/app).
type Limits struct {
	MaxInFlight          int // the whole listener; default 1024
	MaxInFlightPerIP     int // one client address (after trusted proxies); default 64
	MaxInFlightPerClient int // one authenticated confidential OAuth client; default 64
	// MaxJSONDepth bounds the nesting of every JSON body before any decoder sees it; the
	// ceremony bodies Keyward accepts nest at most 4 deep. Default 32.
	MaxJSONDepth int
	// RateLimitStore is where the rate-limit buckets live: "store" (shared by every replica on
	// the database), "memory" (this process), or "auto" (the default: store on PostgreSQL,
	// memory on SQLite, which is one process).
	RateLimitStore string
}

func (l *Limits) defaults() {
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = 1024
	}
	if l.MaxInFlightPerIP <= 0 {
		l.MaxInFlightPerIP = 64
	}
	if l.MaxInFlightPerClient <= 0 {
		l.MaxInFlightPerClient = 64
	}
	if l.MaxJSONDepth <= 0 {
		l.MaxJSONDepth = 32
	}
	if l.RateLimitStore == "" {
		l.RateLimitStore = "auto"
	}
}

var errTooDeep = &idp.Error{Code: "invalid_request", Status: http.StatusBadRequest,
	Message: "The request body nests too deeply."}

var errDuplicateMember = &idp.Error{Code: "invalid_request", Status: http.StatusBadRequest,
	Message: "The request body names a member twice."}

// shareRateLimits moves the rate-limit buckets into the store when configured (or, on auto,
// when the store is PostgreSQL, the backend for several replicas).
func (s *Server) shareRateLimits() {
	switch s.cfg.Limits.RateLimitStore {
	case "store":
	case "auto":
		if s.st.Backend() != "postgres" {
			return
		}
	default:
		return
	}
	s.recoveryDeps().limits.share(s.st, s.log)
}

// inFlight counts requests per key; a key's entry goes when its count drops to zero, so the
// map holds only keys with a request in the handler right now.
type inFlight struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *inFlight) acquire(key string, limit int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[string]int{}
	}
	if f.n[key] >= limit {
		return false
	}
	f.n[key]++
	return true
}

func (f *inFlight) release(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[key]--; f.n[key] <= 0 {
		delete(f.n, key)
	}
}

type limiter struct {
	total     atomic.Int64
	perIP     inFlight
	perClient inFlight
}

// withLimits applies the in-flight caps and the JSON nesting bound. It runs inside withBase:
// the body is already capped at MaxBodyBytes and a refusal carries the security headers.
func (s *Server) withLimits(next http.Handler) http.Handler {
	lim := &limiter{}
	cfg := s.cfg.Limits
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer lim.total.Add(-1)
		if lim.total.Add(1) > int64(cfg.MaxInFlight) {
			s.shed(w, r, "The server is busy. Try again in a moment.")
			return
		}
		ip := s.ipKey(r)
		if !lim.perIP.acquire(ip, cfg.MaxInFlightPerIP) {
			s.shed(w, r, "Too many requests from your address at once. Try again in a moment.")
			return
		}
		defer lim.perIP.release(ip)
		if err := s.checkBody(r); err != nil {
			s.refuse(w, r, err)
			return
		}
		// The per-client cap is charged by oidc once the client has authenticated (a client_id
		// in a header, query or form proves nothing: charging it would let anyone use up
		// another client's slots); the slot is given back when the request ends.
		slot := &clientSlot{lim: &lim.perClient, max: cfg.MaxInFlightPerClient}
		defer slot.release()
		r = r.WithContext(oidc.WithClientSlots(r.Context(), slot))
		next.ServeHTTP(w, r)
	})
}

// refuse answers a body refused here (too large, too deep): as an OAuth error on the OAuth
// API, through the one error mapping elsewhere.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if isOAuthAPI(r.URL.Path) {
		status, code, msg := s.classify(r, err)
		if status/100 == 4 {
			code = "invalid_request" // RFC 6749 §5.2 has no code for a size limit
		}
		writeJSON(w, status, map[string]string{"error": code, "error_description": msg})
		return
	}
	s.fail(w, r, err)
}

// shed answers 503 with Retry-After: JSON on the API surface, the error page elsewhere.
func (s *Server) shed(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("Retry-After", "1")
	if wantsJSON(r) || isOAuthAPI(r.URL.Path) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": msg})
		return
	}
	s.renderError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", msg)
}

// isOAuthAPI: the endpoints relying apps call server to server, which expect JSON errors.
func isOAuthAPI(path string) bool {
	switch path {
	case "/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/userinfo", "/oauth2/par":
		return true
	}
	return false
}

// checkBody buffers the body of JSON requests (and OAuth API forms), bounds JSON nesting and
// refuses repeated members, so that no decoder — ours or a library's — ever walks a deeply
// nested document or reads a member another check did not see. The buffered bytes replace
// the body.
func (s *Server) checkBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := ct == "application/json" || strings.HasSuffix(ct, "+json") || strings.HasPrefix(r.URL.Path, "/webauthn/")
	// The OAuth API's form bodies are read here too, so an oversized one gets 413 with an
	// OAuth error instead of whatever the form parser makes of a cut-off body.
	if !isJSON && !(ct == "application/x-www-form-urlencoded" && isOAuthAPI(r.URL.Path)) {
		return nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errMalformed.Wrap(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	if !isJSON {
		return nil
	}
	if jsonDepth(b, s.cfg.Limits.MaxJSONDepth) > s.cfg.Limits.MaxJSONDepth {
		return errTooDeep
	}
	if repeatsMember(b) {
		return errDuplicateMember
	}
	return nil
}

// jsonDepth returns the deepest nesting of objects and arrays in b, stopping as soon as it
// passes limit. It is a linear scan that only tracks strings, not a validator: a malformed
// document within the bound is left to the decoder to refuse.
func jsonDepth(b []byte, limit int) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > deepest {
				if deepest = depth; deepest > limit {
					return deepest
				}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// repeatsMember reports whether some object in the JSON document b names a member twice.
// encoding/json (and go-webauthn, which uses it) keeps the last of two same-named members, so
// a body could show one value to a check and another to whatever reads it next; I-JSON
// (RFC 7493 §2.3) forbids duplicates and WA-13 wants such a body refused. Names are compared
// case-folded, as encoding/json matches them. Nesting is already
// bounded by jsonDepth, so the stack is too. A malformed document is left to the decoder.
func repeatsMember(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object bool
		names  map[string]struct{}
		key    bool // the next token in this object is a member name
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			top := &stack[n-1]
			if top.key {
				if name, ok := tok.(string); ok {
					// encoding/json matches names case-insensitively (last match wins), so
					// "Response" after "response" repeats it.
					name = strings.ToLower(name)
					if _, seen := top.names[name]; seen {
						return true
					}
					top.names[name] = struct{}{}
					top.key = false
					continue
				}
			} else {
				top.key = true // this token is the member's value (or starts it)
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, names: map[string]struct{}{}, key: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return false
			}
		}
	}
}

// clientSlot is one request's charge against its client's in-flight cap (oidc.ClientSlots).
type clientSlot struct {
	lim   *inFlight
	max   int
	taken string
}

func (c *clientSlot) Take(clientID string) bool {
	if c.taken != "" {
		return true // one request, one slot, however often it authenticates
	}
	if !c.lim.acquire(clientID, c.max) {
		return false
	}
	c.taken = clientID
	return true
}

func (c *clientSlot) release() {
	if c.taken != "" {
		c.lim.release(c.taken)
	}
}
