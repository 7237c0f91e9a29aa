package crash

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store/sqlite"
)

// startOnTmpfs runs `keyward serve` with its database on a small tmpfs of its own: a mount
// namespace made with `unshare` (as a user namespace's root, so no privilege is needed), into
// which the database made beforehand is copied. It returns the process and the database
// directory as the test process reaches it (through /proc/PID/root).
func (in *installation) startOnTmpfs(t *testing.T, size string) (*process, string) {
	t.Helper()
	if err := exec.Command("unshare", "--user", "--map-root-user", "--mount", "true").Run(); err != nil {
		t.Skipf("cannot make a user and mount namespace here (unshare: %v): the disk-full test needs a tmpfs of its own", err)
	}
	dbDir := filepath.Dir(in.sqlitePath())
	seed := filepath.Join(in.dir, "seed.db")
	script := fmt.Sprintf(`set -e; cp %[1]s/keyward.db %[2]s; mount -t tmpfs -o size=%[3]s tmpfs %[1]s; cp %[2]s %[1]s/keyward.db; exec %[4]s serve --config %[5]s`,
		dbDir, seed, size, in.bin, in.config)
	p := &process{logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script)
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
	in.waitReady(t, p)
	return p, filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "root", dbDir)
}

// fillDisk writes a file in dir until the file system refuses, and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
}

// TestRL10_DiskFullRefusesWritesKeepsReads fills the file system under Keyward's SQLite file
// while it runs. Writes (a sign-up ceremony, a refresh token rotation) answer 503 with
// Retry-After and a clear error, never 500, and change nothing; reads (discovery, JWKS,
// userinfo) keep working; the log says the disk is full; the process stays up. Once space is
// freed the same process writes again, and the file passes integrity_check and the
// invariants.
func TestRL10_DiskFullRefusesWritesKeepsReads(t *testing.T) {
	in := newInstallation(t, "", "")
	if err := os.Mkdir(filepath.Join(in.dir, "fs"), 0o700); err != nil {
		t.Fatal(err)
	}
	in.database = "sqlite:" + filepath.Join(in.dir, "fs", "keyward.db")
	cfg, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), filepath.Join(in.dir, "keyward.db"), in.sqlitePath(), 1))
	if err := os.WriteFile(in.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	tr := loopback()
	a := newApp(t, in, tr) // written to the database before it moves to the tmpfs
	setup, err := in.run("users", "invite", "full@example.test", "--admin")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	p, dir := in.startOnTmpfs(t, "16m")
	a.discover(ctx, t)
	who := &person{email: "full@example.test"}
	if who.auth, err = softauthn.New(softauthn.Options{Origin: in.issuer}); err != nil {
		t.Fatal(err)
	}
	link, _, _ := cutLine(setup)
	if err := signUp(ctx, in.issuer, tr, who, inviteToken(t, link)); err != nil {
		t.Fatal(err)
	}
	g, err := signIn(ctx, a, tr, who)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.exchange(ctx, g.code, g.verifier, g.nonce)
	if err != nil || tok.status != http.StatusOK {
		t.Fatalf("exchange: %d %v", tok.status, err)
	}
	// A newcomer has the sign-up page open (its session row exists) before the disk fills.
	newcomer := &person{email: "new@example.test", auth: newAuthenticator(t, in.issuer)}
	b := passkeyclient.New(in.issuer, tr, newcomer.auth)
	csrf, err := b.CSRF(ctx, "/signup")
	if err != nil {
		t.Fatal(err)
	}
	accounts := countAt(ctx, t, dir, "accounts")

	filler := fillDisk(t, dir)
	begin := []byte(`{"email":"new@example.test","display_name":"New"}`)
	var pe *passkeyclient.Error
	if err := b.PostJSON(ctx, "/webauthn/signup/begin", csrf, begin, nil); !errors.As(err, &pe) ||
		pe.Status != http.StatusServiceUnavailable || pe.Code != "temporarily_unavailable" {
		t.Errorf("sign-up begin on a full disk: %v, want 503 temporarily_unavailable", err)
	}
	resp := postToken(ctx, t, a, "grant_type=refresh_token&refresh_token="+tok.RefreshToken)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("refresh on a full disk: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, path := range []string{"/.well-known/openid-configuration", "/oauth2/jwks"} {
		if got := getStatus(ctx, t, a.hc, in.issuer+path, ""); got != http.StatusOK {
			t.Errorf("GET %s on a full disk: %d, want 200", path, got)
		}
	}
	if got := getStatus(ctx, t, a.hc, in.issuer+"/oauth2/userinfo", tok.AccessToken); got != http.StatusOK {
		t.Errorf("userinfo on a full disk: %d, want 200", got)
	}
	if n := countAt(ctx, t, dir, "accounts"); n != accounts {
		t.Errorf("accounts went from %d to %d on a full disk", accounts, n)
	}
	if p.exited() {
		t.Fatalf("keyward exited on a full disk:\n%s", p.logs.String())
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "disk full") {
		t.Errorf("the log does not say the disk is full:\n%s", logs)
	}
	if strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("a full disk was logged as an internal error:\n%s", logs)
	}

	// Space freed: the same process writes again, and nothing on disk is damaged.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := signUp(ctx, in.issuer, tr, newcomer, ""); err != nil {
		t.Fatalf("sign-up once space is free: %v", err)
	}
	if r, err := a.refresh(ctx, tok.RefreshToken); err != nil || r.status != http.StatusOK {
		t.Fatalf("refresh once space is free: %d %s %v, want 200 (it must not have rotated on the full disk)", r.status, r.Error, err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if problems, err := st.Check(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("store check after the disk was full: %v %v", problems, err)
	}
}

func countAt(ctx context.Context, t *testing.T, dir, table string) int {
	t.Helper()
	d := &installation{database: "sqlite:" + filepath.Join(dir, "keyward.db")}
	db := d.openDB(t, true)
	n, err := db.count(ctx, `SELECT count(*) FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func postToken(ctx context.Context, t *testing.T, a *app, form string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.issuer+"/oauth2/token", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(a.id, a.secret)
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func getStatus(ctx context.Context, t *testing.T, hc *http.Client, target, bearer string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
