package ui

import (
	"strconv"
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

// TestRT01_AccountBucketsNeverLockTheOwnerOut: guesses against one account from one address
// exhaust only that (account, address) bucket; the owner, from their own address, still gets
// through. Spread over many addresses they reach the looser account-wide cap, which refills
// continuously: a delay, never a lockout.
func TestRT01_AccountBucketsNeverLockTheOwnerOut(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRateLimits(func() time.Time { return now }, map[string]limitRule{
		"code": {every: 10 * time.Minute, burst: 5, accountCap: &limitRule{every: 15 * time.Minute, burst: 20}},
	})
	for range 5 {
		l.allow("code", "ip:attacker", "account:victim")
	}
	if ok, _ := l.allow("code", "ip:attacker", "account:victim"); ok {
		t.Fatal("the 6th guess from one address was allowed")
	}
	if ok, _ := l.allow("code", "ip:owner", "account:victim"); !ok {
		t.Fatal("the owner was locked out by guesses from another address")
	}
	// 19 more guesses from fresh addresses reach the account cap (20 in all, the owner's included).
	allowed := 0
	for i := range 30 {
		if ok, _ := l.allow("code", "ip:bot"+strconv.Itoa(i), "account:victim"); ok {
			allowed++
		}
	}
	if allowed != 14 {
		t.Fatalf("%d guesses from fresh addresses allowed, want 14 (the account cap of 20 less the 6 taken)", allowed)
	}
	ok, retry := l.allow("code", "ip:owner", "account:victim")
	if ok || retry > 15*time.Minute {
		t.Fatalf("at the account cap: ok=%v retry=%s, want a refusal of at most one refill interval", ok, retry)
	}
	now = now.Add(15 * time.Minute)
	if ok, _ := l.allow("code", "ip:owner", "account:victim"); !ok {
		t.Fatal("the account cap did not refill")
	}
	// Email keys (recovery start) split the same way.
	for range 5 {
		l.allow("code", "ip:attacker", "email:victim")
	}
	if ok, _ := l.allow("code", "ip:attacker", "email:victim"); ok {
		t.Fatal("the 6th recovery start from one address was allowed")
	}
	if ok, _ := l.allow("code", "ip:owner", "email:victim"); !ok {
		t.Fatal("the owner's recovery start was blocked by another address")
	}
}
