package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWA17_StartupRefusesUnsafeIssuer: the WebAuthn RP ID and origin come from the issuer, so
// they can never disagree with it; what remains is refused before anything listens: an http
// issuer that is not localhost (cookies and passkeys would travel in clear), and an issuer
// whose host is an IP address (WebAuthn needs a domain as RP ID).
func TestWA17_StartupRefusesUnsafeIssuer(t *testing.T) {
	for issuer, want := range map[string]string{
		"http://idp.example.com": "issuer",
		"http://10.0.0.5:8080":   "issuer",
		"ftp://idp.example.com":  "issuer",
		"https://192.0.2.10":     "IP",
	} {
		cfg := DefaultConfig()
		cfg.Issuer = issuer
		cfg.Database = "sqlite:" + filepath.Join(t.TempDir(), "k.db")
		cfg.Secret = make([]byte, 32)
		err := cfg.Validate()
		if err == nil {
			st, oerr := OpenStore(context.Background(), cfg.Database)
			if oerr != nil {
				t.Fatal(oerr)
			}
			_, err = New(context.Background(), cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
			st.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("issuer %s: %v, want a refusal naming %q", issuer, err, want)
		}
	}
}
