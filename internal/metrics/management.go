package metrics

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// ReadyFunc reports whether Keyward can serve: store reachable, schema current, signing keys
// loaded. Its error text goes to the log, never to the response.
type ReadyFunc func(ctx context.Context) error

// ManagementHandler serves /metrics, /healthz and /readyz for the management listener. It has
// no authentication of its own: it must listen on loopback or a private interface that only
// the monitoring system reaches (SECURITY RL-14), which is why the public listener does not
// serve it.
func ManagementHandler(m *Metrics, ready ReadyFunc, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if ready != nil {
			if err := ready(ctx); err != nil {
				log.WarnContext(ctx, "not ready", "err", err.Error())
				w.Header().Set("Retry-After", "1")
				writeStatus(w, http.StatusServiceUnavailable, "unavailable")
				return
			}
		}
		writeStatus(w, http.StatusOK, "ok")
	})
	return mux
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
}
