package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward/store"
)

// Coverage describes how well active (not disabled) accounts are covered by passkeys.
type Coverage struct {
	ActiveAccounts int `json:"active_accounts"`
	// By passkey count.
	NoPasskey  int `json:"no_passkey"`
	OnePasskey int `json:"one_passkey"`
	TwoOrMore  int `json:"two_or_more"`
	// Passkeys of active accounts, synced (backup eligible) or bound to one device.
	SyncedPasskeys      int `json:"synced_passkeys"`
	DeviceBoundPasskeys int `json:"device_bound_passkeys"`
	// Active accounts with passkeys by kind.
	SyncedOnly      int `json:"synced_only"`
	DeviceBoundOnly int `json:"device_bound_only"`
	Both            int `json:"both"`
	// Truncated: the account cap was reached, the numbers describe the oldest accounts only.
	Truncated  bool      `json:"truncated"`
	ComputedAt time.Time `json:"computed_at"`
}

// TwoOrMoreShare is the share (0..1) of active accounts with two or more passkeys.
func (c Coverage) TwoOrMoreShare() float64 {
	if c.ActiveAccounts == 0 {
		return 0
	}
	return float64(c.TwoOrMore) / float64(c.ActiveAccounts)
}

// coveragePage is the number of accounts read per store call.
const coveragePage = 500

// ComputeCoverage reads at most maxAccounts accounts and their passkeys. It costs one query
// per account (the store port has no aggregate for this), so callers cache the result.
func ComputeCoverage(ctx context.Context, q store.Queries, maxAccounts int, now time.Time) (Coverage, error) {
	c := Coverage{ComputedAt: now}
	read := 0
	for offset := 0; ; offset += coveragePage {
		accts, err := q.ListAccounts(ctx, store.AccountQuery{Limit: coveragePage, Offset: offset})
		if err != nil {
			return c, err
		}
		for _, a := range accts {
			if read >= maxAccounts {
				c.Truncated = true
				return c, nil
			}
			read++
			if a.Disabled {
				continue
			}
			creds, err := q.ListCredentials(ctx, a.ID)
			if err != nil {
				return c, err
			}
			c.add(creds)
		}
		if len(accts) < coveragePage {
			return c, nil
		}
	}
}

func (c *Coverage) add(creds []store.Credential) {
	c.ActiveAccounts++
	switch len(creds) {
	case 0:
		c.NoPasskey++
	case 1:
		c.OnePasskey++
	default:
		c.TwoOrMore++
	}
	synced, bound := 0, 0
	for _, cr := range creds {
		if cr.BackupEligible {
			synced++
		} else {
			bound++
		}
	}
	c.SyncedPasskeys += synced
	c.DeviceBoundPasskeys += bound
	switch {
	case synced > 0 && bound > 0:
		c.Both++
	case synced > 0:
		c.SyncedOnly++
	case bound > 0:
		c.DeviceBoundOnly++
	}
}

// coverageCollector computes Coverage on scrape, at most once per TTL; a failed computation
// keeps the previous numbers and says so in keyward_passkey_coverage_up.
type coverageCollector struct {
	st    store.Store
	log   *slog.Logger
	now   func() time.Time
	ttl   time.Duration
	max   int
	mu    sync.Mutex
	last  Coverage
	have  bool
	ok    bool
	descs map[string]*prometheus.Desc
}

func newCoverageCollector(o Options) *coverageCollector {
	c := &coverageCollector{st: o.Store, log: o.Log, now: o.Now, ttl: o.CoverageTTL, max: o.CoverageMaxAccounts}
	if c.ttl == 0 {
		c.ttl = 5 * time.Minute
	}
	if c.max == 0 {
		c.max = 100_000
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("keyward_"+name, help, labels, nil)
	}
	c.descs = map[string]*prometheus.Desc{
		"active":    d("accounts_active", "Accounts that are not disabled."),
		"bycount":   d("accounts_by_passkey_count", "Active accounts by number of passkeys (0, 1, 2+).", "passkeys"),
		"share":     d("passkey_coverage_ratio", "Share of active accounts with two or more passkeys."),
		"passkeys":  d("passkeys", "Passkeys of active accounts, synced or device-bound.", "kind"),
		"bykind":    d("accounts_by_passkey_kind", "Active accounts with passkeys by the kinds they hold.", "kind"),
		"truncated": d("passkey_coverage_truncated", "1 when the account cap was reached and coverage describes the oldest accounts only."),
		"up":        d("passkey_coverage_up", "1 when the last coverage computation succeeded."),
		"age":       d("passkey_coverage_age_seconds", "Age of the coverage numbers."),
	}
	return c
}

func (c *coverageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *coverageCollector) Collect(ch chan<- prometheus.Metric) {
	cov, ok, have := c.current()
	gauge := func(key string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[key], prometheus.GaugeValue, v, labels...)
	}
	gauge("up", b2f(ok))
	if !have {
		return
	}
	gauge("active", float64(cov.ActiveAccounts))
	gauge("bycount", float64(cov.NoPasskey), "0")
	gauge("bycount", float64(cov.OnePasskey), "1")
	gauge("bycount", float64(cov.TwoOrMore), "2+")
	gauge("share", cov.TwoOrMoreShare())
	gauge("passkeys", float64(cov.SyncedPasskeys), "synced")
	gauge("passkeys", float64(cov.DeviceBoundPasskeys), "device_bound")
	gauge("bykind", float64(cov.SyncedOnly), "synced_only")
	gauge("bykind", float64(cov.DeviceBoundOnly), "device_bound_only")
	gauge("bykind", float64(cov.Both), "both")
	gauge("truncated", b2f(cov.Truncated))
	gauge("age", c.now().Sub(cov.ComputedAt).Seconds())
}

// current returns the cached coverage, recomputing it when older than the TTL. The lock is
// held during the computation so concurrent scrapes do not scan twice.
func (c *coverageCollector) current() (Coverage, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.have && now.Sub(c.last.ComputedAt) < c.ttl {
		return c.last, c.ok, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cov, err := ComputeCoverage(ctx, c.st, c.max, now)
	if err != nil {
		c.log.Warn("passkey coverage computation failed", "err", err.Error())
		c.ok = false
		return c.last, false, c.have
	}
	c.last, c.have, c.ok = cov, true, true
	return cov, true, true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
