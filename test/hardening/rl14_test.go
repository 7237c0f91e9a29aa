package hardening

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/testenv"
)

// TestRL14_OperationalEndpointsOnlyOnManagementListener: the health, readiness, metrics and
// profiling paths are 404 on the public listener, and the first three answer on the
// management listener (the handler `keyward serve` mounts on management_listen). Profiling is
// served nowhere.
func TestRL14_OperationalEndpointsOnlyOnManagementListener(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoAdmin: true})
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/healthz/live", "/healthz/ready",
		"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/vars"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			if a := do(t, method, env.Issuer+p, "", nil); a.status != http.StatusNotFound {
				t.Errorf("public %s %s: %d, want 404", method, p, a.status)
			}
		}
	}
	m := metrics.New(metrics.Options{Store: env.Store, Now: env.Clock.Now})
	mgmt := httptest.NewServer(metrics.ManagementHandler(m, func(ctx context.Context) error { return env.Store.Ping(ctx) }, nil))
	defer mgmt.Close()
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if a := do(t, http.MethodGet, mgmt.URL+p, "", nil); a.status != http.StatusOK {
			t.Errorf("management %s: %d, want 200", p, a.status)
		}
	}
	if a := do(t, http.MethodGet, mgmt.URL+"/debug/pprof/", "", nil); a.status != http.StatusNotFound {
		t.Errorf("management /debug/pprof/: %d, want 404 (profiling is not served)", a.status)
	}
}
