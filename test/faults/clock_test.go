package faults

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// clock drives the wall clock Keyward reads and the monotonic clock beside it separately:
// pass is time passing (both move), step is the wall clock being set (only it moves).
type clock struct {
	e    *testenv.Env
	mu   sync.Mutex
	mono time.Duration
}

func (c *clock) elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

func (c *clock) pass(d time.Duration) {
	c.mu.Lock()
	c.mono += d
	c.mu.Unlock()
	c.e.Clock.Advance(d)
}

func (c *clock) step(d time.Duration) { c.e.Clock.Advance(d) }

// start runs Keyward on the clock production uses: app.SteadyClock over the wall clock.
func start(t *testing.T, configure func(*app.Config)) (*testenv.Env, *clock) {
	t.Helper()
	c := &clock{}
	c.e = testenv.Start(t, testenv.Options{Configure: configure,
		WrapClock: func(now func() time.Time) func() time.Time { return app.SteadyClock(now, c.elapsed) }})
	return c.e, c
}

// TestRL08_SteadyClockNeverRunsBackwards: stepped back, the clock goes on at the monotonic
// rate from where it was; stepped forward, it follows at once.
func TestRL08_SteadyClockNeverRunsBackwards(t *testing.T) {
	wall := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var mono time.Duration
	now := app.SteadyClock(func() time.Time { return wall }, func() time.Duration { return mono })
	t0 := now()
	wall, mono = wall.Add(-time.Hour), mono+time.Second
	if got := now(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("a second after the wall clock stepped back 1h: %v, want %v", got, t0.Add(time.Second))
	}
	wall, mono = wall.Add(10*time.Minute), mono+10*time.Minute
	if got := now(); !got.Equal(t0.Add(10*time.Minute + time.Second)) {
		t.Fatalf("10 minutes later: %v, want %v (counting on, the wall clock is still behind)", got, t0.Add(10*time.Minute+time.Second))
	}
	wall = wall.Add(25 * time.Hour)
	if got := now(); !got.Equal(wall) {
		t.Fatalf("after a 25h forward step: %v, want the wall clock %v", got, wall)
	}
	// Real time, whose readings carry a monotonic part: comparisons must use the wall part.
	real := app.SteadyClock(time.Now, app.MonotonicSince(time.Now()))
	if a, b := real(), real(); b.Before(a) {
		t.Fatalf("the production clock ran backwards: %v then %v", a, b)
	}
}

