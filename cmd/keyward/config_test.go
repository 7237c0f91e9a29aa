package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := loadConfig("../../config.example.yaml", nil)
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if cfg.Issuer != "http://localhost:8080" || len(cfg.Clients) != 1 || cfg.Clients[0].ID != "example-app" {
		t.Fatalf("unexpected example config: %+v", cfg)
	}
	if cfg.Sources["issuer"] != "file" {
		t.Errorf("issuer source = %q", cfg.Sources["issuer"])
	}
}

func TestZeroConfig(t *testing.T) {
	cfg, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "http://localhost:8080" || cfg.Database != "sqlite:keyward.db" || cfg.Registration != "invite" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg, err := loadConfig("", []string{"KEYWARD_SESSION_IDLE_TIMEOUT=30m", "KEYWARD_REGISTRATION=open",
		"KEYWARD_TRUSTED_PROXIES=10.0.0.1, 10.1.0.0/16", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Session.IdleTimeout != 30*time.Minute || cfg.Registration != "open" || len(cfg.TrustedProxy) != 2 {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if cfg.Sources["session.idle_timeout"] != "env KEYWARD_SESSION_IDLE_TIMEOUT" {
		t.Fatalf("source = %q", cfg.Sources["session.idle_timeout"])
	}
}

func TestInvalidConfigNamesKeyAndProblem(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"issuer: http://example.com\n":   "issuer: must be https",
		"issuer: https://example.com/\n": "issuer: must have no path",
		"registration: sometimes\n":      "registration: must be open, invite or closed",
		"unknown_key: 1\n":               "unknown_key",
		"tokens:\n  auth_code_ttl: 1h\n": "tokens.auth_code_ttl",
		"database: mysql://x\n":          "database:",
		"clients:\n  - id: a\n    redirect_uris: [javascript:alert(1)]\n    public: true\n":    "clients[0].redirect_uris",
		"clients:\n  - id: a\n    secret: short\n    redirect_uris: [https://a.example/cb]\n":  "clients[0].secret",
		"clients:\n  - id: a\n    public: true\n    redirect_uris: [http://evil.example/cb]\n": "http is allowed only for loopback",
		"clients:\n  - id: a\n    public: true\n    redirect_uris: [https://a.example/cb#x]\n": "fragment",
	}
	for body, want := range cases {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(p, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: error %v, want one naming %q", body, err, want)
		}
	}
	if _, err := loadConfig("", []string{"KEYWARD_SESSION_IDLE_TIMEOUT=soon"}); err == nil || !strings.Contains(err.Error(), "session.idle_timeout") {
		t.Errorf("bad env duration: %v", err)
	}
}
