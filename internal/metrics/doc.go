// Package metrics turns Keyward's audit trail into numbers: Prometheus counters fed by an
// idp.AuditObserver (so they count exactly the events the audit table holds), passkey
// coverage gauges computed from the store, and the same classification applied to a slice of
// stored events for the console's dashboard, so /metrics and the dashboard agree.
//
// It owns:
//   - the mapping of an audit event to bounded label values: sign-in route, failure code,
//     enrollment funnel stage, OS and browser family, account-change kind, recovery stage
//     (classify.go);
//   - the counters and their registry (metrics.go);
//   - passkey coverage, computed on scrape at most once per CoverageTTL (coverage.go);
//   - Summarize, the dashboard's view of a time range of stored events (summary.go);
//   - the management listener's handler: /metrics, /healthz, /readyz (management.go).
//
// Every label has a fixed, small set of values; anything unexpected becomes "other", so a
// hostile user agent or a future event name cannot grow the series count.
//
// Routes of the management handler (never mounted on the public listener, SECURITY RL-14):
//
//	GET /metrics   Prometheus text format
//	GET /healthz   200 while the process runs
//	GET /readyz    200 when the ready check passes (store reachable, schema current, keys loaded), else 503
package metrics
