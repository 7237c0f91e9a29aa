package replicas

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxy is the load balancer in front of the replicas: round robin per request, on loopback,
// as the issuer's origin. It adds no forwarding headers (Rewrite drops them), so Keyward's
// trusted_proxies stays empty. It records which backend served each response in the
// X-Test-Backend response header.
//
// A backend is dead after its first transport error and gets no more requests. The request
// that met the error is retried on another backend only if not one byte of it was written to
// the dead one (a refused connection), whatever its method: a GET can change state too
// (/oauth2/resume consumes its interaction). Every other request in flight at the death is
// answered 502 and counted in failed.
type proxy struct {
	backends   []*backend
	next       atomic.Uint64
	failed     atomic.Int64 // 502s: requests that may have reached a backend that died
	retried    atomic.Int64 // requests moved to another backend after a refused connection
	url        string       // http://localhost:PORT
	mu         sync.Mutex
	failedReqs []string // what failed, for the test's messages
	srv        *http.Server
	tr         *http.Transport
}

type backend struct {
	name   string
	addr   string
	dead   atomic.Bool
	served atomic.Int64
}

// newProxy listens on 127.0.0.1 and serves until the test ends. Backends are added with
// add before the first request.
func newProxy(t *testing.T) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{
		url: "http://localhost:" + portOf(ln.Addr()),
		tr: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = "backend" // chosen per attempt in RoundTrip
			r.Out.Host = r.In.Host     // the issuer's host, as a real proxy keeps it
		},
		Transport: p,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, errNoBackend) {
				p.failed.Add(1)
				p.mu.Lock()
				p.failedReqs = append(p.failedReqs, r.Method+" "+r.URL.Path+": "+err.Error())
				p.mu.Unlock()
			}
			w.Header().Set("X-Test-Proxy-Error", "1")
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln) //nolint:errcheck // ErrServerClosed at cleanup
	t.Cleanup(func() {
		p.srv.Close()
		p.tr.CloseIdleConnections()
	})
	return p
}

func portOf(a net.Addr) string { return strconv.Itoa(a.(*net.TCPAddr).Port) }

func (p *proxy) failures() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.failedReqs)
}

func (p *proxy) add(name, addr string) {
	p.backends = append(p.backends, &backend{name: name, addr: addr})
}

// pick returns the next live backend after the last one used. One counter step per pick:
// stepping again per dead backend would let concurrent picks skip the live one.
func (p *proxy) pick() *backend {
	start := p.next.Add(1)
	for i := range uint64(len(p.backends)) {
		if b := p.backends[(start+i)%uint64(len(p.backends))]; !b.dead.Load() {
			return b
		}
	}
	return nil
}

func (p *proxy) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	var lastErr error
	for range len(p.backends) {
		b := p.pick()
		if b == nil {
			break
		}
		// The transport retries a request on a fresh connection by itself when a kept-alive
		// one fails, so only a trace tells whether any attempt wrote it.
		var wrote atomic.Bool
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
		out := req.Clone(httptrace.WithClientTrace(req.Context(), trace))
		out.URL.Host = b.addr
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := p.tr.RoundTrip(out)
		if err == nil {
			b.served.Add(1)
			resp.Header.Set("X-Test-Backend", b.name)
			return resp, nil
		}
		if req.Context().Err() != nil {
			return nil, err
		}
		b.dead.Store(true)
		lastErr = err
		if wrote.Load() {
			return nil, err
		}
		p.retried.Add(1)
	}
	if lastErr == nil {
		lastErr = errNoBackend
	}
	return nil, lastErr
}
