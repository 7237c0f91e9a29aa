// Package testbin is for tests only: it builds the keyward binary once per test binary and
// runs it as a child process, collecting its output, for the suites that need a real process
// (kill loops, several replicas on one database). Production code must not import it.
//
// What a suite does when a process outlives its test, or how it reports a kill, is its own
// policy; this package only starts, probes and signals.
package testbin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the keyward executable, built on first use into a directory Main removes. A
// t.TempDir would vanish with the first test that asked.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Main runs the tests and removes the binary Keyward built; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// Keyward returns the path of cmd/keyward, built once per test binary.
func Keyward(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "keyward-testbin-")
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

// FreeAddr returns a loopback address nobody listens on at the moment.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WriteSecret writes a fresh random master secret (hex, as `secret_file:` expects) into dir
// and returns the file's path.
func WriteSecret(t testing.TB, dir string) string {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	path := filepath.Join(dir, "keyward.secret")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Buffer collects a process's output; it is safe to read while the process writes.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Process is one child process. Done is closed once it has exited; Cmd.ProcessState is
// then set.
type Process struct {
	Cmd  *exec.Cmd
	Logs *Buffer
	Done chan struct{}
}

// Start starts cmd with its standard output and error going to the process's Logs, failing
// the test if it cannot. It registers no cleanup: the caller decides how a process still
// running at the end of the test is stopped.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, Logs: &Buffer{}, Done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait() // the state is in cmd.ProcessState
		close(p.Done)
	}()
	return p
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.Done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL (no drain, no deferred cleanup, as when a machine dies) and waits for
// the process to be gone, with an error if it takes more than 10s or something else than the
// SIGKILL ended it.
func (p *Process) Kill() error {
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.Done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("still running 10s after SIGKILL")
	}
	st := p.Cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("ended by something else than the SIGKILL: %v", st)
	}
	return nil
}

// Wait waits up to limit for the process to exit and returns its state, or nil if it is
// still running.
func (p *Process) Wait(limit time.Duration) *os.ProcessState {
	select {
	case <-p.Done:
		return p.Cmd.ProcessState
	case <-time.After(limit):
		return nil
	}
}

// WaitLog waits up to limit for the process to log something containing s, polling every
// interval, and reports whether it did.
func (p *Process) WaitLog(s string, limit, interval time.Duration) bool {
	deadline := time.Now().Add(limit)
	for !strings.Contains(p.Logs.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval) // polling a log the process writes
	}
	return true
}

// Readyz returns the status of GET /readyz on the management listener mgmt (host:port), or
// 0 when nothing answers.
func Readyz(ctx context.Context, mgmt string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+mgmt+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// WaitReadyz polls /readyz on mgmt every interval until it answers want (0: nothing answers).
// It returns the last status and false when the process exits first or limit passes.
func (p *Process) WaitReadyz(ctx context.Context, mgmt string, want int, limit, interval time.Duration) (int, bool) {
	deadline := time.Now().Add(limit)
	for {
		c, cancel := context.WithTimeout(ctx, time.Second)
		got := Readyz(c, mgmt)
		cancel()
		if got == want {
			return got, true
		}
		if p.Exited() || time.Now().After(deadline) {
			return got, false
		}
		time.Sleep(interval) // polling for readiness: the one wait allowed
	}
}
