package app

import (
	"strings"
	"testing"
	"time"
)

// TestConfigCheckCatchesTokenLifetimeConflicts: what `keyward serve` would refuse at start
// (oidc.Config.Validate) is reported by `keyward config check` first, naming the key.
func TestConfigCheckCatchesTokenLifetimeConflicts(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Tokens.KeyRetention, c.Tokens.IDTokenTTL = 30*time.Minute, time.Hour
	c.Tokens.RefreshTokenTTL, c.Tokens.RefreshTokenMaxLifetime = 100*24*time.Hour, 90*24*time.Hour
	err := c.Validate()
	for _, key := range []string{"tokens.key_retention", "tokens.refresh_token_max_lifetime"} {
		if err == nil || strings.Count(err.Error(), key) != 1 {
			t.Errorf("Validate did not report %s exactly once: %v", key, err)
		}
	}
}
