package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// appLog is what the relying apps' servers saw, in arrival order across all of them.
type appLog struct {
	mu   sync.Mutex
	hits []appHit
}

type appHit struct {
	app, path string
	query     url.Values
}

func (l *appLog) add(app string, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hits = append(l.hits, appHit{app: app, path: r.URL.Path, query: r.URL.Query()})
}

func (l *appLog) all() []appHit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]appHit(nil), l.hits...)
}

// frontchannelApp serves a relying app's front-channel logout URI (/fcl) and its
// post-logout page (/bye). With hang, /fcl never answers until the test ends: an app that is
// down must not keep the person on Keyward's page.
func frontchannelApp(t *testing.T, log *appLog, name string, hang bool) *httptest.Server {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(name, r)
		if r.URL.Path == "/fcl" && hang {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("<!DOCTYPE html><title>" + name + "</title><p>" + r.URL.Path + "</p>"))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for the hanging request
	return srv
}

// TestBrowserFrontchannelLogout: a person signed in to two apps through Keyward, and a third
// app whose front-channel URL hangs; the first app's RP-initiated logout shows Keyward's page,
// Chromium really loads each app's front-channel logout URL in its frame (the app receives
// iss and the sid of its ID token) despite the strict CSP, and then lands on the validated
// post-logout URI with state, past the app that never answered.
func TestBrowserFrontchannelLogout(t *testing.T) {
	needChromium(t)
	env := testenv.Start(t, testenv.Options{})
	log := &appLog{}
	apps := map[string]*httptest.Server{}
	rps := map[string]*testenv.RP{}
	for _, name := range []string{"one", "two", "down"} {
		apps[name] = frontchannelApp(t, log, name, name == "down")
		rps[name] = env.NewRP(testenv.RPOptions{FirstParty: true, CallbackServer: true})
		origin := apps[name].URL
		env.UpdateClient(rps[name].ID, func(c *store.Client) {
			c.RedirectURIs = append(c.RedirectURIs, origin+"/cb")
			c.PostLogoutRedirectURIs = []string{origin + "/bye"}
			c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired = origin+"/fcl", true
		})
	}
	tb := newTab(t) // after the servers, so the tab closes before they do
	ctx := context.Background()
	tb.signUp(env.Issuer, "fcl@example.com", "Front Channel")

	sids := map[string]string{}
	var hint string
	for _, name := range []string{"one", "two", "down"} {
		rp := rps[name]
		f := testenv.NewFlow()
		tb.navigate(rp.AuthURL(f))
		tb.waitFor("return to "+name+"'s callback", func(s pageState) bool { return strings.HasPrefix(s.Href, rp.RedirectURI+"?") })
		code, err := rp.Callback(awaitCallback(t, rp), f)
		if err != nil {
			t.Fatal(err)
		}
		tok, idt, err := rp.Exchange(ctx, code, f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			SID string `json:"sid"`
		}
		if err := idt.Claims(&c); err != nil || c.SID == "" {
			t.Fatalf("%s: ID token sid %q (%v)", name, c.SID, err)
		}
		sids[name] = c.SID
		if name == "one" {
			hint, _ = tok.Extra("id_token").(string)
		}
	}

	bye := apps["one"].URL + "/bye?state=s1"
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {apps["one"].URL + "/bye"}, "state": {"s1"}}
	tb.navigate(env.Issuer + "/oauth2/logout?" + q.Encode())
	tb.waitFor("land on the app's post-logout URI", func(s pageState) bool { return s.Href == bye })

	hits := log.all()
	landed := -1
	seen := map[string]int{}
	for i, h := range hits {
		switch h.path {
		case "/bye":
			if h.app != "one" || h.query.Get("state") != "s1" || landed >= 0 {
				t.Errorf("post-logout hit %+v", h)
			}
			landed = i
		case "/fcl":
			seen[h.app]++
			if h.query.Get("iss") != env.Issuer || h.query.Get("sid") != sids[h.app] {
				t.Errorf("%s's front-channel logout got iss=%q sid=%q, want %q and its ID token's %q",
					h.app, h.query.Get("iss"), h.query.Get("sid"), env.Issuer, sids[h.app])
			}
			if landed >= 0 && h.app != "down" {
				t.Errorf("%s's frame loaded after the browser had left the page", h.app)
			}
		}
	}
	for _, name := range []string{"one", "two", "down"} {
		if seen[name] != 1 {
			t.Errorf("%s's front-channel logout URL was requested %d times, want once", name, seen[name])
		}
	}
	if landed < 0 {
		t.Fatal("the app never saw the post-logout redirect")
	}
}
