package oidc

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestOutboundClientRefusesInternalAddresses: with an https issuer, a back-channel logout URI
// that resolves to loopback is never contacted (no blind probe of Keyward's own network);
// with an http://localhost issuer (development) it is.
func TestOutboundClientRefusesInternalAddresses(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	prod := newOutboundClient(time.Second, false)
	if resp, err := prod.Post(srv.URL+"/bcl", "application/x-www-form-urlencoded", nil); err == nil {
		resp.Body.Close()
		t.Fatalf("production client reached %s", srv.URL)
	}
	if hits.Load() != 0 {
		t.Fatal("the loopback server was contacted")
	}
	dev := newOutboundClient(time.Second, true)
	resp, err := dev.Post(srv.URL+"/bcl", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatalf("development client: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatalf("development client: %d hits, want 1", hits.Load())
	}
	// The default of a provider follows its issuer.
	c := Config{Issuer: "https://id.example.com"}
	c.defaults()
	if resp, err := c.BackchannelClient.Post(srv.URL, "text/plain", nil); err == nil {
		resp.Body.Close()
		t.Fatal("an https issuer's back-channel client reached loopback")
	}
}
