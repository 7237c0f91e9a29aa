package crash

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/softauthn"
)

// holdRequest opens a token request and stops before its body: with Expect: 100-continue the
// server says when the handler has started reading, so the request is provably in flight.
// send writes the body and returns the whole response.
func holdRequest(t *testing.T, in *installation, a *app) (send func() (*http.Response, []byte, error)) {
	t.Helper()
	conn, err := net.Dial("tcp", in.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"not-a-token"}}.Encode()
	fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Authorization: Basic %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		in.addr, base64.StdEncoding.EncodeToString([]byte(a.id+":"+a.secret)), len(body))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q, %v", blank, err)
	}
	return func() (*http.Response, []byte, error) {
		if _, err := io.WriteString(conn, body); err != nil {
			return nil, nil, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		reply, err := io.ReadAll(resp.Body)
		return resp, reply, err
	}
}

// TestRL05_SIGTERMDrainsWithinShutdownDelay sends SIGTERM to a Keyward with
// server.shutdown_delay set: /readyz answers 503 at once, new requests (a refresh, and 40 on
// fresh connections from 4 clients at once) are all still served during the delay, then the
// listener closes, a request already in flight completes with a whole response, the process
// exits 0, and the SQLite file is left checkpointed (no -wal file) and sound.
func TestRL05_SIGTERMDrainsWithinShutdownDelay(t *testing.T) {
	in := newInstallation(t, "", "")
	tr := loopback()
	a := newApp(t, in, tr)
	ctx := t.Context()
	// Long enough that the requests below certainly fall inside it on a loaded machine.
	p := in.start("KEYWARD_SERVER_SHUTDOWN_DELAY=3s")
	in.waitReady(t, p)
	a.discover(ctx, t)
	rt := signedIn(ctx, t, in, a, tr)
	send := holdRequest(t, in, a)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "shutting down", 10*time.Second)
	if got := in.readyz(ctx); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz right after SIGTERM: %d, want 503", got)
	}
	reply, err := a.refresh(ctx, rt)
	if err != nil || reply.status != http.StatusOK {
		t.Fatalf("refresh during shutdown_delay: %d %s %v, want 200", reply.status, reply.Error, err)
	}
	// Concurrent load during the delay, each request on a new connection as from many
	// clients: every one is answered, none is refused or reset.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	failures := make(chan error, 40)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				resp, err := fresh.Get("http://" + in.addr + "/.well-known/openid-configuration")
				if err != nil {
					failures <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures <- fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Errorf("a request during shutdown_delay failed: %v", err)
	}
	if p.exited() {
		t.Fatal("keyward exited during shutdown_delay")
	}

	// After the delay the listener closes; the held request is still being served.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", in.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts 30s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond) // polling for the listener to close
	}
	held, body, err := send()
	if err != nil {
		t.Fatalf("the in-flight request got no whole response: %v", err)
	}
	if held.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_grant"`) {
		t.Fatalf("in-flight request: %d %s, want 400 invalid_grant", held.StatusCode, body)
	}
	if st := p.wait(t, 30*time.Second); st.ExitCode() != 0 {
		t.Fatalf("exit after SIGTERM: %v\n%s", st, p.logs.String())
	}
	if _, err := os.Stat(in.sqlitePath() + "-wal"); !os.IsNotExist(err) {
		t.Fatalf("a -wal file is left after a clean shutdown (stat: %v)", err)
	}
	if out, err := in.run("store", "check"); err != nil || !strings.Contains(out, "sound") {
		t.Fatalf("store check after shutdown: %q %v", out, err)
	}
}

// TestRL05_SecondSIGTERMForcesExit: during a long shutdown_delay a second SIGTERM ends the
// process at once, with a non-zero status, for an operator who cannot wait.
func TestRL05_SecondSIGTERMForcesExit(t *testing.T) {
	in := newInstallation(t, "", "")
	p := in.start("KEYWARD_SERVER_SHUTDOWN_DELAY=1h")
	in.waitReady(t, p)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "shutting down", 10*time.Second)
	if p.exited() {
		t.Fatal("keyward exited at the first SIGTERM despite a 1h shutdown_delay")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st := p.wait(t, 10*time.Second)
	if st.ExitCode() == 0 || !strings.Contains(p.logs.String(), "second signal") {
		t.Fatalf("after a second SIGTERM: %v, want a non-zero exit and a log line saying why\n%s", st, p.logs.String())
	}
}

// signedIn signs a new person up and in through the code flow and returns their refresh token.
func signedIn(ctx context.Context, t *testing.T, in *installation, a *app, tr http.RoundTripper) string {
	t.Helper()
	setup, err := in.run("users", "invite", "first@example.test", "--admin")
	if err != nil {
		t.Fatal(err)
	}
	link, _, _ := cutLine(setup)
	p := &person{email: "first@example.test"}
	if p.auth, err = softauthn.New(softauthn.Options{Origin: in.issuer}); err != nil {
		t.Fatal(err)
	}
	if err := signUp(ctx, in.issuer, tr, p, inviteToken(t, link)); err != nil {
		t.Fatal(err)
	}
	g, err := signIn(ctx, a, tr, p)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := a.exchange(ctx, g.code, g.verifier, g.nonce)
	if err != nil || reply.status != http.StatusOK {
		t.Fatalf("exchange: %d %s %v", reply.status, reply.Error, err)
	}
	return reply.RefreshToken
}
