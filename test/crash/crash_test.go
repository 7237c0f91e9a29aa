package crash

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/softauthn"
)

const workers = 4 // flows running at once when the kill comes

// TestRL02_KillDuringCeremoniesLosesNothing kills `keyward serve` with SIGKILL at random
// points while sign-ups, sign-ins, code exchanges and refreshes run, and restarts it, over and
// over (SECURITY RL-02). After every kill: the store passes its integrity check and
// store.Invariants; every account whose sign-up got a 200 is there with its passkey; every
// code redeemed with a 200 is spent; every refresh token rotated with a 200 is spent and its
// family has exactly one live token. After every restart: the request the kill cut off,
// retried, gets a clean success or a clean 4xx, a redeemed code replayed gets 400, and a
// rotated refresh token replayed gets 400 and revokes its family.
func TestRL02_KillDuringCeremoniesLosesNothing(t *testing.T) {
	kills := 200
	if testing.Short() {
		kills = 20
	}
	if v := os.Getenv("KEYWARD_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("KEYWARD_CRASH_KILLS=%q: want a positive number", v)
		}
		kills = n
	}
	t.Run("sqlite", func(t *testing.T) {
		crashLoop(t, newInstallation(t, "", ""), kills)
	})
	t.Run("postgres", func(t *testing.T) {
		crashLoop(t, newInstallation(t, postgresDSN(t), ""), max(kills/5, 5))
	})
}

// world is what the app and the people know, and what the kill cut off.
type world struct {
	mu       sync.Mutex
	people   []*person
	families []*family
	redeemed []redeemed
	next     int // person numbering

	// Outcomes the kill left unknown, retried after the restart.
	lostSignUps   []*person
	lostSignIns   []*person
	lostExchanges []lostExchange
	lostRefreshes []lostRefresh

	inFlight  map[string]int // flow → runs in progress
	killedIn  map[string]int // flow → kills that landed while it ran
	completed map[string]int // flow → runs answered with success
}

type redeemed struct {
	grant
	fam *family
}

type lostExchange struct {
	grant
	p *person
}

type lostRefresh struct {
	fam *family
	rt  string
}

func (w *world) begin(flow string) {
	w.mu.Lock()
	w.inFlight[flow]++
	w.mu.Unlock()
}

func (w *world) end(flow string, ok bool) {
	w.mu.Lock()
	w.inFlight[flow]--
	if ok {
		w.completed[flow]++
	}
	w.mu.Unlock()
}

func (w *world) newPerson(issuer string) (*person, error) {
	w.mu.Lock()
	w.next++
	n := w.next
	w.mu.Unlock()
	auth, err := softauthn.New(softauthn.Options{Origin: issuer})
	if err != nil {
		return nil, err
	}
	return &person{email: fmt.Sprintf("person%05d@example.test", n), auth: auth}, nil
}

// counting counts the requests sent, so a kill can come after a random number of them:
// always while flows run, at a different point in each.
type counting struct {
	next http.RoundTripper
	n    atomic.Int64
	at   int64
	hit  chan struct{}
	once sync.Once
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.n.Add(1) == c.at {
		c.once.Do(func() { close(c.hit) })
	}
	return c.next.RoundTrip(req)
}

func crashLoop(t *testing.T, in *installation, kills int) {
	ctx := t.Context()
	tr := &counting{next: loopback(), hit: make(chan struct{})}
	a := newApp(t, in, tr)
	setup, err := in.run("users", "invite", "person00000@example.test", "--admin")
	if err != nil {
		t.Fatal(err)
	}
	setupURL, _, _ := cutLine(setup)
	w := &world{inFlight: map[string]int{}, killedIn: map[string]int{}, completed: map[string]int{}}
	d := in.openDB(t, true)

	start := time.Now()
	load := loadAverage()
	p := in.start()
	in.waitReady(t, p)
	a.discover(ctx, t)
	first := &person{email: "person00000@example.test"}
	if first.auth, err = softauthn.New(softauthn.Options{Origin: in.issuer}); err != nil {
		t.Fatal(err)
	}
	if err := signUp(ctx, in.issuer, tr, first, inviteToken(t, setupURL)); err != nil {
		t.Fatalf("first sign-up with the setup invite: %v", err)
	}
	w.people = append(w.people, first)

	for kill := 1; kill <= kills; kill++ {
		if kill > 1 {
			p = in.start()
			in.waitReady(t, p)
			w.retry(ctx, t, in, a, tr, d)
			w.replay(ctx, t, a, d)
		}
		// The kill comes after 1 to 60 more requests, plus up to 2ms: somewhere inside a
		// handler, a transaction or a response for some, between two requests for others.
		tr.at = tr.n.Load() + 1 + mrand.Int64N(60)
		tr.hit = make(chan struct{})
		tr.once = sync.Once{}
		var killed atomic.Bool
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for !killed.Load() {
					if err := w.step(ctx, in, a, tr, &killed); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		select {
		case <-tr.hit:
		case <-time.After(30 * time.Second):
			t.Fatalf("kill %d: no request for 30s", kill)
		}
		time.Sleep(time.Duration(mrand.Int64N(2000)) * time.Microsecond) // where in the request the kill lands
		killed.Store(true)
		w.mu.Lock()
		for flow, n := range w.inFlight {
			if n > 0 {
				w.killedIn[flow]++
			}
		}
		w.mu.Unlock()
		p.kill(t)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("kill %d: %v\n%s", kill, err, p.logs.String())
		}
		w.verify(ctx, t, in, d, kill)
	}
	p = in.start()
	in.waitReady(t, p)
	w.retry(ctx, t, in, a, tr, d)
	elapsed := time.Since(start)
	t.Logf("%s: %d kills in %v (%.0f ms per kill and restart; load average %s at the start, %s at the end); "+
		"kills that landed during each flow: %v; flows completed: %v; %d people, %d token families, %d codes redeemed",
		map[bool]string{true: "sqlite", false: "postgres"}[in.isSQLite()], kills, elapsed.Round(time.Second), float64(elapsed.Milliseconds())/float64(kills),
		load, loadAverage(), w.killedIn, w.completed, len(w.people), len(w.families), len(w.redeemed))
	for _, flow := range []string{flowSignUp, flowSignIn, flowExchange, flowRefresh} {
		if w.killedIn[flow] == 0 && kills >= 100 {
			t.Errorf("no kill landed during a %s in %d kills", flow, kills)
		}
	}
}

