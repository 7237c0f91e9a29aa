package replicas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testenv"
)

const (
	people     = 40  // each signs up once
	signIns    = 200 // complete sign-ins, half with both replicas up, half across the kill
	workers    = 8   // people signing in at the same time
	killAfter  = 30  // sign-ins of the second half completed when replica b is killed
	raceRounds = 10  // refresh tokens, and codes, each redeemed on both replicas at once
)

// TestReplicasShareOneDatabase runs two `keyward serve` processes on one PostgreSQL schema
// behind a round-robin proxy. People sign up and sign in through the proxy, so a ceremony's
// begin and finish, and the authorization and token requests, land on either replica. Refresh
// tokens are redeemed on both replicas at once. Replica b is killed with SIGKILL
// in the middle of the second half and replica a finishes the run. Then the database must
// hold exactly one account and passkey per person, one login.succeeded audit row per
// completed sign-in, and every token issued, with the state the races left.
func TestReplicasShareOneDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	c := newCluster(ctx, t)
	px, a, b, rp, hc := c.px, c.a, c.b, c.rp, c.hc
	ledger := &ledger{failures: map[*person]int{}, ok: map[*person]int{}}

	ps := make([]*person, people)
	for i := range ps {
		ps[i] = newPerson(t, px.url, c.tr, i)
	}
	if err := ps[0].signUp(ctx, px.url, c.setup); err != nil {
		t.Fatalf("first sign-up, with the setup invite: %v", err)
	}
	if err := parallel(ctx, 1, people, func(ctx context.Context, i int) error { return ps[i].signUp(ctx, px.url, "") }); err != nil {
		t.Fatalf("sign-up: %v", err)
	}

	// First half: both replicas up.
	load := loadAverage()
	start := time.Now()
	err := parallel(ctx, 0, signIns/2, func(ctx context.Context, i int) error {
		s, err := ps[i%people].signIn(ctx, px.url, rp)
		if err != nil {
			return fmt.Errorf("sign-in %d: %w", i, err)
		}
		ledger.signedIn(s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	both := time.Since(start)
	crossed, onA, onB := 0, 0, 0
	for _, s := range ledger.done {
		if s.begin != s.finish {
			crossed++
		}
		if s.finish == "a" {
			onA++
		} else {
			onB++
		}
	}
	t.Logf("%d sign-ins on two replicas in %v: %.1f sign-ins/s (load average before: %s, after: %s); "+
		"%d ceremonies began on one replica and finished on the other; finishes a=%d b=%d",
		signIns/2, both.Round(time.Millisecond), float64(signIns/2)/both.Seconds(), load, loadAverage(), crossed, onA, onB)
	if crossed == 0 || onA == 0 || onB == 0 {
		t.Fatalf("the round robin never split a ceremony across replicas (crossed %d, a %d, b %d)", crossed, onA, onB)
	}

	// Refresh races, both replicas up: each refresh token goes to both at once.
	backends := []string{a.url(), a.url(), b.url(), b.url()}
	for r := range raceRounds {
		if err := refreshRace(ctx, hc, px.url, backends, rp, ledger.done[r], ledger); err != nil {
			t.Fatalf("refresh race %d: %v", r, err)
		}
	}

	// Second half: replica b is killed once killAfter of it have completed.
	servedAtKill, afterKill, killDone := killMidRun(ctx, t, b, px, ps, rp, ledger)
	single := time.Since(killDone)
	t.Logf("after the kill replica a alone completed %d sign-ins in %v: %.1f sign-ins/s (load average %s); "+
		"%d flows failed at the kill (proxy 502s %d, retried on a: %d)",
		afterKill, single.Round(time.Millisecond), float64(afterKill)/single.Seconds(), loadAverage(),
		ledger.failed, px.failed.Load(), px.retried.Load())
	if got := px.backends[1].served.Load(); got != servedAtKill {
		t.Errorf("replica b answered %d requests after it was killed", got-servedAtKill)
	}
	if afterKill < 50 {
		t.Errorf("only %d sign-ins completed after the kill", afterKill)
	}
	if int64(ledger.failed) != px.failed.Load() || ledger.failed > workers {
		t.Errorf("%d flows failed, the proxy answered %d requests 502 (%q): want equal and at most one per worker (%d); the flows' errors:\n%s",
			ledger.failed, px.failed.Load(), px.failures(), workers, strings.Join(ledger.failErrs, "\n"))
	}
	if len(ledger.done) != signIns {
		t.Fatalf("%d sign-ins completed, want %d", len(ledger.done), signIns)
	}
	if got := a.readyz(ctx); got != http.StatusOK {
		t.Fatalf("replica a /readyz after the run: %d", got)
	}

	checkDatabase(ctx, t, c.db, ps, ledger)
}

// TestCodeRedeemedOnBothReplicasAtOnce redeems each of raceRounds fresh codes on both
// replicas at the same moment: exactly one success, every other racer 400 invalid_grant
// (RL-01: never a 500, never a second success). A replay afterwards revokes what the code
// issued.
func TestCodeRedeemedOnBothReplicasAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := newCluster(ctx, t)
	p := newPerson(t, c.px.url, c.tr, 0)
	if err := p.signUp(ctx, c.px.url, c.setup); err != nil {
		t.Fatal(err)
	}
	l := &ledger{}
	backends := []string{c.a.url(), c.a.url(), c.b.url(), c.b.url()}
	for r := range raceRounds {
		if err := codeRace(ctx, c.hc, c.px.url, backends, c.rp, p, l); err != nil {
			t.Errorf("code race %d: %v", r, err)
		}
	}
	for _, code := range l.codes {
		var active bool
		err := c.db.QueryRow(ctx, `SELECT active FROM oauth_tokens WHERE kind = 'authorize_code' AND signature = $1`, signature(code)).Scan(&active)
		if err != nil || active {
			t.Errorf("a raced code: active=%v, %v; want one inactive row", active, err)
		}
	}
}

// ledger is what the people and the app saw, to compare with the database afterwards.
type ledger struct {
	mu       sync.Mutex
	done     []*signIn       // completed sign-ins
	ok       map[*person]int // completed sign-ins per person
	failures map[*person]int // flows that failed at the kill, per person
	failed   int
	failErrs []string
	codes    []string // every code redeemed, sign-ins and races
	grants   []string // every refresh token issued
	revoked  []string // refresh tokens the races must have left revoked
}

func (l *ledger) signedIn(s *signIn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = append(l.done, s)
	l.ok[s.person]++
	l.codes = append(l.codes, s.code)
	l.grants = append(l.grants, s.tok.RefreshToken)
}

// parallel runs fn(i) for i in [from, to) on workers goroutines and returns the first error;
// after one, the others stop taking work.
func parallel(ctx context.Context, from, to int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				if err := fn(ctx, i); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for i := from; i < to; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := errors.Join(<-errs); err != nil {
		return err
	}
	return ctx.Err()
}

// race sends form to the token endpoint of each base at the same moment.
func race(ctx context.Context, hc *http.Client, bases []string, rp *testenv.RP, form url.Values) ([]tokenReply, error) {
	start := make(chan struct{})
	replies := make([]tokenReply, len(bases))
	errs := make([]error, len(bases))
	var wg sync.WaitGroup
	for i, base := range bases {
		wg.Go(func() {
			<-start
			replies[i], errs[i] = token(ctx, hc, base, rp, form)
		})
	}
	close(start)
	wg.Wait()
	return replies, errors.Join(errs...)
}

// oneWinner checks that exactly one reply is a success and every other a 400 with one of the
// allowed error codes, and returns the success.
func oneWinner(replies []tokenReply, allowed ...string) (tokenReply, error) {
	var wins []tokenReply
	for _, r := range replies {
		switch {
		case r.status == http.StatusOK && r.AccessToken != "":
			wins = append(wins, r)
		case r.status == http.StatusBadRequest && (r.Error == allowed[0] || len(allowed) > 1 && r.Error == allowed[1]):
		default:
			return tokenReply{}, fmt.Errorf("a racer got %d %q, want 200 or 400 %v", r.status, r.Error, allowed)
		}
	}
	if len(wins) != 1 {
		return tokenReply{}, fmt.Errorf("%d of %d racers succeeded, want exactly 1", len(wins), len(replies))
	}
	return wins[0], nil
}

// codeRace redeems one fresh code on both replicas at once: one success. A later replay is
// invalid_grant and revokes what the code issued, so the winner's refresh token is dead.
func codeRace(ctx context.Context, hc *http.Client, issuer string, backends []string, rp *testenv.RP, p *person, l *ledger) error {
	code, verifier, err := p.authorizeSignedIn(ctx, rp)
	if err != nil {
		return err
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirectURI}}
	replies, err := race(ctx, hc, backends, rp, form)
	if err != nil {
		return err
	}
	win, err := oneWinner(replies, "invalid_grant")
	if err != nil {
		return err
	}
	l.codes = append(l.codes, code)
	l.grants = append(l.grants, win.RefreshToken)
	l.revoked = append(l.revoked, win.RefreshToken)
	if r, err := token(ctx, hc, issuer, rp, form); err != nil || r.status != http.StatusBadRequest || r.Error != "invalid_grant" {
		return fmt.Errorf("replayed code: %d %q %v, want 400 invalid_grant", r.status, r.Error, err)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {win.RefreshToken}}
	if r, err := token(ctx, hc, issuer, rp, refresh); err != nil || r.status != http.StatusBadRequest || r.Error != "invalid_grant" {
		return fmt.Errorf("refresh token of a replayed code: %d %q %v, want 400 invalid_grant", r.status, r.Error, err)
	}
	return nil
}

