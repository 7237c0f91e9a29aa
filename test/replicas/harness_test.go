package replicas

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/testbin"
)

const dsnEnv = "KEYWARD_TEST_POSTGRES"

func TestMain(m *testing.M) { testbin.Main(m) }

func adminDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip(dsnEnv + " not set: multi-process PostgreSQL tests skipped (scripts/test sets it)")
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		t.Fatalf("%s must be a postgres:// URL for these tests", dsnEnv)
	}
	return dsn
}

// admin runs statements on a connection of its own.
func admin(t *testing.T, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, adminDSN(t))
	if err != nil {
		t.Fatalf("connect to %s: %v", dsnEnv, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// withDSN returns the admin DSN changed by edit.
func withDSN(t *testing.T, edit func(u *url.URL, q url.Values)) string {
	t.Helper()
	u, err := url.Parse(adminDSN(t))
	if err != nil {
		t.Fatalf("parse %s: %v", dsnEnv, err)
	}
	q := u.Query()
	edit(u, q)
	u.RawQuery = q.Encode()
	return u.String()
}

func uniqueName() string { return "keyward_test_" + strings.ToLower(rand.Text()[:16]) }

// freshSchema creates an empty schema, dropped when the test ends, and returns a DSN whose
// search_path is that schema: what one installation of Keyward sees as its database.
func freshSchema(t *testing.T) string {
	t.Helper()
	name := uniqueName()
	admin(t, "CREATE SCHEMA "+name)
	t.Cleanup(func() { admin(t, "DROP SCHEMA "+name+" CASCADE") })
	return withDSN(t, func(_ *url.URL, q url.Values) { q.Set("search_path", name) })
}

// connect opens a connection to dsn for the test's own queries.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// freePort returns a loopback address nobody listens on at the moment.
var freePort = testbin.FreeAddr

// installation is one Keyward deployment: a configuration file, a shared master secret and a
// database, from which any number of replicas and CLI commands run.
type installation struct {
	t      *testing.T
	bin    string
	dir    string
	config string
	issuer string
	dsn    string
}

// newInstallation writes the configuration for issuer on database dsn. extra is appended to
// the YAML file.
func newInstallation(t *testing.T, issuer, dsn, extra string) *installation {
	t.Helper()
	in := &installation{t: t, bin: testbin.Keyward(t), dir: t.TempDir(), issuer: issuer, dsn: dsn}
	secretPath := testbin.WriteSecret(t, in.dir)
	in.config = filepath.Join(in.dir, "keyward.yaml")
	cfg := fmt.Sprintf("issuer: %s\nlisten: 127.0.0.1:0\ndatabase: %q\nsecret_file: %s\nregistration: open\n"+
		"log:\n  level: info\n  format: json\n%s", issuer, dsn, secretPath, extra)
	if err := os.WriteFile(in.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return in
}

// run runs a CLI command against the installation and returns its standard output.
func (in *installation) run(args ...string) (string, error) {
	cmd := exec.Command(in.bin, append(args, "--config", in.config)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("keyward %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// replica is one `keyward serve` process.
type replica struct {
	*testbin.Process
	name string
	addr string // public listener, 127.0.0.1:port
	mgmt string // management listener (/healthz, /readyz, /metrics)
	cmd  *exec.Cmd
	logs *testbin.Buffer
}

// start runs `keyward serve` on addr, with its management listener on a free port, and the
// environment overrides env (KEY=value). The process is stopped when the test ends if it is
// still running.
func (in *installation) start(name, addr string, env ...string) *replica {
	t := in.t
	t.Helper()
	mgmt := freePort(t)
	cmd := exec.Command(in.bin, "serve", "--config", in.config)
	cmd.Env = append(append(os.Environ(), "KEYWARD_LISTEN="+addr, "KEYWARD_MANAGEMENT_LISTEN="+mgmt), env...)
	p := testbin.Start(t, cmd)
	r := &replica{Process: p, name: name, addr: addr, mgmt: mgmt, cmd: p.Cmd, logs: p.Logs}
	t.Cleanup(func() {
		if !r.Exited() {
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			if r.Wait(20*time.Second) == nil {
				_ = r.cmd.Process.Kill()
				<-r.Done
			}
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", r.name, r.logs.String())
		}
	})
	return r
}

func (r *replica) exited() bool { return r.Exited() }

func (r *replica) url() string { return "http://" + r.addr }

// readyz returns the status of GET /readyz on the management listener, or 0 when nothing
// answers.
func (r *replica) readyz(ctx context.Context) int { return testbin.Readyz(ctx, r.mgmt) }

// waitReady polls /readyz until it answers 200, the process exits, or 60 seconds pass.
func (r *replica) waitReady(t *testing.T) {
	t.Helper()
	r.waitStatus(t, http.StatusOK, 60*time.Second)
}

// waitStatus polls /readyz until it answers want (0: nothing answers), failing the test after
// limit or when the process exits.
func (r *replica) waitStatus(t *testing.T, want int, limit time.Duration) {
	t.Helper()
	got, ok := r.WaitReadyz(t.Context(), r.mgmt, want, limit, 20*time.Millisecond)
	switch {
	case ok:
	case r.Exited():
		t.Fatalf("%s exited (%v) while waiting for /readyz %d:\n%s", r.name, r.cmd.ProcessState, want, r.logs.String())
	default:
		t.Fatalf("%s: /readyz answered %d for %v, want %d", r.name, got, limit, want)
	}
}

// waitLog waits until the replica has logged a line containing s.
func (r *replica) waitLog(t *testing.T, s string, limit time.Duration) {
	t.Helper()
	if !r.WaitLog(s, limit, 10*time.Millisecond) {
		t.Fatalf("%s did not log %q within %v:\n%s", r.name, s, limit, r.logs.String())
	}
}

// wait waits for the process to exit and returns its state.
func (r *replica) wait(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	st := r.Wait(limit)
	if st == nil {
		t.Fatalf("%s still running %v after it was told to stop", r.name, limit)
	}
	return st
}

// kill sends SIGKILL (no drain, no deferred cleanup, as when a machine dies) and waits for
// the process to be gone. It returns an error rather than failing the test, so that it can
// run beside the workers.
func (r *replica) kill() error {
	if err := r.Kill(); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return nil
}

// loadAverage is /proc/loadavg's first three fields, for the figures the test logs.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

var errNoBackend = errors.New("proxy: no live backend")