// step runs one flow: a sign-up, or a sign-in with its code exchange, or a refresh.
func (w *world) step(ctx context.Context, in *installation, a *app, tr http.RoundTripper, killed *atomic.Bool) error {
	// cut decides what a failed request means: a 5xx is always wrong; no answer is the kill
	// (the outcome is then unknown and retried after the restart) or else wrong.
	cut := func(flow string, err error) (bool, error) {
		if serverError(err) || !killed.Load() {
			return false, fmt.Errorf("%s: %w", flow, err)
		}
		return true, nil
	}
	w.mu.Lock()
	r := mrand.IntN(100)
	var p *person
	var fam *family
	switch {
	case r < 25 || len(w.people) < workers:
	case r < 60 || len(w.families) == 0:
		p = w.people[mrand.IntN(len(w.people))]
	default:
		fam = w.families[mrand.IntN(len(w.families))]
	}
	w.mu.Unlock()

	switch {
	case p == nil && fam == nil:
		np, err := w.newPerson(in.issuer)
		if err != nil {
			return err
		}
		w.begin(flowSignUp)
		err = signUp(ctx, in.issuer, tr, np, "")
		w.end(flowSignUp, err == nil)
		if err != nil {
			if lost, err := cut(flowSignUp, err); !lost {
				return err
			}
			w.mu.Lock()
			w.lostSignUps = append(w.lostSignUps, np)
			w.mu.Unlock()
			return nil
		}
		w.mu.Lock()
		w.people = append(w.people, np)
		w.mu.Unlock()
	case p != nil:
		if !p.mu.TryLock() {
			return nil // someone else's flow for this person is running
		}
		defer p.mu.Unlock()
		w.begin(flowSignIn)
		g, err := signIn(ctx, a, tr, p)
		w.end(flowSignIn, err == nil)
		if err != nil {
			if lost, err := cut(flowSignIn, err); !lost {
				return err
			}
			w.mu.Lock()
			w.lostSignIns = append(w.lostSignIns, p)
			w.mu.Unlock()
			return nil
		}
		return w.exchange(ctx, a, g, p, cut)
	default:
		if !fam.mu.TryLock() {
			return nil
		}
		defer fam.mu.Unlock()
		if fam.gone {
			return nil
		}
		rt := fam.rt
		w.begin(flowRefresh)
		reply, err := a.refresh(ctx, rt)
		w.end(flowRefresh, err == nil && reply.status == http.StatusOK)
		if err != nil {
			if lost, err := cut(flowRefresh, err); !lost {
				return err
			}
			w.mu.Lock()
			w.lostRefreshes = append(w.lostRefreshes, lostRefresh{fam: fam, rt: rt})
			w.mu.Unlock()
			return nil
		}
		if reply.status != http.StatusOK || reply.RefreshToken == "" {
			return fmt.Errorf("refresh of a live token: %d %s", reply.status, reply.Error)
		}
		fam.rotated = append(fam.rotated, rt)
		fam.rt = reply.RefreshToken
	}
	return nil
}

func (w *world) exchange(ctx context.Context, a *app, g grant, p *person, cut func(string, error) (bool, error)) error {
	w.begin(flowExchange)
	reply, err := a.exchange(ctx, g.code, g.verifier, g.nonce)
	w.end(flowExchange, err == nil && reply.status == http.StatusOK)
	if err != nil {
		if lost, err := cut(flowExchange, err); !lost {
			return err
		}
		w.mu.Lock()
		w.lostExchanges = append(w.lostExchanges, lostExchange{grant: g, p: p})
		w.mu.Unlock()
		return nil
	}
	if reply.status != http.StatusOK {
		return fmt.Errorf("exchange of a fresh code: %d %s", reply.status, reply.Error)
	}
	fam := &family{rt: reply.RefreshToken}
	w.mu.Lock()
	w.families = append(w.families, fam)
	w.redeemed = append(w.redeemed, redeemed{grant: g, fam: fam})
	w.mu.Unlock()
	return nil
}
