package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
)

// Options configure New. Store may be nil: the coverage gauges are then left out.
type Options struct {
	Store store.Store
	Log   *slog.Logger
	Now   func() time.Time
	// CoverageTTL is how long a coverage computation is reused; default 5m. Scrapes in between
	// cost nothing, so a tight scrape interval cannot turn into a store scan per scrape.
	CoverageTTL time.Duration
	// CoverageMaxAccounts caps the accounts one computation reads; default 100 000. Beyond it
	// the gauges describe the oldest accounts and keyward_passkey_coverage_truncated is 1.
	CoverageMaxAccounts int
}

// Metrics holds Keyward's Prometheus registry and the counters the audit observer feeds.
// It is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	events   *prometheus.CounterVec
	funnel   *prometheus.CounterVec
	signups  *prometheus.CounterVec
	signins  *prometheus.CounterVec
	recovery *prometheus.CounterVec
	changes  *prometheus.CounterVec
	admin    *prometheus.CounterVec
	clones   prometheus.Counter

	eventNames  *boundedSet
	adminLabels *boundedSet
}

// New builds the registry: Go runtime and process collectors, the audit counters, and (with
// a store) the coverage collector.
func New(o Options) *Metrics {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: o.Log,
		eventNames: newBoundedSet(64), adminLabels: newBoundedSet(32)}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "keyward", Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.events = counter("audit_events_total", "Audit events appended, by event name (at most 64 names, then \"other\") and outcome.", "event", "outcome")
	m.funnel = counter("signup_funnel_total", "Enrollment funnel: sign-ups begun, passkeys created (finish reached), sign-ups completed; by OS and browser family.", "stage", "os", "browser")
	m.signups = counter("signup_failures_total", "Refused sign-up finishes by failure code.", "code")
	m.signins = counter("signins_total", "Sign-in attempts by route and result (\"ok\" or the failure code).", "route", "result")
	m.recovery = counter("recovery_total", "Account recovery by stage.", "stage")
	m.changes = counter("account_changes_total", "Changes to how an account is reached, by kind and outcome.", "kind", "outcome")
	m.admin = counter("admin_actions_total", "Changes made in the admin console, by action.", "action")
	m.clones = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "keyward", Name: "passkey_clone_suspected_total",
		Help: "Assertions refused because the signature counter went backwards."})
	m.reg.MustRegister(m.clones)
	// Zero series for what must be visible before it first happens (dashboards and alerts
	// need the series to exist).
	for _, s := range RecoveryStages {
		m.recovery.WithLabelValues(s)
	}
	for _, r := range Routes {
		m.signins.WithLabelValues(r, idp.ResultOK)
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Store != nil {
		m.reg.MustRegister(newCoverageCollector(o))
	}
	return m
}

// Observe counts one committed audit event. Its signature is idp.AuditObserver.
func (m *Metrics) Observe(_ context.Context, e store.AuditEvent) {
	outcome := "ok"
	if Code(e.Result) != idp.ResultOK {
		outcome = "failure"
	}
	m.events.WithLabelValues(m.eventNames.label(e.Event), outcome).Inc()
	if stages := FunnelStages(e); stages != nil {
		os, browser := Platform(e.UserAgent)
		for _, s := range stages {
			m.funnel.WithLabelValues(s, os, browser).Inc()
		}
		if e.Event == idp.EventSignupFailed {
			m.signups.WithLabelValues(Code(e.Result)).Inc()
		}
	}
	if IsSignIn(e) {
		m.signins.WithLabelValues(SignInRoute(e), Code(e.Result)).Inc()
	}
	if e.Event == idp.EventCloneSuspected {
		m.clones.Inc()
	}
	if s, ok := RecoveryStage(e); ok {
		m.recovery.WithLabelValues(s).Inc()
	}
	if kind, outcome, ok := AccountChange(e); ok {
		m.changes.WithLabelValues(kind, outcome).Inc()
	}
	if a, ok := AdminAction(e); ok {
		m.admin.WithLabelValues(m.adminLabels.label(a)).Inc()
	}
}

// Registry is the registry behind Handler, for callers that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn)})
}

// boundedSet admits the first max distinct values of a label; later ones read as "other".
// The values come from code (event names), so the cap is a guard, not a filter.
type boundedSet struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func newBoundedSet(max int) *boundedSet { return &boundedSet{max: max, seen: map[string]bool{}} }

func (b *boundedSet) label(v string) string {
	if len(v) > 64 {
		return Other
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[v] {
		return v
	}
	if len(b.seen) >= b.max {
		return Other
	}
	b.seen[v] = true
	return v
}
