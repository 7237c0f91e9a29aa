package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/oidc"
)

// TestRL06_KeyActivationDelayConfig: tokens.key_activation_delay defaults to one key reload
// plus the JWKS max-age, reaches the provider, and `keyward config check` refuses a zero delay
// (a new key would sign before relying apps could have it) and a rotation interval no longer
// than the delay (keys would be replaced before they ever sign).
func TestRL06_KeyActivationDelayConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Tokens.KeyActivationDelay != 6*time.Minute || oidc.DefaultKeyActivationDelay != 6*time.Minute {
		t.Fatalf("default delay %v / %v, want 6m", c.Tokens.KeyActivationDelay, oidc.DefaultKeyActivationDelay)
	}
	for name, set := range map[string]func(*Config){
		"tokens.key_activation_delay":  func(c *Config) { c.Tokens.KeyActivationDelay = 0 },
		"tokens.key_rotation_interval": func(c *Config) { c.Tokens.KeyRotationInterval = 6 * time.Minute },
	} {
		c := DefaultConfig()
		set(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Validate did not report %s: %v", name, err)
		}
	}

	c.Issuer = "http://localhost:8080"
	c.Database = "sqlite:" + filepath.Join(t.TempDir(), "k.db")
	c.Secret = make([]byte, 32)
	c.Tokens.KeyActivationDelay, c.Tokens.KeyRotationInterval = 15*time.Minute, 24*time.Hour
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := OpenStore(ctx, c.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := New(ctx, c, st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Provider.KeyActivationDelay(); got != 15*time.Minute {
		t.Fatalf("provider's activation delay %v, want the configured 15m", got)
	}
}
