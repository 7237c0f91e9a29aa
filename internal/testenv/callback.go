package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// callbackServer is the relying app's redirect endpoint as a real listener, so a browser
// that follows the authorization response lands somewhere and the app sees exactly the
// query the browser delivered.
type callbackServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []*url.URL
	read   int
	signal chan struct{} // closed and replaced on each arrival
}

func startCallbackServer(e *Env) *callbackServer {
	c := &callbackServer{signal: make(chan struct{})}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	e.T.Cleanup(c.srv.Close)
	return c
}

func (c *callbackServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/callback/") {
		http.NotFound(w, r)
		return
	}
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	c.mu.Lock()
	c.got = append(c.got, u)
	close(c.signal)
	c.signal = make(chan struct{})
	c.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("<!DOCTYPE html><title>Callback</title><p id=\"callback\">Back at the app.</p>"))
}

// AwaitCallback returns the next request the callback listener received that this method
// has not returned yet, waiting for one until ctx ends. It needs RPOptions.CallbackServer.
func (rp *RP) AwaitCallback(ctx context.Context) (*url.URL, error) {
	c := rp.callbacks
	if c == nil {
		panic("testenv: AwaitCallback needs RPOptions.CallbackServer")
	}
	for {
		c.mu.Lock()
		if c.read < len(c.got) {
			u := c.got[c.read]
			c.read++
			c.mu.Unlock()
			return u, nil
		}
		wait := c.signal
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
