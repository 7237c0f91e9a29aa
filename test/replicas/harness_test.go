package replicas

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const dsnEnv = "KEYWARD_TEST_POSTGRES"

// binary is the keyward executable, built on first use and removed by TestMain.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// keywardBinary builds cmd/keyward once per test run. A t.TempDir would vanish with the first
// test that asked, so the directory is the run's and TestMain removes it.
func keywardBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "keyward-replicas-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "keyward")
		out, err := exec.Command("go", "build", "-o", binary.path, "github.com/keyward/keyward/cmd/keyward").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build ./cmd/keyward: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

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
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

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
	in := &installation{t: t, bin: keywardBinary(t), dir: t.TempDir(), issuer: issuer, dsn: dsn}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	secretPath := filepath.Join(in.dir, "keyward.secret")
	if err := os.WriteFile(secretPath, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
	name string
	addr string // public listener, 127.0.0.1:port
	mgmt string // management listener (/healthz, /readyz, /metrics)
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed when the process has exited; then state is set
}

// start runs `keyward serve` on addr, with its management listener on a free port, and the
// environment overrides env (KEY=value). The process is stopped when the test ends if it is
// still running.
func (in *installation) start(name, addr string, env ...string) *replica {
	t := in.t
	t.Helper()
	r := &replica{name: name, addr: addr, mgmt: freePort(t), logs: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(in.bin, "serve", "--config", in.config)
	r.cmd.Env = append(append(os.Environ(), "KEYWARD_LISTEN="+addr, "KEYWARD_MANAGEMENT_LISTEN="+r.mgmt), env...)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = r.cmd.Wait() // the state is in r.cmd.ProcessState
		close(r.done)
	}()
	t.Cleanup(func() {
		if !r.exited() {
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.done:
			case <-time.After(20 * time.Second):
				_ = r.cmd.Process.Kill()
				<-r.done
			}
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", r.name, r.logs.String())
		}
	})
	return r
}

func (r *replica) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *replica) url() string { return "http://" + r.addr }

// readyz returns the status of GET /readyz on the management listener, or 0 when nothing
// answers.
func (r *replica) readyz(ctx context.Context) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.mgmt+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady polls /readyz until it answers 200, the process exits, or 60 seconds pass.
func (r *replica) waitReady(t *testing.T) {
	t.Helper()
	r.waitStatus(t, http.StatusOK, 60*time.Second)
}

// waitStatus polls /readyz until it answers want (0: nothing answers), failing the test after
// limit or when the process exits.
func (r *replica) waitStatus(t *testing.T, want int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		got := r.readyz(ctx)
		cancel()
		if got == want {
			return
		}
		if r.exited() {
			t.Fatalf("%s exited (%v) while waiting for /readyz %d:\n%s", r.name, r.cmd.ProcessState, want, r.logs.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz answered %d for %v, want %d", r.name, got, limit, want)
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness, the one wait allowed
	}
}

// waitLog waits until the replica has logged a line containing s.
func (r *replica) waitLog(t *testing.T, s string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(r.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v:\n%s", r.name, s, limit, r.logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling a log the process writes
	}
}

// wait waits for the process to exit and returns its state.
func (r *replica) wait(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-r.done:
		return r.cmd.ProcessState
	case <-time.After(limit):
		t.Fatalf("%s still running %v after it was told to stop", r.name, limit)
		return nil
	}
}

// kill sends SIGKILL (no drain, no deferred cleanup, as when a machine dies) and waits for
// the process to be gone. It returns an error rather than failing the test, so that it can
// run beside the workers.
func (r *replica) kill() error {
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s still running 10s after SIGKILL", r.name)
	}
	st := r.cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("%s after SIGKILL: %v", r.name, st)
	}
	return nil
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
