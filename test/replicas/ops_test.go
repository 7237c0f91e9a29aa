package replicas

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// single starts one replica on a fresh schema reached through dsnEdit (nil: directly) and
// returns it with its installation; its issuer is its own address.
func single(t *testing.T, dsnEdit func(u *url.URL), env ...string) (*installation, *replica) {
	t.Helper()
	dsn := freshSchema(t)
	if dsnEdit != nil {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		dsnEdit(u)
		dsn = u.String()
	}
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	in := newInstallation(t, "http://localhost:"+port, dsn, "")
	r := in.start("keyward", addr, env...)
	r.waitReady(t)
	return in, r
}

// TestReadyzFollowsTheDatabase cuts the network between Keyward and PostgreSQL: /readyz
// answers 503 at once (a load balancer stops sending traffic), requests that need the
// database (the token endpoint, a hosted page) fail with 503 rather than 500 or a hang, and
// when the network returns the same process is ready again without a restart (RL-03).
func TestReadyzFollowsTheDatabase(t *testing.T) {
	pg := withDSN(t, func(*url.URL, url.Values) {})
	u, _ := url.Parse(pg)
	link := newRelay(t, u.Host)
	_, r := single(t, func(u *url.URL) { u.Host = link.addr() })
	ctx := t.Context()

	link.setDown(true)
	r.waitStatus(t, http.StatusServiceUnavailable, 10*time.Second)
	start := time.Now()
	resp, err := http.Get("http://" + r.mgmt + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || d > 6*time.Second {
		t.Fatalf("/readyz with the database cut: %d, Retry-After %q, after %v; want 503 with Retry-After within the 5s connect timeout",
			resp.StatusCode, resp.Header.Get("Retry-After"), d)
	}
	// The token endpoint must look the client up: unavailable, not a client error or a 500.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {redirectURI}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.url()+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", "secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/oauth2/token with the database cut: %d %s, want 503", resp.StatusCode, body)
	}
	// A hosted page needs the browser's session row.
	resp, err = http.Get(r.url() + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/login with the database cut: %d, want 503", resp.StatusCode)
	}
	if r.exited() {
		t.Fatal("keyward exited while the database was unreachable")
	}

	link.setDown(false)
	r.waitStatus(t, http.StatusOK, 15*time.Second)
	if strings.Contains(r.logs.String(), "panic") {
		t.Fatalf("keyward logged a panic:\n%s", r.logs.String())
	}
}

// TestGracefulShutdownDrainsInFlightRequest sends SIGTERM while a request is inside a
// handler: the listener closes at once, the request still completes with a whole response,
// and the process exits 0 (RL-05).
func TestGracefulShutdownDrainsInFlightRequest(t *testing.T) {
	_, r := single(t, nil)
	conn, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// Expect: 100-continue makes the server say when the handler starts reading the body, so
	// the request is provably in flight before the signal; the body is held back until after.
	body := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {redirectURI}}.Encode()
	fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Authorization: Basic %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		r.addr, base64.StdEncoding.EncodeToString([]byte("app:secret")), len(body))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q, %v", blank, err)
	}

	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r.waitLog(t, "shutting down", 10*time.Second)
	// New connections are refused once the listener is closed; Shutdown closes it first.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts 10s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond) // polling for the listener to close
	}
	if r.exited() {
		t.Fatalf("keyward exited with a request in flight: %v", r.cmd.ProcessState)
	}

	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the in-flight request got no response: %v", err)
	}
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode/100 != 4 || !strings.Contains(string(reply), `"error"`) {
		t.Fatalf("in-flight request: %d %q %v, want a whole 4xx OAuth error (unknown client)", resp.StatusCode, reply, err)
	}
	st := r.wait(t, 20*time.Second)
	if st.ExitCode() != 0 {
		t.Fatalf("exit after SIGTERM: %v\n%s", st, r.logs.String())
	}
}

// TestPurgeJobDeletesExpiredRows runs the background purge every 100ms (purge_interval, set
// from the environment) and checks that expired rows go and live ones stay.
func TestPurgeJobDeletesExpiredRows(t *testing.T) {
	in, r := single(t, nil, "KEYWARD_PURGE_INTERVAL=100ms")
	ctx := t.Context()
	db := connect(t, in.dsn)
	now := time.Now().UTC()
	for _, c := range []struct {
		id      string
		expires time.Time
	}{{"expired", now.Add(-time.Hour)}, {"live", now.Add(time.Hour)}} {
		_, err := db.Exec(ctx, `INSERT INTO ceremonies (session_id, purpose, account_id, data, created_at, expires_at)
			VALUES ($1, 'login', '', NULL, $2, $3)`, c.id, now.Add(-2*time.Hour), c.expires)
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Exec(ctx, `INSERT INTO oauth_tokens (kind, signature, request_id, client_id, subject, session_id, active, requested_at, expires_at, request)
			VALUES ('access_token', $1, 'r', 'app', 's', 'sess', true, $2, $3, NULL)`, c.id, now.Add(-2*time.Hour), c.expires)
		if err != nil {
			t.Fatal(err)
		}
	}
	rows := func(id string) int {
		var n int
		err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM ceremonies WHERE session_id = $1) +
			(SELECT count(*) FROM oauth_tokens WHERE signature = $1)`, id).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	for rows("expired") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("expired rows still there 15s after insertion with purge_interval 100ms:\n%s", r.logs.String())
		}
		time.Sleep(20 * time.Millisecond) // polling for the job, whose clock is the process's own
	}
	if n := rows("live"); n != 2 {
		t.Fatalf("the purge took live rows: %d of 2 left", n)
	}
	r.waitLog(t, "purged expired rows", 5*time.Second)
}

// relay forwards TCP connections to target until it is set down, which closes every open
// connection and refuses new ones, as a network partition or a stopped server would.
type relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go r.accept()
	t.Cleanup(func() {
		ln.Close()
		r.setDown(true)
	})
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.serve(c)
	}
}

func (r *relay) serve(c net.Conn) {
	up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	if r.down {
		r.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	r.conns[c], r.conns[up] = true, true
	r.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // ends when either side closes
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	c.Close()
	up.Close()
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, up)
	r.mu.Unlock()
}

func (r *relay) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
	if down {
		for c := range r.conns {
			c.Close()
		}
	}
}
