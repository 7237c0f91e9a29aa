package integration

import (
	"bytes"
	"io"
	"net/http"
	"sync"
)

// exchange is one request and its answer as recorded on the wire.
type exchange struct {
	method, url string
	reqHeader   http.Header
	reqBody     []byte
	status      int
	header      http.Header
	body        []byte
}

// recorder is a RoundTripper that keeps every exchange, so the leak tests see exactly what the
// browsers and relying parties saw, and can collect every secret Keyward handed out.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	log  []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.log = append(r.log, exchange{method: req.Method, url: req.URL.String(), reqHeader: req.Header.Clone(), reqBody: reqBody,
		status: resp.StatusCode, header: resp.Header.Clone(), body: body})
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.log...)
}