// refreshRace sends one refresh token to both replicas at once: one success, the rest
// invalid_grant (reuse) or invalid_request (concurrent use). Reusing the old token then revokes
// the family: the winner's new refresh and access tokens are dead too.
func refreshRace(ctx context.Context, hc *http.Client, issuer string, backends []string, rp *testenv.RP, s *signIn, l *ledger) error {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.tok.RefreshToken}}
	replies, err := race(ctx, hc, backends, rp, form)
	if err != nil {
		return err
	}
	win, err := oneWinner(replies, "invalid_grant", "invalid_request")
	if err != nil {
		return err
	}
	l.grants = append(l.grants, win.RefreshToken)
	l.revoked = append(l.revoked, s.tok.RefreshToken, win.RefreshToken)
	if r, err := token(ctx, hc, issuer, rp, form); err != nil || r.status != http.StatusBadRequest || r.Error != "invalid_grant" {
		return fmt.Errorf("reused refresh token: %d %q %v, want 400 invalid_grant", r.status, r.Error, err)
	}
	next := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {win.RefreshToken}}
	if r, err := token(ctx, hc, issuer, rp, next); err != nil || r.status != http.StatusBadRequest || r.Error != "invalid_grant" {
		return fmt.Errorf("the winner's refresh token after reuse: %d %q %v, want 400 invalid_grant", r.status, r.Error, err)
	}
	if st, err := userinfoStatus(ctx, hc, issuer, win.AccessToken); err != nil || st != http.StatusUnauthorized {
		return fmt.Errorf("the winner's access token after reuse: userinfo %d %v, want 401", st, err)
	}
	return nil
}

