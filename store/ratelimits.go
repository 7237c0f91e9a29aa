package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RateLimitKey names one bucket and its rule: a token comes back every Every, and at most
// Burst are kept. The rule travels with every call, so replicas started with different
// settings each apply their own rule to the shared state instead of disagreeing about it.
type RateLimitKey struct {
	Key   string
	Every time.Duration
	Burst int
}

// RateLimits is limiter state shared by every replica on one database, so that N replicas
// give one budget, not N. The state is GCRA: per key, one "theoretical arrival time" (TAT);
// a key whose TAT is in the past is a full bucket and its row may go.
type RateLimits interface {
	// TakeRateLimit takes one token from every bucket in keys or, when any of them is empty,
	// from none; it then returns false and how long until that bucket has a token again.
	// The check and the take are one atomic step: concurrent callers on any replica never
	// take more than the buckets hold.
	TakeRateLimit(ctx context.Context, keys []RateLimitKey, now time.Time) (ok bool, retryAfter time.Duration, err error)
	// PurgeRateLimits deletes the rows of full buckets (TAT at or before now).
	PurgeRateLimits(ctx context.Context, now time.Time) (int64, error)
}

// PrepareRateLimitKeys drops empty keys, replaces each key by its SHA-256 in hex (the table
// then holds no addresses, account ids or email hashes, every key has one size, and any byte
// string is a valid key in every backend), and orders them, so that two transactions taking
// overlapping sets lock their rows in one order and cannot deadlock. A rule that could never
// admit anyone is a programming error, reported rather than silently enforced.
func PrepareRateLimitKeys(keys []RateLimitKey) ([]RateLimitKey, error) {
	out := make([]RateLimitKey, 0, len(keys))
	for _, k := range keys {
		if k.Key == "" {
			continue
		}
		if k.Every <= 0 || k.Burst < 1 || k.Every > time.Duration(1<<62)/time.Duration(k.Burst) {
			return nil, fmt.Errorf("rate limit %.40q: every %s and burst %d are not a usable rule", k.Key, k.Every, k.Burst)
		}
		sum := sha256.Sum256([]byte(k.Key))
		k.Key = hex.EncodeToString(sum[:])
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b RateLimitKey) int { return strings.Compare(a.Key, b.Key) })
	return slices.CompactFunc(out, func(a, b RateLimitKey) bool { return a.Key == b.Key }), nil
}
