package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestObserveMatchesSummarize feeds the same events to the counters and to Summarize: the
// numbers /metrics shows and the ones the dashboard shows must agree.
func TestObserveMatchesSummarize(t *testing.T) {
	now := time.Date(2026, 5, 12, 10, 0, 0, 0, time.UTC)
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
	ev := func(name, result, detail string) store.AuditEvent {
		return store.AuditEvent{Event: name, Result: result, Detail: []byte(detail), UserAgent: chrome, Time: now}
	}
	events := []store.AuditEvent{
		ev(idp.EventSignupBegun, "ok", ""), ev(idp.EventSignupBegun, "ok", ""), ev(idp.EventSignupBegun, "ok", ""),
		ev(idp.EventSignupCompleted, "ok", ""), ev(idp.EventSignupFailed, idp.CodeVerificationFailed, ""),
		ev(idp.EventLoginSucceeded, "ok", `{"mode":"email"}`),
		ev(idp.EventLoginSucceeded, "ok", `{"mode":"discoverable","attachment":"cross-platform"}`),
		ev(idp.EventLoginFailed, idp.CodeVerificationFailed, `{"mode":"discoverable","mediation":"conditional"}`),
		ev(idp.EventLoginFailed, "something new", ""),
		ev("passkey.revoked", "ok", ""), ev("admin.client.created", "ok", ""), ev(idp.EventCloneSuspected, idp.CodeCloneSuspected, ""),
	}
	m := New(Options{})
	for _, e := range events {
		m.Observe(context.Background(), e)
	}
	s := Summarize(events, now.Add(-time.Hour), now.Add(time.Minute))

	for _, st := range Stages {
		if got := value(t, m.funnel.WithLabelValues(st, "Windows", "Chrome")); int(got) != s.Funnel[st] {
			t.Errorf("funnel %s: metrics %v, summary %d", st, got, s.Funnel[st])
		}
	}
	if s.Funnel[StageBegun] != 3 || s.Funnel[StagePasskeyCreated] != 2 || s.Funnel[StageCompleted] != 1 {
		t.Errorf("funnel %v", s.Funnel)
	}
	for _, rc := range s.SignIns {
		if got := value(t, m.signins.WithLabelValues(rc.Route, "ok")); int(got) != rc.OK {
			t.Errorf("route %s ok: metrics %v, summary %d", rc.Route, got, rc.OK)
		}
		for code, n := range rc.Failures {
			if got := value(t, m.signins.WithLabelValues(rc.Route, code)); int(got) != n {
				t.Errorf("route %s %s: metrics %v, summary %d", rc.Route, code, got, n)
			}
		}
	}
	want := map[string][2]int{RouteEmailFirst: {1, 0}, RouteCrossDevice: {1, 0}, RouteAutofill: {0, 1}, RouteUnknown: {0, 1}, RouteSameDevice: {0, 0}}
	for _, rc := range s.SignIns {
		if w := want[rc.Route]; rc.OK != w[0] || rc.Failed() != w[1] {
			t.Errorf("route %s: ok %d failed %d, want %v", rc.Route, rc.OK, rc.Failed(), w)
		}
	}
	if s.SignIns[4].Failures[Other] != 1 {
		t.Errorf("an unknown failure code must count as other: %v", s.SignIns[4].Failures)
	}
	if got := value(t, m.changes.WithLabelValues("passkey_removed", "done")); got != 1 || s.AccountChanges["passkey_removed"]["done"] != 1 {
		t.Errorf("passkey removal: metrics %v, summary %v", got, s.AccountChanges)
	}
	if got := value(t, m.admin.WithLabelValues("client.created")); got != 1 || s.AdminActions["client.created"] != 1 {
		t.Errorf("admin actions: metrics %v, summary %v", got, s.AdminActions)
	}
	if value(t, m.clones) != 1 || s.CloneSuspected != 1 {
		t.Error("clone suspected not counted")
	}
	var series int
	for _, b := range s.Series {
		series += b.SignInsOK + b.SignInsFailed
	}
	if series != 4 || s.Events != len(events) {
		t.Errorf("series holds %d sign-ins, events %d", series, s.Events)
	}
}