// killMidRun runs the second half of the sign-ins and kills b when killAfter of them have
// completed. A flow may fail only with the proxy's 502 for a request in flight at the kill;
// it is counted and run again. It returns b's served count at the kill, the sign-ins
// completed after it, and when the kill was done.
func killMidRun(ctx context.Context, t *testing.T, b *replica, px *proxy, ps []*person, rp *testenv.RP, l *ledger) (int64, int, time.Time) {
	t.Helper()
	var completed, afterKill atomic.Int64
	var killing, killed atomic.Bool
	trigger := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- parallel(ctx, signIns/2, signIns, func(ctx context.Context, i int) error {
			p := ps[i%people]
			for attempt := 0; ; attempt++ {
				s, err := p.signIn(ctx, px.url, rp)
				if err == nil {
					l.signedIn(s)
					if killed.Load() {
						afterKill.Add(1)
					}
					if completed.Add(1) == killAfter {
						close(trigger)
					}
					return nil
				}
				if !killing.Load() || !viaProxyFailure(err) || attempt > 0 {
					return fmt.Errorf("sign-in %d (attempt %d): %w", i, attempt+1, err)
				}
				l.mu.Lock()
				l.failed++
				l.failures[p]++
				l.failErrs = append(l.failErrs, err.Error())
				l.mu.Unlock()
			}
		})
	}()
	select {
	case <-trigger:
	case err := <-result:
		t.Fatalf("the second half ended before the kill: %v", err)
	}
	killing.Store(true)
	if err := b.kill(); err != nil {
		t.Fatal(err)
	}
	killed.Store(true)
	killDone := time.Now()
	served := px.backends[1].served.Load()
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	return served, int(afterKill.Load()), killDone
}
