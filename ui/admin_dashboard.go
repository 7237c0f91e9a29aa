package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// The dashboard reads the audit events of the chosen period and classifies them with the
// metrics package, the same code that feeds /metrics, so both tell the same story.

const (
	// dashboardMaxEvents bounds what one dashboard view reads; beyond it the newest events
	// are shown and the page says so.
	dashboardMaxEvents = 100_000
	dashboardPage      = 1000
	// coverageMaxAccounts bounds the coverage scan of one computation; coverageTTL how long
	// it is reused between views.
	coverageMaxAccounts = 100_000
	coverageTTL         = 5 * time.Minute
)

var dashboardRanges = []struct {
	key, label string
	d          time.Duration
}{
	{"24h", "Last 24 hours", 24 * time.Hour},
	{"7d", "Last 7 days", 7 * 24 * time.Hour},
	{"30d", "Last 30 days", 30 * 24 * time.Hour},
	{"90d", "Last 90 days", 90 * 24 * time.Hour},
}

// dashboardData is the dashboard's numbers, also served as JSON.
type dashboardData struct {
	Range    string           `json:"range"`
	Summary  metrics.Summary  `json:"summary"`
	Coverage metrics.Coverage `json:"coverage"`
}

func (s *Server) dashboardData(ctx context.Context, r *http.Request) (*dashboardData, error) {
	key := r.URL.Query().Get("range")
	d := dashboardRanges[0].d
	found := false
	for _, rg := range dashboardRanges {
		if rg.key == key {
			d, found = rg.d, true
		}
	}
	if !found {
		key = dashboardRanges[0].key
	}
	until := s.now().UTC().Truncate(time.Minute).Add(time.Minute)
	since := until.Add(-d)
	var events []store.AuditEvent
	q := store.AuditQuery{Since: since, Until: until, Limit: dashboardPage}
	truncated := false
	for {
		page, err := s.st.ListAudit(ctx, q)
		if err != nil {
			return nil, err
		}
		events = append(events, page...)
		if len(page) < dashboardPage {
			break
		}
		if len(events) >= dashboardMaxEvents {
			truncated = true
			break
		}
		q.BeforeID = page[len(page)-1].ID
	}
	sum := metrics.Summarize(events, since, until)
	sum.Truncated = truncated
	cov, err := s.admin.coverage(ctx, s.st, s.now())
	if err != nil {
		return nil, err
	}
	return &dashboardData{Range: key, Summary: sum, Coverage: cov}, nil
}

func (s *Server) adminDashboardJSON(w http.ResponseWriter, r *http.Request, _ *adminReq) error {
	data, err := s.dashboardData(r.Context(), r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, data)
	return nil
}

func (s *Server) adminDashboard(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	data, err := s.dashboardData(r.Context(), r)
	if err != nil {
		return err
	}
	sum, cov := data.Summary, data.Coverage
	v := templates.AdminDashboardView{AdminPage: s.adminPage(a, "dashboard", "Dashboard"), Range: data.Range,
		Truncated: sum.Truncated, DataURL: "/admin/dashboard.json?" + url.Values{"range": {data.Range}}.Encode(),
		Period: sum.Since.Format("2 Jan 2006 15:04") + " – " + sum.Until.Format("2 Jan 2006 15:04") + " UTC"}
	for _, rg := range dashboardRanges {
		v.Ranges = append(v.Ranges, templates.Choice{Value: rg.key, Label: rg.label, Checked: rg.key == data.Range})
	}
	v.Funnel = funnelChart(sum)
	for _, p := range sum.FunnelByPlatform {
		row := templates.FunnelRow{Platform: p.Browser + " on " + p.OS, Begun: p.Stages[metrics.StageBegun],
			Created: p.Stages[metrics.StagePasskeyCreated], Completed: p.Stages[metrics.StageCompleted]}
		row.Conversion = percent(row.Completed, row.Begun)
		v.Platforms = append(v.Platforms, row)
	}
	v.Routes = routesChart(sum)
	for _, rc := range sum.SignIns {
		v.RouteRows = append(v.RouteRows, templates.RouteRow{Route: rc.Route, OK: rc.OK, Failed: rc.Failed(), Failures: countsText(rc.Failures)})
	}
	v.Series = seriesChart(sum)
	v.Coverage = coverageChart(cov)
	v.CoverageText = fmt.Sprintf("%d of %d active accounts (%s) have two or more passkeys; %d synced and %d device-bound passkeys.",
		cov.TwoOrMore, cov.ActiveAccounts, percent(cov.TwoOrMore, cov.ActiveAccounts), cov.SyncedPasskeys, cov.DeviceBoundPasskeys)
	if cov.Truncated {
		v.CoverageText += " (Only the oldest accounts were counted.)"
	}
	started := sum.Recovery["started"]
	v.Recovery = []templates.Stat{{Label: "Started", Value: started}, {Label: "Completed", Value: sum.Recovery["completed"]},
		{Label: "Cancelled", Value: sum.Recovery["cancelled"]}}
	for _, kind := range metrics.ChangeKinds {
		for _, outcome := range metrics.ChangeOutcomes {
			if n := sum.AccountChanges[kind][outcome]; n > 0 {
				v.Changes = append(v.Changes, templates.Stat{Label: strings.ReplaceAll(kind, "_", " ") + " (" + outcome + ")", Value: n})
			}
		}
	}
	if sum.CloneSuspected > 0 {
		v.Changes = append(v.Changes, templates.Stat{Label: "passkey clone suspected", Value: sum.CloneSuspected})
	}
	v.Admin = sortedStats(sum.AdminActions)
	s.render(w, r, http.StatusOK, templates.AdminDashboard(v))
	return nil
}

func percent(n, of int) string {
	if of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

// countsText is "code 3, other 1", largest first.
func countsText(m map[string]int) string {
	stats := sortedStats(m)
	parts := make([]string, 0, len(stats))
	for _, st := range stats {
		parts = append(parts, fmt.Sprintf("%s %d", st.Label, st.Value))
	}
	return strings.Join(parts, ", ")
}

func sortedStats(m map[string]int) []templates.Stat {
	out := make([]templates.Stat, 0, len(m))
	for k, n := range m {
		if n > 0 {
			out = append(out, templates.Stat{Label: k, Value: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Value != out[j].Value {
			return out[i].Value > out[j].Value
		}
		return out[i].Label < out[j].Label
	})
	return out
}
