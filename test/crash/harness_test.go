package crash

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
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
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the ledger queries
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

const pgEnv = "KEYWARD_TEST_POSTGRES"

// binary is the keyward executable, built once per run into a directory TestMain removes.
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

func keywardBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "keyward-crash-")
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

// installation is one Keyward deployment: a configuration file, a master secret and a
// database, on fixed addresses so that every restart serves the same issuer.
type installation struct {
	t        *testing.T
	bin      string
	dir      string
	config   string
	issuer   string
	database string // the config value: sqlite:PATH or a postgres:// URL
	addr     string
	mgmt     string
}

func newInstallation(t *testing.T, database, extra string) *installation {
	t.Helper()
	in := &installation{t: t, bin: keywardBinary(t), dir: t.TempDir(), database: database,
		addr: freePort(t), mgmt: freePort(t)}
	if database == "" {
		in.database = "sqlite:" + filepath.Join(in.dir, "keyward.db")
	}
	_, port, _ := net.SplitHostPort(in.addr)
	in.issuer = "http://localhost:" + port
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	secretPath := filepath.Join(in.dir, "keyward.secret")
	if err := os.WriteFile(secretPath, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in.config = filepath.Join(in.dir, "keyward.yaml")
	// The purge job would delete spent codes the checks look for; the sign-in limiter would
	// slow a test that signs in hundreds of times from one address.
	cfg := fmt.Sprintf("issuer: %s\nlisten: %s\nmanagement_listen: %s\ndatabase: %q\nsecret_file: %s\n"+
		"registration: open\npurge_interval: 24h\nrecovery:\n  signin_per_minute: 1000000\n  signin_burst: 1000000\n"+
		"log:\n  level: info\n  format: json\n%s", in.issuer, in.addr, in.mgmt, in.database, secretPath, extra)
	if err := os.WriteFile(in.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return in
}

func (in *installation) sqlitePath() string { return strings.TrimPrefix(in.database, "sqlite:") }

func (in *installation) isSQLite() bool { return strings.HasPrefix(in.database, "sqlite:") }

// run runs a CLI command against the installation and returns its standard output.
func (in *installation) run(args ...string) (string, error) {
	cmd := exec.Command(in.bin, append(args, "--config", in.config)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("keyward %s: %v: %s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// check runs `keyward store check` (the engine's integrity checks and store.Invariants) and
// returns the problems it reports. The binary, not this process, reads the file: under the
// race detector SQLite's transpiled C is slow enough here to dominate the kill loop.
func (in *installation) check(ctx context.Context) ([]string, error) {
	cmd := exec.CommandContext(ctx, in.bin, "store", "check", "--config", in.config)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var problems []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if p, ok := strings.CutPrefix(line, "problem: "); ok {
			problems = append(problems, p)
		}
	}
	if err != nil && len(problems) == 0 {
		return nil, fmt.Errorf("keyward store check: %v: %s%s", err, stdout.String(), stderr.String())
	}
	return problems, nil
}

// db is a database/sql handle on the installation's database for the test's own queries,
// written with ? placeholders.
type db struct {
	*sql.DB
	pg bool
}

func (in *installation) openDB(t *testing.T, readOnly bool) *db {
	t.Helper()
	var d *sql.DB
	var err error
	if in.isSQLite() {
		dsn := "file:" + in.sqlitePath() + "?_pragma=busy_timeout(5000)"
		if readOnly {
			dsn += "&_query_only=1"
		}
		d, err = sql.Open("sqlite", dsn)
	} else {
		d, err = sql.Open("pgx", in.database)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &db{DB: d, pg: !in.isSQLite()}
}

func (d *db) q(query string) string {
	if !d.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *db) count(ctx context.Context, query string, args ...any) (int, error) {
	var n int
	err := d.QueryRowContext(ctx, d.q(query), args...).Scan(&n)
	return n, err
}

// process is one `keyward serve`.
type process struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed once the process has exited; cmd.ProcessState is then set
}

func (in *installation) start(env ...string) *process {
	t := in.t
	t.Helper()
	p := &process{logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(in.bin, "serve", "--config", in.config)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// readyz is the status of GET /readyz, or 0 when nothing answers.
func (in *installation) readyz(ctx context.Context) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.mgmt+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady polls /readyz until it answers 200; it fails when the process exits first or
// a minute passes.
func (in *installation) waitReady(t *testing.T, p *process) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		got := in.readyz(ctx)
		cancel()
		if got == http.StatusOK {
			return
		}
		if p.exited() {
			t.Fatalf("keyward exited (%v) before it was ready:\n%s", p.cmd.ProcessState, p.logs.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d for a minute:\n%s", got, p.logs.String())
		}
		time.Sleep(5 * time.Millisecond) // polling for readiness: the one wait allowed
	}
}

// kill sends SIGKILL, as when the machine or the OOM killer takes the process, and waits for
// it to be gone.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("keyward still running 10s after SIGKILL")
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("keyward ended by something else than the SIGKILL: %v\n%s", p.cmd.ProcessState, p.logs.String())
	}
}

// wait waits for the process to exit within limit and returns its state.
func (p *process) wait(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState
	case <-time.After(limit):
		t.Fatalf("keyward still running %v after it was told to stop:\n%s", limit, p.logs.String())
		return nil
	}
}

// waitLog waits until the process has logged a line containing s.
func (p *process) waitLog(t *testing.T, s string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(p.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("keyward did not log %q within %v:\n%s", s, limit, p.logs.String())
		}
		time.Sleep(5 * time.Millisecond) // polling a log the process writes
	}
}

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

// postgresDSN returns a DSN on a fresh schema, dropped when the test ends; it skips the test
// when KEYWARD_TEST_POSTGRES is not set.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(pgEnv)
	if dsn == "" {
		t.Skip(pgEnv + " not set: the PostgreSQL crash loop is skipped (scripts/test sets it)")
	}
	name := "keyward_crash_" + strings.ToLower(rand.Text()[:12])
	admin := func(sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect to %s: %v", pgEnv, err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	admin("CREATE SCHEMA " + name)
	t.Cleanup(func() { admin("DROP SCHEMA " + name + " CASCADE") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
