package crash

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/passkeyclient"
)

// load keeps sign-ins (with their code exchanges) and refresh rotations running against the
// binary until stopped, counting what succeeded; any failure is kept for the test to report.
type load struct {
	ops  atomic.Int64
	tick chan struct{} // a non-blocking nudge after each operation, for waitOps
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

func startLoad(ctx context.Context, a *app, tr http.RoundTripper, signer *person, rt string) *load {
	l := &load{tick: make(chan struct{}, 1), stop: make(chan struct{})}
	fail := func(err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err == nil {
			l.err = err
		}
	}
	done := func() {
		l.ops.Add(1)
		select {
		case l.tick <- struct{}{}:
		default:
		}
	}
	stopped := func() bool {
		select {
		case <-l.stop:
			return true
		default:
			return false
		}
	}
	l.wg.Go(func() {
		for !stopped() {
			g, err := signIn(ctx, a, tr, signer)
			if err == nil {
				var r tokenReply
				r, err = a.exchange(ctx, g.code, g.verifier, g.nonce)
				if err == nil && r.status != http.StatusOK {
					err = errors.New("code exchange under load: " + r.Error)
				}
			}
			if err != nil {
				fail(err)
				return
			}
			done()
		}
	})
	l.wg.Go(func() {
		for !stopped() {
			r, err := a.refresh(ctx, rt)
			if err == nil && r.status != http.StatusOK {
				err = errors.New("refresh under load: " + r.Error)
			}
			if err != nil {
				fail(err)
				return
			}
			rt = r.RefreshToken
			done()
		}
	})
	return l
}

// waitOps waits until n operations have succeeded in all.
func (l *load) waitOps(t *testing.T, n int64) {
	t.Helper()
	for l.ops.Load() < n {
		select {
		case <-l.tick:
		case <-t.Context().Done():
			t.Fatal("the test ended while waiting for the load")
		}
		if l.failed() != nil {
			t.Fatalf("load failed: %v", l.failed())
		}
	}
}

func (l *load) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *load) end(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if err := l.failed(); err != nil {
		t.Fatalf("load failed: %v", err)
	}
}

// newPersonSignedUp signs a new person up through `keyward users invite`; the returned browser
// stays signed in to Keyward.
func newPersonSignedUp(ctx context.Context, t *testing.T, in *installation, email string, admin bool) (*person, *passkeyclient.Client) {
	t.Helper()
	args := []string{"users", "invite", email}
	if admin {
		args = append(args, "--admin")
	}
	out, err := in.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	link, _, _ := cutLine(out)
	p := &person{email: email, auth: newAuthenticator(t, in.issuer)}
	b := passkeyclient.New(in.issuer, loopback(), p.auth)
	if _, err := b.SignUp(ctx, email, "Person "+email, inviteToken(t, link), ""); err != nil {
		t.Fatalf("sign-up of %s: %v", email, err)
	}
	return p, b
}

// signedInAccount: 200 on /account while the browser's Keyward session is live.
func signedInAccount(ctx context.Context, t *testing.T, b *passkeyclient.Client) (bool, string) {
	t.Helper()
	resp, _, err := b.Get(ctx, "/account")
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode == http.StatusOK, resp.Status + " " + resp.Header.Get("Location")
}

func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := p.wait(t, 30*time.Second); st.ExitCode() != 0 {
		t.Fatalf("keyward exited with %v after SIGTERM:\n%s", st, p.logs.String())
	}
}

// TestRL12_BackupUnderLoadRestoreAndAfterRestore runs the runbook of docs/operations.md on the
// binary. On SQLite `keyward store backup` copies the database; on PostgreSQL it prints the
// pg_dump command, which the test runs as printed. Either way the backup is taken while
// sign-ins and refresh rotations keep writing, and the server keeps serving through it. The
// live database is then replaced by the backup: it passes `keyward store check` and Keyward
// serves on it, and there the caveat shows: a refresh token rotated after the backup works
// again. After `keyward store after-restore`, every refresh token and browser session from
// before is refused (invalid_grant, signed out), a passkey sign-in and a fresh grant work, and
// the database still passes the check.
func TestRL12_BackupUnderLoadRestoreAndAfterRestore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		in := newInstallation(t, "", "")
		copyPath := filepath.Join(in.dir, "backup.db")
		runbook(t, in, func() string {
			out, err := in.run("store", "backup", copyPath)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, func() {
			live := in.sqlitePath()
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(live + suffix); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
			if err := os.Rename(copyPath, live); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		in := newInstallation(t, postgresDSN(t), "")
		if _, err := exec.LookPath("pg_dump"); err != nil {
			t.Skip("pg_dump is not installed")
		}
		var restoreCmd string
		runbook(t, in, func() string {
			out, err := in.run("store", "backup", filepath.Join(in.dir, "keyward.dump"))
			if err == nil || !strings.Contains(err.Error(), "pg_dump") {
				t.Fatalf("store backup on PostgreSQL: %q %v, want a failure naming pg_dump", out, err)
			}
			var dump string
			for _, line := range strings.Split(out, "\n") {
				if v, ok := strings.CutPrefix(line, "back up with:  "); ok {
					dump = v
				}
				if v, ok := strings.CutPrefix(line, "restore with:  "); ok {
					restoreCmd, _, _ = strings.Cut(v, "  (")
				}
			}
			if dump == "" || restoreCmd == "" {
				t.Fatalf("store backup printed no commands: %q", out)
			}
			shell(t, dump)
			return dump
		}, func() {
			// pg_restore goes into an empty database: the schema the dump recreates is dropped.
			u, err := url.Parse(in.database)
			if err != nil {
				t.Fatal(err)
			}
			d := in.openDB(t, false)
			if _, err := d.ExecContext(t.Context(), "DROP SCHEMA "+u.Query().Get("search_path")+" CASCADE"); err != nil {
				t.Fatal(err)
			}
			d.Close()
			shell(t, restoreCmd)
		})
	})
}

