package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
)

func TestHistogramBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		d := time.Duration(r.Int64N(int64(time.Hour)))
		i := bucketOf(d)
		up := bucketUpper(i)
		if up < d || (i > 0 && bucketUpper(i-1) >= d) {
			t.Fatalf("%v in bucket %d with upper bound %v (previous %v)", d, i, up, bucketUpper(i-1))
		}
		if d >= histLinear && float64(up-d)/float64(d) > 1.0/histSub {
			t.Fatalf("%v reported as %v: more than 1/%d off", d, up, histSub)
		}
	}
	if i := bucketOf(time.Duration(1<<63 - 1)); i >= histBuckets {
		t.Fatalf("the largest duration falls in bucket %d of %d", i, histBuckets)
	}
	if bucketOf(-time.Second) != 0 {
		t.Fatal("a negative duration must count as zero")
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var a, b histogram
	for i := 1; i <= 1000; i++ {
		h := &a
		if i%2 == 0 {
			h = &b
		}
		h.record(time.Duration(i) * time.Millisecond)
	}
	a.merge(&b)
	s := a.summary()
	near := func(name string, got, want time.Duration) {
		if got < want || float64(got-want) > float64(want)/histSub {
			t.Errorf("%s = %v, want %v (+1/%d)", name, got, want, histSub)
		}
	}
	near("p50", s.P50, 500*time.Millisecond)
	near("p90", s.P90, 900*time.Millisecond)
	near("p99", s.P99, 990*time.Millisecond)
	if s.Count != 1000 || s.Max != time.Second || s.Mean != 500500*time.Microsecond {
		t.Errorf("summary = %+v", s)
	}
	var empty histogram
	if empty.summary() != (Latency{}) {
		t.Error("an empty histogram must summarise to zeros")
	}
}

func TestCheckTarget(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		url    string
		remote bool
		ok     bool
	}{
		{"http://localhost:8080", false, true},
		{"http://keyward.localhost:8080", false, true},
		{"http://127.0.0.1:8080", false, true},
		{"http://127.9.9.9", false, true},
		{"http://[::1]:8080", false, true},
		{"http://192.0.2.10:8080", false, false},
		{"https://[2001:db8::1]", false, false},
		{"https://192.0.2.10", true, true},
		{"ftp://localhost", false, false},
		{"localhost:8080", false, false},
		{"http://localhost:8080/oauth2", false, false},
		{"http://localhost:8080?x=1", false, false},
	}
	for _, c := range cases {
		err := CheckTarget(ctx, c.url, c.remote)
		if (err == nil) != c.ok {
			t.Errorf("CheckTarget(%q, remote=%v) = %v, want ok=%v", c.url, c.remote, err, c.ok)
		}
	}
	if err := CheckTarget(ctx, "http://192.0.2.10", false); !errors.Is(err, ErrRemoteTarget) {
		t.Errorf("a remote address must be refused with ErrRemoteTarget, got %v", err)
	}
}

func TestKindOf(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{at("token", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 503}, ErrorCode: "temporarily_unavailable"}), "token: HTTP 503 temporarily_unavailable"},
		{at("authorize", &passkeyclient.Error{Status: 500, Code: "server_error"}), "authorize: HTTP 500 server_error"},
		{at("refresh", &httpError{Status: 400, Code: "invalid_grant"}), "refresh: HTTP 400 invalid_grant"},
		{at("authorize", fmt.Errorf("get: %w", syscall.ECONNREFUSED)), "authorize: connection refused"},
		{at("userinfo", context.DeadlineExceeded), "userinfo: timeout"},
		{at("id_token", checkError("nonce mismatch")), "id_token: nonce mismatch"},
		{at("authorize", fmt.Errorf("%w: GET /consent answered 500", passkeyclient.ErrNoCallback)), "authorize: passkeyclient: the flow did not reach the callback: GET /consent answered 500"},
		{errors.New("something odd"), "other"},
	}
	for _, c := range cases {
		if got := kindOf(c.err); got != c.want {
			t.Errorf("kindOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestSanitizeDropsQueries(t *testing.T) {
	s := sanitize(`redirected to http://127.0.0.1:9/cb?code=SECRET&state=x, then "http://x/y?z=1"`)
	if strings.Contains(s, "SECRET") || strings.Contains(s, "z=1") {
		t.Fatalf("sanitize kept a query: %q", s)
	}
	if len(sanitize(strings.Repeat("a", 1000))) > 210 {
		t.Fatal("sanitize must bound the length")
	}
}

func TestOptionsBounds(t *testing.T) {
	for _, o := range []Options{
		{Mode: "signup"},
		{Mode: ModeJWKS, Concurrency: MaxConcurrency + 1},
		{Mode: ModeJWKS, Duration: MaxDuration + time.Second},
		{Mode: ModeJWKS, Duration: -time.Second},
		{Mode: ModeJWKS, MaxOps: -1},
	} {
		if err := o.defaults(); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	o := Options{Mode: ModeSignIn}
	if err := o.defaults(); err != nil || o.Concurrency != 16 || o.Duration != 10*time.Second {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	if _, err := Prepare(context.Background(), Target{Issuer: "http://localhost:1"}, Options{Mode: ModeSignIn}); err == nil ||
		!strings.Contains(err.Error(), "needs between 1") {
		t.Errorf("sign-in without people: %v", err)
	}
}
