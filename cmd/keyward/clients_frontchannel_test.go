package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
)

// `clients add|update|show` with the front-channel logout fields: they round-trip, a URI the
// logout page must not frame is refused and changes nothing, and an empty value clears it.
func TestClientsCLIFrontchannelLogout(t *testing.T) {
	e := newCLIEnv(t, "")
	if _, err := e.run("clients", "add", "web", "--public", "--redirect-uri", "https://web.example/cb",
		"--frontchannel-logout-uri", "https://web.example/fcl", "--frontchannel-logout-session-required"); err != nil {
		t.Fatal(err)
	}
	if got := e.show("web"); got["frontchannel_logout_uri"] != "https://web.example/fcl" || got["frontchannel_logout_session_required"] != "true" {
		t.Fatalf("show: %v", got)
	}
	for _, bad := range []string{"https://web.example/fcl#f", "http://web.example/fcl", "https://elsewhere.example/fcl"} {
		if _, err := e.run("clients", "update", "web", "--frontchannel-logout-uri", bad); err == nil || !strings.Contains(err.Error(), "frontchannel_logout_uri") {
			t.Errorf("%q: %v, want it refused", bad, err)
		}
	}
	if _, err := e.run("clients", "add", "web2", "--public", "--redirect-uri", "https://web.example/cb", "--frontchannel-logout-session-required"); err == nil ||
		!strings.Contains(err.Error(), "frontchannel_logout_session_required") {
		t.Errorf("session required without a URI: %v", err)
	}
	if got := e.show("web"); got["frontchannel_logout_uri"] != "https://web.example/fcl" {
		t.Fatalf("a refused update changed the client: %v", got)
	}
	if _, err := e.run("clients", "update", "web", "--frontchannel-logout-uri", "", "--frontchannel-logout-session-required=false"); err != nil {
		t.Fatal(err)
	}
	if got := e.show("web"); got["frontchannel_logout_uri"] != "" || got["frontchannel_logout_session_required"] != "false" {
		t.Fatalf("after clearing: %v", got)
	}
}

// A config-file client's front-channel fields reach the store; a bad one names its key.
func TestClientConfigFrontchannelLogout(t *testing.T) {
	bad := newCLIEnv(t, "clients:\n  - id: c\n    public: true\n    redirect_uris: [https://c.example/cb]\n    frontchannel_logout_uri: https://c.example/fcl#x\n")
	if _, err := loadConfig(bad.conf, nil); err == nil || !strings.Contains(err.Error(), "clients[0].frontchannel_logout_uri") {
		t.Errorf("config error %v does not name clients[0].frontchannel_logout_uri", err)
	}
	good := newCLIEnv(t, "clients:\n  - id: c\n    public: true\n    redirect_uris: [https://c.example/cb]\n"+
		"    frontchannel_logout_uri: https://c.example/fcl\n    frontchannel_logout_session_required: true\n")
	cfg, err := loadConfig(good.conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Secret = make([]byte, 32)
	st, err := app.OpenStore(context.Background(), cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := app.New(context.Background(), cfg, st, slog.New(slog.DiscardHandler), time.Now); err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(context.Background(), "c")
	if err != nil || c.FrontchannelLogoutURI != "https://c.example/fcl" || !c.FrontchannelLogoutSessionRequired {
		t.Fatalf("synced client %+v (%v)", c, err)
	}
}