// shell runs a command line as an operator would paste it.
func shell(t *testing.T, line string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", line).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
}

// runbook drives the load, takes the backup with backup (its output is logged), stops
// Keyward, puts the backup in place with restore, and checks the restored database before
// and after `keyward store after-restore`.
func runbook(t *testing.T, in *installation, backup func() string, restore func()) {
	tr := loopback()
	a := newApp(t, in, tr)
	ctx := t.Context()
	p := in.start()
	in.waitReady(t, p)
	a.discover(ctx, t)

	alice, aliceHome := newPersonSignedUp(ctx, t, in, "alice@example.test", true)
	bob, _ := newPersonSignedUp(ctx, t, in, "bob@example.test", false)
	loader, _ := newPersonSignedUp(ctx, t, in, "load@example.test", false)
	grantFor := func(who *person) string {
		t.Helper()
		g, err := signIn(ctx, a, tr, who)
		if err != nil {
			t.Fatal(err)
		}
		r, err := a.exchange(ctx, g.code, g.verifier, g.nonce)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("exchange: %d %s %v", r.status, r.Error, err)
		}
		return r.RefreshToken
	}
	aliceRT, bobRT, loadRT := grantFor(alice), grantFor(bob), grantFor(loader)
	if ok, got := signedInAccount(ctx, t, aliceHome); !ok {
		t.Fatalf("alice's browser before the backup: %s, want signed in", got)
	}

	l := startLoad(ctx, a, tr, loader, loadRT)
	l.waitOps(t, 4)
	out := backup()
	during := l.ops.Load()
	l.waitOps(t, during+4) // the server still serves, and writes, after the backup
	l.end(t)
	t.Logf("backup: %s; %d sign-ins and refreshes succeeded around it", strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]), l.ops.Load())

	// After the backup Bob's token rotates: spent in the live database, live in the copy.
	if r, err := a.refresh(ctx, bobRT); err != nil || r.status != http.StatusOK {
		t.Fatalf("bob's refresh after the backup: %d %s %v", r.status, r.Error, err)
	}
	p.stop(t)

	// Restore: the backup replaces the database, same configuration and master secret.
	restore()
	if problems, err := in.check(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("store check on the restored copy: %v %v", problems, err)
	}
	p = in.start()
	in.waitReady(t, p)
	resurrected, err := a.refresh(ctx, bobRT)
	if err != nil || resurrected.status != http.StatusOK {
		t.Fatalf("on the restored copy bob's pre-backup refresh token: %d %s %v; want 200 (what after-restore is for)",
			resurrected.status, resurrected.Error, err)
	}
	p.stop(t)

	out, err = in.run("store", "after-restore")
	if err != nil || !strings.Contains(out, "sessions ended") {
		t.Fatalf("store after-restore: %q %v", out, err)
	}
	p = in.start()
	in.waitReady(t, p)
	// In order: replaying bob's spent token first would revoke his family as reuse, whatever
	// after-restore did.
	for _, c := range []struct{ name, rt string }{{"bob's issued on the restored copy", resurrected.RefreshToken},
		{"alice's pre-backup", aliceRT}, {"bob's resurrected", bobRT}} {
		name, rt := c.name, c.rt
		r, err := a.refresh(ctx, rt)
		if err != nil || r.status != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Errorf("%s refresh token after after-restore: %d %q %v, want 400 invalid_grant", name, r.status, r.Error, err)
		}
	}
	if ok, got := signedInAccount(ctx, t, aliceHome); ok {
		t.Errorf("alice's pre-backup browser session after after-restore: %s, want signed out", got)
	}
	fresh := grantFor(alice) // her passkey still signs her in
	if r, err := a.refresh(ctx, fresh); err != nil || r.status != http.StatusOK {
		t.Errorf("a grant issued after after-restore does not refresh: %d %s %v", r.status, r.Error, err)
	}
	if problems, err := in.check(ctx); err != nil || len(problems) > 0 {
		t.Errorf("store check after after-restore: %v %v", problems, err)
	}
	if strings.Contains(p.logs.String(), `"level":"ERROR"`) {
		t.Errorf("keyward logged errors on the restored database:\n%s", p.logs.String())
	}
}
