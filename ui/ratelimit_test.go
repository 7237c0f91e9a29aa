package ui

import (
	"testing"
	"time"
)

// TestRT01_TokenBucketRefillsAndNeverLocksOut: a bucket empties after its burst, answers with
// the wait until the next token, refills with the injected clock, and keys are independent
// (one account's exhausted bucket does not touch another key or action).
func TestRT01_TokenBucketRefillsAndNeverLocksOut(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRateLimits(func() time.Time { return now }, map[string]limitRule{"a": {every: time.Minute, burst: 3}})
	for i := range 3 {
		if ok, _ := l.allow("a", "ip:1", "account:x"); !ok {
			t.Fatalf("attempt %d refused within the burst", i)
		}
	}
	ok, retry := l.allow("a", "ip:1", "account:x")
	if ok || retry < 59*time.Second || retry > time.Minute {
		t.Fatalf("4th attempt: ok=%v retry=%s, want refused with ~1m", ok, retry)
	}
	if ok, _ := l.allow("a", "ip:2", "account:y"); !ok {
		t.Fatal("another key was limited")
	}
	if ok, _ := l.allow("unlimited", "ip:1"); !ok {
		t.Fatal("an action without a rule was limited")
	}
	// A refusal by one key takes no token from the others: ip:3 alone still has its burst.
	for range 3 {
		l.allow("a", "ip:3", "account:x")
	}
	if ok, _ := l.allow("a", "ip:3"); !ok {
		t.Fatal("refused attempts consumed tokens of the other keys")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.allow("a", "ip:1", "account:x"); !ok {
		t.Fatal("the bucket did not refill")
	}
}
