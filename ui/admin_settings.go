package ui

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// Setting is one configuration key as the console's settings page shows it.
type Setting struct {
	Key string
	// Value is the effective value as text. Secrets never get here: for those Secret is set
	// and Value only says whether one is configured.
	Value  string
	Source string // "default", "file" or "env KEYWARD_…"
	Secret bool
}

// adminState is what the console keeps beyond the store: the configuration it shows (handed
// in once at start) and the passkey coverage cache (one scan per coverageTTL at most).
type adminState struct {
	mu       sync.Mutex
	settings []Setting
	cov      metrics.Coverage
	haveCov  bool
}

// SetSettings hands the configuration to the settings page; call it once after New.
func (s *Server) SetSettings(items []Setting) {
	s.admin.mu.Lock()
	s.admin.settings = slices.Clone(items)
	s.admin.mu.Unlock()
}

func (a *adminState) settingsCopy() []Setting {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.settings)
}

// coverage returns passkey coverage, recomputed when older than coverageTTL. The lock is held
// while computing so concurrent dashboard views scan once.
func (a *adminState) coverage(ctx context.Context, st store.Store, now time.Time) (metrics.Coverage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.haveCov && now.Sub(a.cov.ComputedAt) < coverageTTL {
		return a.cov, nil
	}
	cov, err := metrics.ComputeCoverage(ctx, st, coverageMaxAccounts, now)
	if err != nil {
		return cov, err
	}
	a.cov, a.haveCov = cov, true
	return cov, nil
}

// invalidateCoverage drops the cached coverage after a console change (disable, revoke), so
// the dashboard reflects the administrator's own action at once.
func (a *adminState) invalidateCoverage() {
	a.mu.Lock()
	a.haveCov = false
	a.mu.Unlock()
}

func (s *Server) adminSettings(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	v := templates.AdminSettingsView{AdminPage: s.adminPage(a, "settings", "Settings")}
	for _, st := range s.admin.settingsCopy() {
		row := templates.SettingRow{Key: st.Key, Value: st.Value, Source: st.Source, Secret: st.Secret}
		if row.Source == "" {
			row.Source = "default"
		}
		v.Settings = append(v.Settings, row)
	}
	s.render(w, r, http.StatusOK, templates.AdminSettings(v))
	return nil
}
