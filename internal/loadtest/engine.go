package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what each operation of a run does.
type Mode string

// The modes. A sign-in is the whole flow; the others are one request each.
const (
	ModeSignIn            Mode = "signin"
	ModeRefresh           Mode = "refresh"
	ModeClientCredentials Mode = "client_credentials"
	ModeUserInfo          Mode = "userinfo"
	ModeIntrospect        Mode = "introspect"
	ModeJWKS              Mode = "jwks"
	ModeDiscovery         Mode = "discovery"
)

// Modes lists every mode in the order the documentation gives them.
var Modes = []Mode{ModeSignIn, ModeRefresh, ModeClientCredentials, ModeUserInfo, ModeIntrospect, ModeJWKS, ModeDiscovery}

// ParseMode accepts a mode's name.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("loadtest: unknown mode %q (signin, refresh, client_credentials, userinfo, introspect, jwks, discovery)", s)
}

// NeedsPeople reports whether the mode signs people up first.
func (m Mode) NeedsPeople() bool {
	switch m {
	case ModeSignIn, ModeRefresh, ModeUserInfo, ModeIntrospect:
		return true
	}
	return false
}

// exclusive modes give each person to one worker at a time (passkey counter, refresh rotation).
func (m Mode) exclusive() bool { return m == ModeSignIn || m == ModeRefresh }

// Limits of a run: it always stops by itself.
const (
	MaxDuration    = time.Hour
	MaxConcurrency = 4096
	MaxPeople      = 100_000
)

// Options shape a run.
type Options struct {
	Mode        Mode
	Concurrency int           // workers; default 16
	Duration    time.Duration // how long new operations start; default 10s, at most MaxDuration
	MaxOps      int64         // stop after this many operations; 0: only the duration bounds
	OpTimeout   time.Duration // per operation; default 30s
	// Transport carries every request; nil: a keep-alive transport sized for Concurrency.
	Transport http.RoundTripper
	// ServerPID, when set, is the server's process id on this machine: the result then
	// includes its CPU time and resident memory (Linux /proc).
	ServerPID int
	// Now is the clock for deadlines and latencies; default time.Now.
	Now func() time.Time
}

// Validate reports options a run would refuse, before anything is set up for it.
func (o Options) Validate() error { return o.defaults() }

func (o *Options) defaults() error {
	if _, err := ParseMode(string(o.Mode)); err != nil {
		return err
	}
	if o.Concurrency == 0 {
		o.Concurrency = 16
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrency:
		return fmt.Errorf("loadtest: concurrency must be between 1 and %d", MaxConcurrency)
	case o.Duration < 0 || o.Duration > MaxDuration:
		return fmt.Errorf("loadtest: duration must be positive and at most %s", MaxDuration)
	case o.MaxOps < 0:
		return errors.New("loadtest: the operation limit must not be negative")
	}
	return nil
}

// NewTransport is a keep-alive transport for loopback load: enough idle connections per host
// for every worker (the default of 2 would open and close a connection for most requests and
// measure TCP set-up instead of Keyward), no proxy, no compression.
func NewTransport(concurrency int) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2*concurrency + 8,
		MaxIdleConnsPerHost:   2*concurrency + 8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
	}
}

// Load is a prepared run: the relying app has done discovery and the people have signed up
// (and, in the token modes, signed in once for their tokens).
type Load struct {
	t      Target
	o      Options
	rp     *rp
	routes *routes
	people []*person
	pool   chan *person
	next   atomic.Uint64
	setup  time.Duration
}

// Prepare checks the options, discovers the provider and signs the people up, concurrently.
// The target is not checked here: callers run CheckTarget first.
func Prepare(ctx context.Context, t Target, o Options) (*Load, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.Mode.NeedsPeople() && (len(t.People) == 0 || len(t.People) > MaxPeople) {
		return nil, fmt.Errorf("loadtest: mode %s needs between 1 and %d people", o.Mode, MaxPeople)
	}
	if t.Alg == "" {
		t.Alg = "RS256"
	}
	start := o.Now()
	base := o.Transport
	if base == nil {
		base = NewTransport(o.Concurrency)
	}
	l := &Load{t: t, o: o, routes: newRoutes(o.Now)}
	transport := l.routes.wrap(base)
	hc := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	var err error
	if l.rp, err = newRP(ctx, t, hc); err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	if o.Mode.NeedsPeople() {
		if err := l.preparePeople(ctx, transport); err != nil {
			return nil, err
		}
	}
	l.setup = o.Now().Sub(start)
	return l, nil
}