func TestSummarizeKeepsToTheRange(t *testing.T) {
	since := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	until := since.Add(30 * 24 * time.Hour)
	events := []store.AuditEvent{
		{Event: idp.EventSignupBegun, Time: since.Add(-time.Second)},
		{Event: idp.EventSignupBegun, Time: since},
		{Event: idp.EventSignupBegun, Time: until.Add(-time.Nanosecond)},
		{Event: idp.EventSignupBegun, Time: until},
	}
	s := Summarize(events, since, until)
	if s.Funnel[StageBegun] != 2 || s.Step != 24*time.Hour || len(s.Series) > maxBuckets {
		t.Fatalf("begun %d, step %s, %d buckets", s.Funnel[StageBegun], s.Step, len(s.Series))
	}
	total := 0
	for _, b := range s.Series {
		total += b.SignupsBegun
	}
	if total != 2 {
		t.Errorf("series holds %d sign-ups begun, want 2", total)
	}
}

func TestCoverage(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 5, 12, 10, 0, 0, 0, time.UTC)
	mk := func(id string, disabled bool, synced ...bool) {
		a := &store.Account{ID: id, Email: id + "@example.test", UserHandle: []byte(id + strings.Repeat("h", 28)), Disabled: disabled, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		for i, s := range synced {
			c := &store.Credential{ID: []byte(id + string(rune('a'+i))), AccountID: id, PublicKey: []byte{1}, BackupEligible: s, CreatedAt: now}
			if err := st.CreateCredential(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("acct", false)                  // no passkey
	mk("bcct", false, true)            // one synced
	mk("ccct", false, true, false)     // both kinds
	mk("dcct", false, false, false)    // two device-bound
	mk("ecct", true, true, true, true) // disabled: not counted
	cov, err := ComputeCoverage(ctx, st, 100, now)
	if err != nil {
		t.Fatal(err)
	}
	want := Coverage{ActiveAccounts: 4, NoPasskey: 1, OnePasskey: 1, TwoOrMore: 2, SyncedPasskeys: 2, DeviceBoundPasskeys: 3,
		SyncedOnly: 1, DeviceBoundOnly: 1, Both: 1, ComputedAt: now}
	if cov != want {
		t.Fatalf("coverage\n got %+v\nwant %+v", cov, want)
	}
	if cov.TwoOrMoreShare() != 0.5 {
		t.Errorf("share %v", cov.TwoOrMoreShare())
	}
	if cov, _ := ComputeCoverage(ctx, st, 2, now); !cov.Truncated || cov.ActiveAccounts != 2 {
		t.Errorf("capped scan: %+v", cov)
	}

	// Through the management handler: the gauges, cached for the TTL.
	clock := now
	m := New(Options{Store: st, Now: func() time.Time { return clock }, CoverageTTL: time.Minute})
	ready := func(context.Context) error { return st.Ping(ctx) }
	srv := httptest.NewServer(ManagementHandler(m, ready, nil))
	defer srv.Close()
	body := get(t, srv.URL+"/metrics", 200)
	for _, line := range []string{
		`keyward_accounts_active 4`, `keyward_passkey_coverage_ratio 0.5`, `keyward_accounts_by_passkey_count{passkeys="2+"} 2`,
		`keyward_passkeys{kind="device_bound"} 3`, `keyward_accounts_by_passkey_kind{kind="both"} 1`,
		`keyward_passkey_coverage_up 1`, `keyward_recovery_total{stage="started"} 0`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	mk("fcct", false, true, true)
	if body := get(t, srv.URL+"/metrics", 200); !strings.Contains(body, "keyward_accounts_active 4\n") {
		t.Error("coverage recomputed within its TTL")
	}
	clock = clock.Add(2 * time.Minute)
	if body := get(t, srv.URL+"/metrics", 200); !strings.Contains(body, "keyward_accounts_active 5\n") {
		t.Error("coverage not recomputed after its TTL")
	}
	get(t, srv.URL+"/healthz", 200)
	get(t, srv.URL+"/readyz", 200)
	st.Close()
	get(t, srv.URL+"/readyz", 503)
}

func get(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, status, b)
	}
	return string(b)
}

// value reads a counter's current value.
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
