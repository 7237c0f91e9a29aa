package ui

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate limits (RT-01): token buckets from golang.org/x/time/rate, per action and per key (an IP,
// an account, an email hash), in this process's memory. Behind a load balancer each replica
// limits separately, so the effective limit is the per-replica one times the replicas; a
// store-backed limiter is future work. Buckets refill continuously, so a limited client waits
// (progressive delay, told by Retry-After) and is never locked out: the recovery-code bucket of
// an account does not touch passkey sign-in, whose limit is per IP only, so an attacker cannot
// use it to lock the owner out.

// Limited actions.
const (
	limitSignIn        = "signin"         // per IP: sign-in begin and finish
	limitStepUp        = "stepup"         // per IP
	limitRecoveryStart = "recovery_start" // per IP and per email address: each one may send a mail
	limitRecoveryCode  = "recovery_code"  // per IP and per account: each attempt is a guess
	limitTokenUse      = "token_use"      // per IP: posting a mailed link's token (cancel, recovery finish)
)

type limitRule struct {
	every time.Duration // one token per every
	burst int
}

// defaultLimits: bursts absorb honest retries; the refill rate bounds guessing. Recovery codes
// have 80 bits, so even the per-IP rate is far from mattering, but NIST 63B-4 §3.2.2 asks for
// throttling all the same.
var defaultLimits = map[string]limitRule{
	limitSignIn:        {every: 100 * time.Millisecond, burst: 100},
	limitStepUp:        {every: 3 * time.Second, burst: 20},
	limitRecoveryStart: {every: time.Minute, burst: 5},
	limitRecoveryCode:  {every: 10 * time.Minute, burst: 5},
	limitTokenUse:      {every: 6 * time.Second, burst: 20},
}

// maxBuckets bounds memory; past it, full (idle) buckets are dropped.
const maxBuckets = 50000

type rateLimits struct {
	now     func() time.Time
	rules   map[string]limitRule
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newRateLimits(now func() time.Time, rules map[string]limitRule) *rateLimits {
	if rules == nil {
		rules = defaultLimits
	}
	return &rateLimits{now: now, rules: rules, buckets: map[string]*rate.Limiter{}}
}

// allow takes one token from the bucket of every key of action, or none when any bucket is
// empty; it then returns false and how long until a token is back.
func (l *rateLimits) allow(action string, keys ...string) (bool, time.Duration) {
	rule, ok := l.rules[action]
	if !ok {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) > maxBuckets {
		l.prune(now)
	}
	var taken []*rate.Reservation
	for _, k := range keys {
		if k == "" {
			continue
		}
		id := action + "\x00" + k
		b := l.buckets[id]
		if b == nil {
			b = rate.NewLimiter(rate.Every(rule.every), rule.burst)
			l.buckets[id] = b
		}
		r := b.ReserveN(now, 1)
		if d := r.DelayFrom(now); !r.OK() || d > 0 {
			r.CancelAt(now)
			for _, t := range taken {
				t.CancelAt(now)
			}
			return false, max(d, time.Second)
		}
		taken = append(taken, r)
	}
	return true, 0
}

func (l *rateLimits) prune(now time.Time) {
	for id, b := range l.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(l.buckets, id)
		}
	}
}

const errRateLimited = "rate_limited"

// tooMany answers 429 with Retry-After in whole seconds.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	secs := int((retry + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	msg := "Too many attempts. Wait a moment and try again."
	if wantsJSON(r) {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": errRateLimited, "error_description": msg, "retry_after": secs})
		return
	}
	s.renderError(w, r, http.StatusTooManyRequests, errRateLimited, msg)
}

// limitByIP wraps a handler with the per-IP bucket of action. For the sign-in endpoints in
// ceremony.go: mux.HandleFunc("POST /webauthn/login/begin", s.limitByIP(limitSignIn, s.loginBegin)).
func (s *Server) limitByIP(action string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, retry := s.recoveryDeps().limits.allow(action, "ip:"+s.ip(r)); !ok {
			s.tooMany(w, r, retry)
			return
		}
		h(w, r)
	}
}
