package loadtest

import (
	"net/http"
	"sort"
	"sync"
	"time"
)

// maxRoutes bounds the per-route table; requests to further paths are counted as "other".
const maxRoutes = 64

// routes records, per method and path, how many requests were made, their latency to the
// response headers, and the answers that were not 2xx or 3xx: where a failing flow failed,
// and which step of a sign-in is slow.
type routes struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*route
	on  bool // recording: false during set-up
}

type route struct {
	seq    int // first-seen order: a sign-in's steps print in the order they happen
	mu     sync.Mutex
	h      histogram
	errors map[int]uint64 // status → count, for status ≥ 400
}

func newRoutes(now func() time.Time) *routes { return &routes{now: now, m: map[string]*route{}} }

func (rs *routes) get(key string) *route {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.on {
		return nil
	}
	r := rs.m[key]
	if r == nil {
		if len(rs.m) >= maxRoutes {
			key = "other"
			if r = rs.m[key]; r != nil {
				return r
			}
		}
		r = &route{seq: len(rs.m), errors: map[int]uint64{}}
		rs.m[key] = r
	}
	return r
}

func (rs *routes) start() {
	rs.mu.Lock()
	rs.on = true
	rs.mu.Unlock()
}

func (rs *routes) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		t0 := rs.now()
		resp, err := next.RoundTrip(req)
		d := rs.now().Sub(t0)
		r := rs.get(req.Method + " " + req.URL.Path)
		if r == nil {
			return resp, err
		}
		r.mu.Lock()
		r.h.record(d)
		if err != nil {
			r.errors[0]++
		} else if resp.StatusCode >= 400 {
			r.errors[resp.StatusCode]++
		}
		r.mu.Unlock()
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// RouteStat is one route's share of a run.
type RouteStat struct {
	Route   string
	Latency Latency
	// Errors counts the answers with status ≥ 400 by status; 0 counts transport failures.
	Errors map[int]uint64
}

func (rs *routes) stats() []RouteStat {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	type entry struct {
		seq int
		s   RouteStat
	}
	es := make([]entry, 0, len(rs.m))
	for k, r := range rs.m {
		r.mu.Lock()
		s := RouteStat{Route: k, Latency: r.h.summary(), Errors: map[int]uint64{}}
		for st, n := range r.errors {
			s.Errors[st] = n
		}
		r.mu.Unlock()
		es = append(es, entry{r.seq, s})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	out := make([]RouteStat, len(es))
	for i, e := range es {
		out[i] = e.s
	}
	return out
}
