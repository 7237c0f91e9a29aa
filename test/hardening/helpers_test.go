package hardening

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// holdRequest opens a raw connection and sends a request whose body never finishes: the
// handler that reads it holds its in-flight slots until the test ends or release is called.
func holdRequest(t *testing.T, addr, method, path string, header http.Header) (release func()) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n")
	for k, vs := range header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n{")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func() { c.Close() }
}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, body string, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// eventually repeats probe until it returns want. It waits for the server to reach a state
// (held requests inside the handler), not for time to pass; the deadline only turns a hang
// into a failure.
func eventually(t *testing.T, what string, want int, probe func() answer) answer {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		a := probe()
		if a.status == want {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %d (%s), want %d", what, a.status, a.body, want)
		}
	}
}

func from(ip string, kv ...string) http.Header {
	h := http.Header{"X-Forwarded-For": {ip}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// readUntilClosed reads c until the server closes it and reports whether it did within d.
func readUntilClosed(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, bufio.NewReader(c))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}
