package app

import (
	"log"
	"net/http"
	"time"

	"github.com/keyward/keyward/ui"
)

// LimitsConfig bounds what clients can take of the public listener (SECURITY RL-09): the
// server's phase timeouts and header size, the in-flight caps and the JSON nesting bound of
// ui.Limits, and where rate-limit buckets live. docs/configuration.md documents each key.
type LimitsConfig struct {
	// ReadHeaderTimeout closes a connection that has not sent its request headers in time:
	// what stops slowloris clients from holding connections open.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`  // headers and body
	WriteTimeout      time.Duration `yaml:"write_timeout"` // from the end of the headers to the end of the answer
	IdleTimeout       time.Duration `yaml:"idle_timeout"`  // a kept-alive connection between requests
	MaxHeaderBytes    int           `yaml:"max_header_bytes"`
	// MaxInFlight, MaxInFlightPerIP and MaxInFlightPerClient cap concurrent requests in the
	// handler; over a cap the answer is an immediate 503 with Retry-After.
	MaxInFlight          int `yaml:"max_in_flight"`
	MaxInFlightPerIP     int `yaml:"max_in_flight_per_ip"`
	MaxInFlightPerClient int `yaml:"max_in_flight_per_client"`
	MaxJSONDepth         int `yaml:"max_json_depth"`
	// RateLimitStore: auto (the database on PostgreSQL, memory on SQLite), store or memory.
	RateLimitStore string `yaml:"rate_limit_store"`
}

func defaultLimits() LimitsConfig {
	return LimitsConfig{
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
		MaxInFlight: 1024, MaxInFlightPerIP: 64, MaxInFlightPerClient: 64, MaxJSONDepth: 32,
		RateLimitStore: "auto",
	}
}

func (l LimitsConfig) validate(bad func(key, format string, a ...any)) {
	for key, d := range map[string]time.Duration{
		"limits.read_header_timeout": l.ReadHeaderTimeout, "limits.read_timeout": l.ReadTimeout,
		"limits.write_timeout": l.WriteTimeout, "limits.idle_timeout": l.IdleTimeout,
	} {
		if d <= 0 {
			bad(key, "must be a positive duration")
		}
	}
	if l.ReadHeaderTimeout > l.ReadTimeout {
		bad("limits.read_header_timeout", "must not exceed limits.read_timeout")
	}
	if l.MaxHeaderBytes < 4<<10 || l.MaxHeaderBytes > 1<<20 {
		bad("limits.max_header_bytes", "must be between 4096 and 1048576")
	}
	for key, n := range map[string]int{
		"limits.max_in_flight": l.MaxInFlight, "limits.max_in_flight_per_ip": l.MaxInFlightPerIP,
		"limits.max_in_flight_per_client": l.MaxInFlightPerClient,
	} {
		if n < 1 {
			bad(key, "must be at least 1")
		}
	}
	if l.MaxJSONDepth < 8 || l.MaxJSONDepth > 1000 {
		bad("limits.max_json_depth", "must be between 8 and 1000")
	}
	switch l.RateLimitStore {
	case "auto", "store", "memory":
	default:
		bad("limits.rate_limit_store", "must be auto, store or memory, got %q", l.RateLimitStore)
	}
}

func (l LimitsConfig) ui() ui.Limits {
	return ui.Limits{MaxInFlight: l.MaxInFlight, MaxInFlightPerIP: l.MaxInFlightPerIP,
		MaxInFlightPerClient: l.MaxInFlightPerClient, MaxJSONDepth: l.MaxJSONDepth, RateLimitStore: l.RateLimitStore}
}

// PublicServer is the http.Server for the public listener, with every phase timeout and the
// header size bound set from the configuration: `keyward serve` runs it, and tests run the
// same server.
func (a *App) PublicServer(errorLog *log.Logger) *http.Server {
	l := a.Config.Limits
	return &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}
