package crash

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
)

// TestRL03_SQLiteLockedBeyondBusyTimeout holds the SQLite write lock from another process's
// connection (BEGIN EXCLUSIVE) for longer than Keyward's busy timeout. Meanwhile Keyward
// fails closed: /readyz 503 while /healthz stays 200; the token endpoint 503 with a JSON
// error, Retry-After and no-store; the authorization endpoint an error without a code; a
// passkey sign-in finish 503 without consuming its challenge. Once the lock is released the
// same process recovers: ready again, the same assertion signs in, the refresh token that
// could not rotate rotates now.
//
// The busy timeout is cut to 500ms (database_busy_timeout): every request under the lock waits
// it out, and at the 5s default the test spent half a minute waiting.
func TestRL03_SQLiteLockedBeyondBusyTimeout(t *testing.T) {
	in := newInstallation(t, "", "database_busy_timeout: 500ms\n")
	tr := loopback()
	a := newApp(t, in, tr)
	ctx := t.Context()
	p := in.start()
	in.waitReady(t, p)
	a.discover(ctx, t)

	setup, err := in.run("users", "invite", "locked@example.test", "--admin")
	if err != nil {
		t.Fatal(err)
	}
	link, _, _ := cutLine(setup)
	who := &person{email: "locked@example.test"}
	if who.auth, err = softauthn.New(softauthn.Options{Origin: in.issuer}); err != nil {
		t.Fatal(err)
	}
	home := passkeyclient.New(in.issuer, tr, who.auth) // stays signed in after the sign-up
	if _, err := home.SignUp(ctx, who.email, "Locked", inviteToken(t, link), ""); err != nil {
		t.Fatal(err)
	}
	g, err := signIn(ctx, a, tr, who)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := a.exchange(ctx, g.code, g.verifier, g.nonce)
	if err != nil || reply.status != http.StatusOK {
		t.Fatalf("exchange: %d %s %v", reply.status, reply.Error, err)
	}
	rt := reply.RefreshToken
	// A sign-in ceremony begun before the lock, its assertion signed and not yet sent.
	b := passkeyclient.New(in.issuer, tr, who.auth)
	csrf, err := b.CSRF(ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	var opts json.RawMessage
	if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{}`), &opts); err != nil {
		t.Fatal(err)
	}
	assertion, err := who.auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}

	release := holdWriteLock(t, in.sqlitePath())

	if got := in.readyz(ctx); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the write lock held elsewhere: %d, want 503", got)
	}
	if resp, err := http.Get("http://" + in.mgmt + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with the write lock held elsewhere: %v %v, want 200 (the process is alive)", resp, err)
	} else {
		resp.Body.Close()
	}
	tokenUnavailable(ctx, t, a, rt)
	var pe *passkeyclient.Error
	if err := b.PostJSON(ctx, "/webauthn/login/finish", csrf, assertion, nil); !errors.As(err, &pe) || pe.Status != http.StatusServiceUnavailable {
		t.Errorf("sign-in finish with the write lock held elsewhere: %v, want 503", err)
	}
	authorizeUnavailable(ctx, t, a, home)
	if p.exited() {
		t.Fatalf("keyward exited while the database was locked:\n%s", p.logs.String())
	}

	release()
	in.waitReady(t, p)
	var done struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := b.PostJSON(ctx, "/webauthn/login/finish", csrf, assertion, &done); err != nil || done.RedirectTo == "" {
		t.Fatalf("the same sign-in finish after the lock: %v %+v, want success (the challenge was not consumed)", err, done)
	}
	if reply, err := a.refresh(ctx, rt); err != nil || reply.status != http.StatusOK {
		t.Fatalf("refresh after the lock: %d %s %v, want 200 (the token did not rotate under the lock)", reply.status, reply.Error, err)
	}
	if strings.Contains(p.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a locked database was logged as an internal error:\n%s", p.logs.String())
	}
}

// holdWriteLock takes SQLite's write lock on path from a connection of its own, as another
// process (a backup script, the sqlite3 shell) could, and returns the function that drops it.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), `BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
			t.Error(err)
		}
		conn.Close()
		db.Close()
	}
	t.Cleanup(release)
	return release
}

func tokenUnavailable(ctx context.Context, t *testing.T, a *app, rt string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.issuer+"/oauth2/token",
		strings.NewReader("grant_type=refresh_token&refresh_token="+rt))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(a.id, a.secret)
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	decErr := json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || decErr != nil || body.Error == "" ||
		resp.Header.Get("Retry-After") == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		t.Errorf("/oauth2/token with the write lock held elsewhere: %d %q (decode: %v), Retry-After %q, Cache-Control %q; "+
			"want 503 with a JSON error, Retry-After and no-store", resp.StatusCode, body.Error, decErr,
			resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"))
	}
}

// authorizeUnavailable: the signed-in browser asks for a code while nothing can be written.
// Either an error page with no redirect at all, or a redirect to the app carrying
// temporarily_unavailable; never a code.
func authorizeUnavailable(ctx context.Context, t *testing.T, a *app, home *passkeyclient.Client) {
	t.Helper()
	resp, body, err := home.Get(ctx, a.rp.AuthURL(testenv.NewFlow()))
	if err != nil {
		t.Fatal(err)
	}
	loc := resp.Header.Get("Location")
	switch {
	case strings.Contains(loc, "code="):
		t.Errorf("/oauth2/authorize issued a code with the database locked: %s", loc)
	case resp.StatusCode == http.StatusServiceUnavailable && loc == "" && resp.Header.Get("Retry-After") != "":
	case resp.StatusCode/100 == 3 && strings.HasPrefix(loc, redirectURI) && strings.Contains(loc, "error=temporarily_unavailable"):
	default:
		t.Errorf("/oauth2/authorize with the database locked: %d, Location %q, body %.200s; "+
			"want a 503 page with Retry-After and no redirect, or temporarily_unavailable at the app", resp.StatusCode, loc, body)
	}
}
