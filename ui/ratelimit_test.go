package ui

import (
	"net/http"
	"net/http/httptest"
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
	// A refusal by one bucket takes no token from the others: with account x's cap spent
	// from other addresses, ip:3's refused attempts leave ip:3 its whole burst.
	capped := newRateLimits(func() time.Time { return now }, map[string]limitRule{
		"b": {every: time.Minute, burst: 3, accountCap: &limitRule{every: time.Minute, burst: 3}}})
	for i := range 3 {
		capped.allow("b", "ip:other"+strconv.Itoa(i), "account:x")
	}
	for range 3 {
		if ok, _ := capped.allow("b", "ip:3", "account:x"); ok {
			t.Fatal("allowed past the account cap")
		}
	}
	for i := range 3 {
		if ok, _ := capped.allow("b", "ip:3"); !ok {
			t.Fatalf("attempt %d of ip:3 alone refused: refused attempts consumed its tokens", i)
		}
	}
	now = now.Add(time.Minute)
	if ok, _ := l.allow("a", "ip:1", "account:x"); !ok {
		t.Fatal("the bucket did not refill")
	}
}

// TestRT01_AccountBucketsNeverLockTheOwnerOut: guesses against one account from one address
// exhaust only that address's bucket; the owner, from their own address, still gets
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

// TestRT01_RecoveryStartNeverLocksTheOwnerOut: asking for a recovery link for someone's address
// from many addresses (one a minute each, forever) leaves the owner able to ask from theirs:
// there is no bucket shared by everyone asking for one address.
func TestRT01_RecoveryStartNeverLocksTheOwnerOut(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRateLimits(func() time.Time { return now }, nil)
	victim := emailKey("owner@example.test")
	for minute := range 60 {
		for bot := range 30 {
			l.allow(limitRecoveryStart, "ip:bot"+strconv.Itoa(bot), victim)
		}
		if ok, _ := l.allow(limitRecoveryStart, "ip:owner", victim); !ok {
			t.Fatalf("minute %d: the owner was refused while others asked for the address", minute)
		}
		now = now.Add(time.Minute)
	}
	// One address is still limited on its own.
	for range 5 {
		l.allow(limitRecoveryStart, "ip:one", emailKey("x@example.test"))
	}
	if ok, _ := l.allow(limitRecoveryStart, "ip:one", emailKey("y@example.test")); ok {
		t.Fatal("one address asked past its burst")
	}
}

// TestRT01_IPv6BucketsPer64: one host holding a /64 cannot step through it to get fresh buckets.
func TestRT01_IPv6BucketsPer64(t *testing.T) {
	s := &Server{}
	key := func(remote string) string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		return s.ipKey(r)
	}
	if a, b := key("[2001:db8:1:2::1]:1000"), key("[2001:db8:1:2:ffff::9]:2000"); a != b {
		t.Fatalf("one /64: keys %q and %q differ", a, b)
	}
	if a, b := key("[2001:db8:1:2::1]:1000"), key("[2001:db8:1:3::1]:1000"); a == b {
		t.Fatalf("two /64s share key %q", a)
	}
	if a, b := key("192.0.2.1:1"), key("192.0.2.2:1"); a == b || a != "ip:192.0.2.1" {
		t.Fatalf("IPv4 keys %q and %q", a, b)
	}
}