func (l *Load) preparePeople(ctx context.Context, transport http.RoundTripper) error {
	l.people = make([]*person, len(l.t.People))
	for i, id := range l.t.People {
		p, err := newPerson(l.t.Issuer, id, transport)
		if err != nil {
			return err
		}
		l.people[i] = p
	}
	// The first person signs up alone: on an empty server only a setup link works, and the
	// other invites only once that first account exists.
	if err := l.preparePerson(ctx, l.people[0]); err != nil {
		return fmt.Errorf("loadtest: set-up failed for the first person: %w", err)
	}
	work := make(chan *person)
	errs := make(chan error, len(l.people))
	var wg sync.WaitGroup
	for range min(l.o.Concurrency, len(l.people)) {
		wg.Go(func() {
			for p := range work {
				errs <- l.preparePerson(ctx, p)
			}
		})
	}
	for _, p := range l.people[1:] {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	if len(all) > 0 {
		return fmt.Errorf("loadtest: set-up failed for %d of %d people; first: %w", len(all), len(l.people)-1, all[0])
	}
	if l.o.Mode.exclusive() {
		l.pool = make(chan *person, len(l.people))
		for _, p := range l.people {
			l.pool <- p
		}
	}
	return nil
}

func (l *Load) preparePerson(ctx context.Context, p *person) error {
	ctx, cancel := context.WithTimeout(ctx, l.o.OpTimeout)
	defer cancel()
	if err := p.signUp(ctx); err != nil {
		return err
	}
	if l.o.Mode == ModeSignIn {
		return nil
	}
	tok, err := l.rp.signIn(ctx, p, l.o.Mode == ModeRefresh)
	if err != nil {
		return fmt.Errorf("first sign-in of %s: %w", p.id.Email, err)
	}
	p.tok = tok
	return nil
}

// Once runs one operation of the mode (for benchmarks and tests).
func (l *Load) Once(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.o.OpTimeout)
	defer cancel()
	switch l.o.Mode {
	case ModeClientCredentials:
		return l.rp.clientCredentials(ctx)
	case ModeJWKS:
		return l.rp.get(ctx, "jwks", l.rp.ep.jwks)
	case ModeDiscovery:
		return l.rp.get(ctx, "discovery", l.rp.ep.discovery)
	case ModeUserInfo, ModeIntrospect:
		p := l.people[(l.next.Add(1)-1)%uint64(len(l.people))]
		if l.o.Mode == ModeUserInfo {
			return l.rp.userinfo(ctx, p)
		}
		return l.rp.introspect(ctx, p)
	}
	var p *person
	select {
	case p = <-l.pool:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { l.pool <- p }()
	if l.o.Mode == ModeRefresh {
		return l.rp.refresh(ctx, p)
	}
	_, err := l.rp.signIn(ctx, p, false)
	return err
}

// workers is the number of operations in flight: a person does one thing at a time.
func (l *Load) workers() int {
	if l.o.Mode.exclusive() {
		return min(l.o.Concurrency, len(l.people))
	}
	return l.o.Concurrency
}

// Run starts operations for the configured duration (or until MaxOps have started, or ctx
// ends), waits for those in flight, and returns the figures. Errors of operations are in the
// result (see Result.Err); the error returned is only for a run that could not happen.
func (l *Load) Run(ctx context.Context) (*Result, error) {
	o := l.o
	res := &Result{Mode: o.Mode, Target: l.t.Issuer, Alg: l.t.Alg, Concurrency: l.workers(),
		People: len(l.people), Setup: l.setup, LoadBefore: LoadAverage()}
	var serverCPU0 time.Duration
	if o.ServerPID > 0 {
		var err error
		if serverCPU0, err = ProcessCPU(o.ServerPID); err != nil {
			return nil, fmt.Errorf("loadtest: server process: %w", err)
		}
	}
	l.routes.start()
	cpu0 := SelfCPU()
	start := o.Now()
	deadline := start.Add(o.Duration)
	var started atomic.Int64
	stats := make([]workerStats, l.workers())
	var wg sync.WaitGroup
	for w := range stats {
		ws := &stats[w]
		ws.errors = map[string]*ErrorCount{}
		wg.Go(func() {
			for ctx.Err() == nil && o.Now().Before(deadline) {
				if o.MaxOps > 0 && started.Add(1) > o.MaxOps {
					return
				}
				t0 := o.Now()
				err := l.Once(ctx)
				d := o.Now().Sub(t0)
				switch {
				case err == nil:
					ws.h.record(d)
				case ctx.Err() != nil:
					return // interrupted: not the server's failure
				default:
					ws.fail(err)
				}
			}
		})
	}
	wg.Wait()
	res.Elapsed = o.Now().Sub(start)
	res.ClientCPU = SelfCPU() - cpu0
	res.Interrupted = ctx.Err() != nil
	if o.ServerPID > 0 {
		if cpu, err := ProcessCPU(o.ServerPID); err == nil {
			res.ServerCPU = cpu - serverCPU0
		}
		res.ServerRSS, _ = ProcessRSS(o.ServerPID)
	}
	res.LoadAfter = LoadAverage()
	var all histogram
	kinds := map[string]*ErrorCount{}
	for i := range stats {
		all.merge(&stats[i].h)
		res.Failed += stats[i].failed
		for k, e := range stats[i].errors {
			if kinds[k] == nil {
				kinds[k] = &ErrorCount{Kind: k, Example: e.Example}
			}
			kinds[k].Count += e.Count
		}
	}
	res.OK = all.n
	res.Latency = all.summary()
	for _, e := range kinds {
		res.Errors = append(res.Errors, *e)
	}
	sort.Slice(res.Errors, func(i, j int) bool {
		if res.Errors[i].Count != res.Errors[j].Count {
			return res.Errors[i].Count > res.Errors[j].Count
		}
		return res.Errors[i].Kind < res.Errors[j].Kind
	})
	res.Routes = l.routes.stats()
	return res, nil
}

// Run prepares and runs a load in one call.
func Run(ctx context.Context, t Target, o Options) (*Result, error) {
	l, err := Prepare(ctx, t, o)
	if err != nil {
		return nil, err
	}
	return l.Run(ctx)
}

// workerStats belong to one worker, merged at the end: no locks while the load runs.
type workerStats struct {
	h      histogram
	failed uint64
	errors map[string]*ErrorCount
}

// maxKinds bounds the error table; further kinds are counted under "other".
const maxKinds = 32

func (ws *workerStats) fail(err error) {
	ws.failed++
	k := kindOf(err)
	if ws.errors[k] == nil && len(ws.errors) >= maxKinds {
		k = "other"
	}
	e := ws.errors[k]
	if e == nil {
		e = &ErrorCount{Kind: k, Example: sanitize(err.Error())}
		ws.errors[k] = e
	}
	e.Count++
}