// TestRL08_ClockSteppedBackRevivesNothing steps the wall clock back an hour at the worst
// moments: just after a challenge, a code or a recovery link expired (it must stay expired),
// and just after one was issued (it must not live longer than configured in real time). A
// live session is not ended early by the step.
func TestRL08_ClockSteppedBackRevivesNothing(t *testing.T) {
	mb := startMailbox(t)
	e, c := start(t, mb.configure)
	ctx := context.Background()
	rp := e.NewRP(testenv.RPOptions{FirstParty: true})
	home := e.SignedUp("person@example.test")

	t.Run("challenge", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			move func()
		}{
			{"expired, then the step", func() {
				c.pass(5*time.Minute + time.Second)
				c.step(-time.Hour)
			}},
			{"the step, then its lifetime", func() {
				c.step(-time.Hour)
				c.pass(5*time.Minute + time.Second)
			}},
		} {
			b := e.NewBrowser()
			b.Auth = home.Auth
			csrf, err := b.CSRF(ctx, "/login")
			if err != nil {
				t.Fatal(err)
			}
			var opts json.RawMessage
			if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{}`), &opts); err != nil {
				t.Fatal(err)
			}
			assertion, err := home.Auth.Get(opts)
			if err != nil {
				t.Fatal(err)
			}
			tc.move()
			var pe *passkeyclient.Error
			if err := b.PostJSON(ctx, "/webauthn/login/finish", csrf, assertion, nil); !errors.As(err, &pe) || pe.Code != "ceremony_expired" {
				t.Errorf("%s: sign-in finish answered %v, want 400 ceremony_expired", tc.name, err)
			}
		}
	})

	t.Run("code", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			move func()
		}{
			{"expired, then the step", func() {
				c.pass(2*time.Minute + time.Second)
				c.step(-time.Hour)
			}},
			{"the step, then its lifetime", func() {
				c.step(-time.Hour)
				c.pass(2*time.Minute + time.Second)
			}},
		} {
			f := testenv.NewFlow()
			cb, err := home.Authorize(ctx, rp.AuthURL(f), true)
			if err != nil {
				t.Fatal(err)
			}
			code, err := rp.Callback(cb, f)
			if err != nil {
				t.Fatal(err)
			}
			tc.move()
			if status, body := exchange(t, rp, code, f.Verifier); status != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
				t.Errorf("%s: the code was redeemed: %d %s", tc.name, status, body)
			}
		}
	})

	t.Run("live session", func(t *testing.T) {
		c.step(-time.Hour)
		if r, _, err := home.Get(ctx, "/account"); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("the account page after the step: %v %v, want 200 (the session is live)", r, err)
		}
	})

	t.Run("recovery link", func(t *testing.T) {
		startRecovery(t, e.NewBrowser(), "person@example.test")
		link := mb.link(t, "person@example.test", "Recover your")
		c.step(-time.Hour)
		c.pass(24*time.Hour + time.Second)
		b := e.NewBrowser()
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		csrf, err := b.CSRF(ctx, "/recovery")
		if err != nil {
			t.Fatal(err)
		}
		begin, _ := json.Marshal(map[string]string{"token": u.Query().Get("token")})
		var pe *passkeyclient.Error
		if err := b.PostJSON(ctx, "/webauthn/recovery/begin", csrf, begin, nil); !errors.As(err, &pe) || pe.Status/100 != 4 {
			t.Fatalf("a recovery link 24h and a second old (by the monotonic clock) was accepted: %v", err)
		}
	})
}

// TestRL08_ClockJumpedForwardEndsSessionsRunsPendingOnce jumps the wall clock 25 hours ahead:
// sessions past their absolute lifetime end, and a recovery passkey whose cooling-off ended
// meanwhile is activated exactly once, however many schedulers run at once and across a
// restart (SA-02).
func TestRL08_ClockJumpedForwardEndsSessionsRunsPendingOnce(t *testing.T) {
	mb := startMailbox(t)
	e, c := start(t, func(cfg *app.Config) {
		mb.configure(cfg)
		cfg.Recovery.CoolingOff = 24 * time.Hour
	})
	ctx := context.Background()
	home := e.SignedUp("person@example.test")
	attacker := e.NewBrowser()
	startRecovery(t, attacker, "person@example.test")
	if out := recoverWith(t, attacker, mb.link(t, "person@example.test", "Recover your")); out != "pending" {
		t.Fatalf("recovery by email alone: %q, want pending", out)
	}

	c.step(25 * time.Hour)
	r, _, err := home.Get(ctx, "/account")
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("the account page 25h later: %d → %q, want a redirect to sign in (session absolute timeout 24h)",
			r.StatusCode, r.Header.Get("Location"))
	}

	var ran atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			n, err := e.App.IDP.RunDuePendingActions(ctx)
			if err != nil {
				t.Error(err)
			}
			ran.Add(int64(n))
		})
	}
	wg.Wait()
	if ran.Load() != 1 {
		t.Fatalf("4 schedulers at once executed %d pending actions, want 1", ran.Load())
	}
	e.Restart()
	if n, err := e.App.IDP.RunDuePendingActions(ctx); err != nil || n != 0 {
		t.Fatalf("after a restart the scheduler executed %d (%v), want 0", n, err)
	}
	evs, err := e.Store.ListAudit(ctx, store.AuditQuery{Event: idp.EventPendingExecuted})
	if err != nil || len(evs) != 1 {
		t.Fatalf("pending.executed audited %d times (%v), want once", len(evs), err)
	}
	if _, err := attacker.SignIn(ctx, "", ""); err != nil {
		t.Fatalf("the passkey activated after the cooling-off cannot sign in: %v", err)
	}
}

// startRecovery asks for a recovery link for email, as anyone can.
func startRecovery(t *testing.T, b *passkeyclient.Client, email string) {
	t.Helper()
	csrf, err := b.CSRF(context.Background(), "/recovery")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, b.Base+"/recovery/start",
		strings.NewReader(url.Values{"csrf_token": {csrf}, "email": {email}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Base)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /recovery/start: %d", resp.StatusCode)
	}
}

// recoverWith opens the mailed link and enrolls a new passkey in b's authenticator; it
// returns the outcome's status (pending while the cooling-off runs).
func recoverWith(t *testing.T, b *passkeyclient.Client, link string) string {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	csrf, err := b.CSRF(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	begin, _ := json.Marshal(map[string]string{"token": u.Query().Get("token")})
	var opts json.RawMessage
	if err := b.PostJSON(ctx, "/webauthn/recovery/begin", csrf, begin, &opts); err != nil {
		t.Fatal(err)
	}
	cred, err := b.Auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Status string `json:"status"`
	}
	if err := b.PostJSON(ctx, "/webauthn/recovery/finish", csrf, cred, &out); err != nil {
		t.Fatal(err)
	}
	return out.Status
}

// exchange redeems code at the token endpoint and returns the status and body.
func exchange(t *testing.T, rp *testenv.RP, code, verifier string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rp.RedirectURI}, "code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, rp.Provider.Endpoint().TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(rp.ID), url.QueryEscape(rp.Secret))
	resp, err := rp.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
