package crash

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the ledger queries
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/keyward/keyward/internal/testbin"
	"github.com/keyward/keyward/internal/testpg"
)

func TestMain(m *testing.M) { testbin.Main(m) }

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
	in := &installation{t: t, bin: testbin.Keyward(t), dir: t.TempDir(), database: database,
		addr: testbin.FreeAddr(t), mgmt: testbin.FreeAddr(t)}
	if database == "" {
		in.database = "sqlite:" + filepath.Join(in.dir, "keyward.db")
	}
	_, port, _ := net.SplitHostPort(in.addr)
	in.issuer = "http://localhost:" + port
	secretPath := testbin.WriteSecret(t, in.dir)
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

// process is one `keyward serve` (or, in diskfull_test.go, a shell around one).
type process struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed once the process has exited; cmd.ProcessState is then set
}

type syncBuffer = testbin.Buffer

func (p *process) bin() *testbin.Process {
	return &testbin.Process{Cmd: p.cmd, Logs: p.logs, Done: p.done}
}

// start runs `keyward serve` with the environment overrides env (KEY=value); a process still
// running when the test ends is killed.
func (in *installation) start(env ...string) *process {
	t := in.t
	t.Helper()
	cmd := exec.Command(in.bin, "serve", "--config", in.config)
	cmd.Env = append(os.Environ(), env...)
	bp := testbin.Start(t, cmd)
	p := &process{cmd: bp.Cmd, logs: bp.Logs, done: bp.Done}
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *process) exited() bool { return p.bin().Exited() }

// readyz is the status of GET /readyz, or 0 when nothing answers.
func (in *installation) readyz(ctx context.Context) int { return testbin.Readyz(ctx, in.mgmt) }

// waitReady polls /readyz until it answers 200; it fails when the process exits first or
// a minute passes.
func (in *installation) waitReady(t *testing.T, p *process) {
	t.Helper()
	got, ok := p.bin().WaitReadyz(t.Context(), in.mgmt, http.StatusOK, time.Minute, 5*time.Millisecond)
	switch {
	case ok:
	case p.exited():
		t.Fatalf("keyward exited (%v) before it was ready:\n%s", p.cmd.ProcessState, p.logs.String())
	default:
		t.Fatalf("/readyz answered %d for a minute:\n%s", got, p.logs.String())
	}
}

// kill sends SIGKILL, as when the machine or the OOM killer takes the process, and waits for
// it to be gone.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.bin().Kill(); err != nil {
		t.Fatalf("keyward: %v\n%s", err, p.logs.String())
	}
}

// wait waits for the process to exit within limit and returns its state.
func (p *process) wait(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	st := p.bin().Wait(limit)
	if st == nil {
		t.Fatalf("keyward still running %v after it was told to stop:\n%s", limit, p.logs.String())
	}
	return st
}

// waitLog waits until the process has logged a line containing s.
func (p *process) waitLog(t *testing.T, s string, limit time.Duration) {
	t.Helper()
	if !p.bin().WaitLog(s, limit, 5*time.Millisecond) {
		t.Fatalf("keyward did not log %q within %v:\n%s", s, limit, p.logs.String())
	}
}

// postgresDSN: an empty PostgreSQL schema for the crash loop (skipped without one).
func postgresDSN(t *testing.T) string { return testpg.Schema(t, "keyward_crash") }
