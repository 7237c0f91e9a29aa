package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/store"
)

func TestDatabaseBusyTimeoutBounds(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"database_busy_timeout: 50ms\n":  "database_busy_timeout: must be between 100ms and 60s",
		"database_busy_timeout: 61s\n":   "database_busy_timeout: must be between 100ms and 60s",
		"database_busy_timeout: 500ms\n": "",
	} {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(p, nil)
		switch {
		case want == "" && (err != nil || cfg.DatabaseBusyTimeout != 500*time.Millisecond):
			t.Errorf("%q: %v, busy timeout %v", body, err, cfg.DatabaseBusyTimeout)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	cfg, err := loadConfig("", []string{"KEYWARD_DATABASE_BUSY_TIMEOUT=2s"})
	if err != nil || cfg.DatabaseBusyTimeout != 2*time.Second {
		t.Errorf("KEYWARD_DATABASE_BUSY_TIMEOUT=2s: %v %v", cfg.DatabaseBusyTimeout, err)
	}
	if cfg, _ := loadConfig("", nil); cfg.DatabaseBusyTimeout != 5*time.Second {
		t.Errorf("default busy timeout %v, want 5s", cfg.DatabaseBusyTimeout)
	}
}

// TestRL12_BackupCommandRefusesExistingPath: the copy is written once, private, and never
// over an existing file.
func TestRL12_BackupCommandRefusesExistingPath(t *testing.T) {
	e := newCLIEnv(t, "")
	if _, err := e.run("migrate"); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.dir, "copy.db")
	out, err := e.run("store", "backup", p)
	if err != nil || !strings.Contains(out, "backup written to "+p) {
		t.Fatalf("store backup: %q %v", out, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want mode 0600", fi, err)
	}
	before, _ := os.ReadFile(p)
	if out, err := e.run("store", "backup", p); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second backup to the same path: %q %v, want a refusal", out, err)
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Error("a refused backup changed the existing file")
	}
	if _, err := e.run("store", "backup"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("store backup without a path: %v, want usage", err)
	}
}

// TestRL12_BackupOnPostgresNamesPgDump: no copy of our own, the exact pg_dump command instead
// (without the password) and a failing exit status.
func TestRL12_BackupOnPostgresNamesPgDump(t *testing.T) {
	e := newCLIEnv(t, "")
	conf := "database: postgres://keyward:s3cret@db.example:5432/keyward?sslmode=require&search_path=kw\nsecret_file: " +
		filepath.Join(e.dir, "secret") + "\n"
	if err := os.WriteFile(e.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := e.run("store", "backup", "/var/backups/keyward.dump")
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("store backup on PostgreSQL: %v, want an error naming pg_dump", err)
	}
	want := "pg_dump --format=custom --no-owner --schema=kw --file=/var/backups/keyward.dump 'postgres://keyward@db.example:5432/keyward?sslmode=require'"
	if !strings.Contains(out, want) || strings.Contains(out, "s3cret") {
		t.Errorf("advice %q\nwant it to contain %q and no password", out, want)
	}
}

// TestRL12_AfterRestoreListsChangesToRedo: with the old database's audit export, the changes
// made after the backup that a restore undoes are listed; a damaged export stops the command
// before anything changes.
func TestRL12_AfterRestoreListsChangesToRedo(t *testing.T) {
	e := newCLIEnv(t, "")
	if _, err := e.run("migrate"); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(e.conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	backupTime := time.Now().Add(-time.Hour).UTC()
	st, err := app.OpenConfiguredStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AppendAudit(context.Background(), &store.AuditEvent{Time: backupTime, Event: "login.succeeded", Result: "ok"}))
	must(st.CreateSession(context.Background(), &store.Session{ID: "s1", CreatedAt: backupTime, LastSeenAt: backupTime,
		ExpiresAt: backupTime.Add(24 * time.Hour)}))
	st.Close()

	export := filepath.Join(e.dir, "audit.jsonl")
	line := func(ts time.Time, event, extra string) string {
		return `{"id":1,"time":"` + ts.Format(time.RFC3339Nano) + `","event":"` + event + `","result":"ok"` + extra + "}\n"
	}
	must(os.WriteFile(export, []byte(line(backupTime.Add(30*time.Minute), "passkey.revoked", `,"account_id":"acc-9","credential_id":"Y3JlZA"`)+
		line(backupTime.Add(20*time.Minute), "login.succeeded", "")+
		line(backupTime.Add(-time.Minute), "admin.account.disabled", `,"account_id":"acc-old"`)+
		line(backupTime.Add(40*time.Minute), "recovery_code.used", `,"account_id":"acc-7"`)+
		strings.Replace(line(backupTime.Add(50*time.Minute), "passkey.revoked", `,"account_id":"acc-8"`), `"result":"ok"`, `"result":"passkey_not_found"`, 1)), 0o600))
	bad := filepath.Join(e.dir, "bad.jsonl")
	must(os.WriteFile(bad, []byte("this is not json\n"), 0o600))

	if out, err := e.run("store", "after-restore", "--audit-export", bad); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("after-restore with a damaged export: %q %v, want an error naming the line", out, err)
	}
	st, err = app.OpenConfiguredStore(context.Background(), cfg)
	must(err)
	if _, err := st.GetSession(context.Background(), "s1"); err != nil {
		t.Fatalf("a failed after-restore ended a session: %v", err)
	}
	st.Close()

	out, err := e.run("store", "after-restore", "--audit-export", export)
	if err != nil {
		t.Fatalf("after-restore: %v\n%s", err, out)
	}
	var redo []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "redo: ") {
			redo = append(redo, l)
		}
	}
	// The passkey revoked after the backup and the recovery code used after it, oldest first;
	// not the event before the backup, not the sign-in, not the refused revocation.
	if len(redo) != 2 || !strings.Contains(out, "1 sessions ended") ||
		!strings.Contains(redo[0], "passkey.revoked account=acc-9 credential=Y3JlZA") || !strings.Contains(redo[0], "revoke this passkey again") ||
		!strings.Contains(redo[1], "recovery_code.used account=acc-7") || !strings.Contains(redo[1], "regenerate") {
		t.Errorf("after-restore output:\n%s\nwant two redo lines (the passkey revoked and the recovery code used after the backup) and 1 session ended", out)
	}
	st, err = app.OpenConfiguredStore(context.Background(), cfg)
	must(err)
	defer st.Close()
	events, err := st.ListAudit(context.Background(), store.AuditQuery{Event: eventAfterRestore})
	must(err)
	if len(events) != 1 || !strings.Contains(string(events[0].Detail), `"sessions":1`) {
		t.Errorf("audit events %+v, want one %s with the counts", events, eventAfterRestore)
	}
}
