package ui

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/keyward/keyward/store"
)

// Rate limits (RT-01): token buckets per action and per key (an IP, an account, an email
// hash). Buckets refill continuously, so a limited client waits (progressive delay, told by
// Retry-After) and is never locked out for good.
//
// Where the state lives: with rate_limit_store "store" (the default "auto" picks it on
// PostgreSQL) every replica takes from the same buckets in the database (GCRA, one atomic
// upsert per bucket, store.RateLimits), so N replicas give one budget, not N. Otherwise the
// buckets are in this process's memory (golang.org/x/time/rate): right for SQLite, which is a
// single process, and it costs no write per attempt. When the store cannot answer, the
// in-memory buckets stand in, so throttling degrades to per-replica instead of off.
//
// Keys naming a person never lock the owner out: every limited request is charged to its
// address with the action's rule; an "account:" or "email:" key adds only a looser bucket per
// person (accountCap) that bounds the total an attacker spread over many addresses can try,
// and refills. Actions without an accountCap (recovery start, passkey sign-in) are limited
// per address only.

// Limited actions.
const (
	limitSignIn        = "signin"         // per IP: sign-in begin and finish
	limitStepUp        = "stepup"         // per IP and per account
	limitRecoveryStart = "recovery_start" // per IP and per email address: each one may send a mail
	limitRecoveryCode  = "recovery_code"  // per IP and per account: each attempt is a guess
	limitTokenUse      = "token_use"      // per IP: posting a mailed link's token (cancel, recovery finish)
)

type limitRule struct {
	every time.Duration // one token per every
	burst int
	// accountCap, when set, is the bucket of the whole account or email address behind the
	// per-(person, IP) one.
	accountCap *limitRule
}

// defaultLimits: bursts absorb honest retries; the refill rate bounds guessing. Recovery codes
// have 80 bits, so even the per-IP rate is far from mattering, but NIST 63B-4 §3.2.2 asks for
// throttling all the same (at most 100 consecutive failures per account: the account cap
// allows about 96 a day after its burst).
var defaultLimits = map[string]limitRule{
	limitSignIn: {every: 100 * time.Millisecond, burst: 100},
	limitStepUp: {every: 3 * time.Second, burst: 20, accountCap: &limitRule{every: time.Second, burst: 60}},
	// No per-address cap: anyone can ask for anyone's address, so a shared bucket would let an
	// attacker spread over many IPs keep the owner from asking (mail volume per account is
	// bounded by idp's one link a minute).
	limitRecoveryStart: {every: time.Minute, burst: 5},
	limitRecoveryCode:  {every: 10 * time.Minute, burst: 5, accountCap: &limitRule{every: 15 * time.Minute, burst: 20}},
	limitTokenUse:      {every: 6 * time.Second, burst: 20},
}

// maxBuckets bounds memory; past it, full (idle) buckets are dropped.
const maxBuckets = 50000

// purgeEvery: one shared take in this many also deletes the full buckets' rows.
const purgeEvery = 4096

type rateLimits struct {
	now     func() time.Time
	rules   map[string]limitRule
	mu      sync.Mutex
	buckets map[string]*rate.Limiter

	shared store.RateLimits // nil: memory only
	log    *slog.Logger
	takes  atomic.Uint64
}

func newRateLimits(now func() time.Time, rules map[string]limitRule) *rateLimits {
	if rules == nil {
		rules = defaultLimits
	}
	return &rateLimits{now: now, rules: rules, buckets: map[string]*rate.Limiter{}}
}

// share moves the buckets into the store, shared by every replica on it.
func (l *rateLimits) share(st store.RateLimits, log *slog.Logger) {
	l.shared, l.log = st, log
}

type bucket struct {
	id   string
	rule limitRule
}

// bucketsFor maps an action's keys to buckets: the action's rule for each address, and only
// the looser accountCap for a person (see the top comment).
func (l *rateLimits) bucketsFor(action string, rule limitRule, keys []string) []bucket {
	var out []bucket
	for _, k := range keys {
		if k == "" {
			continue
		}
		if strings.HasPrefix(k, "account:") || strings.HasPrefix(k, "email:") {
			// A person's key with the action's own rule would be a bucket anyone can drain for
			// them; the address's bucket (every caller passes one) already carries that rule.
			// Only a looser accountCap bounds the person as a whole, across addresses.
			if rule.accountCap != nil {
				out = append(out, bucket{action + "\x00" + k, *rule.accountCap})
			}
			continue
		}
		out = append(out, bucket{action + "\x00" + k, rule})
	}
	return out
}

// allow takes one token from every bucket of action's keys, or none when any bucket is
// empty; it then returns false and how long until a token is back.
func (l *rateLimits) allow(action string, keys ...string) (bool, time.Duration) {
	rule, ok := l.rules[action]
	if !ok {
		return true, 0
	}
	bs := l.bucketsFor(action, rule, keys)
	if l.shared != nil {
		if ok, retry, err := l.allowShared(bs); err == nil {
			return ok, retry
		} else if l.log != nil {
			l.log.Warn("shared rate limits unavailable: limiting in memory", "err", err.Error())
		}
	}
	return l.allowMemory(bs)
}

func (l *rateLimits) allowShared(bs []bucket) (bool, time.Duration, error) {
	// A limiter must never hold a request up for long: a slow database fails over to memory.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	keys := make([]store.RateLimitKey, len(bs))
	for i, b := range bs {
		keys[i] = store.RateLimitKey{Key: b.id, Every: b.rule.every, Burst: b.rule.burst}
	}
	now := l.now()
	ok, retry, err := l.shared.TakeRateLimit(ctx, keys, now)
	if err != nil {
		return false, 0, err
	}
	if l.takes.Add(1)%purgeEvery == 0 {
		if _, err := l.shared.PurgeRateLimits(ctx, now); err != nil && l.log != nil {
			l.log.Warn("purging full rate-limit buckets failed", "err", err.Error())
		}
	}
	if !ok {
		retry = max(retry, time.Second)
	}
	return ok, retry, nil
}

func (l *rateLimits) allowMemory(bs []bucket) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) > maxBuckets {
		l.prune(now)
	}
	var taken []*rate.Reservation
	for _, bk := range bs {
		b := l.buckets[bk.id]
		if b == nil {
			b = rate.NewLimiter(rate.Every(bk.rule.every), bk.rule.burst)
			l.buckets[bk.id] = b
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
		if ok, retry := s.recoveryDeps().limits.allow(action, s.ipKey(r)); !ok {
			s.tooMany(w, r, retry)
			return
		}
		h(w, r)
	}
}

// ipKey is the rate-limit key of the request's address: the address itself for IPv4, its /64
// for IPv6, where one host commonly holds a whole /64 and could otherwise step through it.
func (s *Server) ipKey(r *http.Request) string {
	ip := s.ip(r)
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip
}
