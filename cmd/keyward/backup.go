package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/store"
)

// eventAfterRestore is the one audit event `keyward store after-restore` appends, in the same
// transaction as the revocation it records.
const eventAfterRestore = "store.after_restore"

// backuper is what the SQLite backend offers for `keyward store backup`; PostgreSQL has
// pg_dump, which no program of ours should try to imitate.
type backuper interface {
	Backup(ctx context.Context, path string) error
}

// storeBackup runs `keyward store backup PATH` (SECURITY RL-12): on SQLite an online,
// consistent copy that the server need not stop for; on PostgreSQL the pg_dump command to
// use instead, and exit status 1 because no backup was written.
func storeBackup(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	path, pos, err := parseFlags("store backup", args, nil)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] == "" {
		return errors.New("usage: keyward store backup PATH [--config FILE]")
	}
	cfg, err := loadConfig(path, environ)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(cfg.Database, "sqlite:") {
		fmt.Fprintln(stdout, pgDumpAdvice(cfg.Database, pos[0]))
		return errors.New("store backup: a PostgreSQL database is backed up with pg_dump (command above); nothing was written")
	}
	// No master secret is read or created: the copy is of rows, never of what is inside them.
	st, err := app.OpenConfiguredStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	b, ok := st.(backuper)
	if !ok {
		return fmt.Errorf("store backup: the %s backend has no backup", st.Backend())
	}
	if err := b.Backup(ctx, pos[0]); err != nil {
		return fmt.Errorf("store backup: %w", err)
	}
	fi, err := os.Stat(pos[0])
	if err != nil {
		return fmt.Errorf("store backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes, mode 0600), finished at %s\n", pos[0], fi.Size(), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(stdout, "it holds sessions, tokens and sealed signing keys: keep it as private as the database,")
	fmt.Fprintln(stdout, "keep the master secret file beside it (without it the copy cannot be used), and after")
	fmt.Fprintln(stdout, "restoring run `keyward store after-restore` before serving (docs/operations.md)")
	return nil
}

// pgDumpAdvice is the exact pg_dump (and pg_restore) command for the configured database. The
// password is left out: pg_dump reads it from PGPASSWORD or ~/.pgpass, not from a shell history.
func pgDumpAdvice(database, path string) string {
	dsn, schema := database, ""
	if u, err := url.Parse(database); err == nil {
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		// libpq refuses parameters it does not know; search_path is one pgx passes on.
		q := u.Query()
		schema = q.Get("search_path")
		q.Del("search_path")
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	dump := "pg_dump --format=custom --no-owner"
	if schema != "" {
		dump += " --schema=" + shellQuote(schema)
	}
	return fmt.Sprintf("back up with:  %s --file=%s %s\n"+
		"restore with:  pg_restore --no-owner --dbname=%s %s  (into an empty database), then keyward store after-restore",
		dump, shellQuote(path), shellQuote(dsn), shellQuote(dsn), shellQuote(path))
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// storeAfterRestore runs `keyward store after-restore [--audit-export FILE]`, the restore
// runbook's command (SECURITY RL-12). A restored backup brings back every session, refresh
// token, mailed link, invitation and pending change that was ended, used or cancelled after
// it was taken, and those rows cannot be told apart from live ones. So, in one transaction
// audited as one event, everything issued up to now dies: the cutoff is the moment the
// command runs, never an operator-supplied time that could spare resurrected rows; anything a
// server already issued on the restored database is lost too, which costs a sign-in.
//
// Passkeys, accounts, clients and recovery codes stay: people sign in again with their
// passkeys. What was changed among those after the backup is back as it was; with the audit
// log exported from the old database (/admin/audit.jsonl), the command lists those changes so
// they can be made again.
func storeAfterRestore(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	var export string
	path, pos, err := parseFlags("store after-restore", args, func(fs *flag.FlagSet) {
		fs.StringVar(&export, "audit-export", "", "JSON lines exported from the old database's audit log")
	})
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return errors.New("usage: keyward store after-restore [--audit-export FILE] [--config FILE]")
	}
	var later []auditExportLine
	cfg, err := loadConfig(path, environ)
	if err != nil {
		return err
	}
	st, err := app.OpenConfiguredStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	if export != "" {
		// Read first: a file that cannot be read stops the command before anything changes.
		newest, err := st.ListAudit(ctx, store.AuditQuery{Limit: 1})
		if err != nil {
			return fmt.Errorf("store after-restore: %w", err)
		}
		var backupTime time.Time
		if len(newest) == 1 {
			backupTime = newest[0].Time
		}
		if later, err = readAuditExport(export, backupTime); err != nil {
			return fmt.Errorf("store after-restore: %w", err)
		}
	}

	now := time.Now().UTC()
	var r store.RestoreRevocation
	err = store.WithTx(ctx, st, func(q store.Queries) error {
		var err error
		if r, err = q.RevokeIssuedBefore(ctx, now); err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]any{"cutoff": now.Format(time.RFC3339Nano), "sessions": r.Sessions,
			"oauth_tokens_deleted": r.OAuthTokens, "refresh_tokens_and_codes_revoked": r.RefreshOrCodes,
			"ceremonies": r.Ceremonies, "interactions": r.Interactions, "invites": r.Invites,
			"pending_actions_cancelled": r.PendingActions})
		return q.AppendAudit(ctx, &store.AuditEvent{Time: now, Event: eventAfterRestore, Result: "ok", Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("store after-restore: nothing was changed: %w", err)
	}
	fmt.Fprintf(stdout, "revoked everything issued up to %s (audited as %s):\n", now.Format(time.RFC3339), eventAfterRestore)
	fmt.Fprintf(stdout, "  %d sessions ended, %d refresh tokens and codes revoked, %d access tokens, mailed links and other token rows deleted,\n",
		r.Sessions, r.RefreshOrCodes, r.OAuthTokens)
	fmt.Fprintf(stdout, "  %d ceremonies and %d waiting sign-ins dropped, %d invitations deleted, %d pending changes cancelled\n",
		r.Ceremonies, r.Interactions, r.Invites, r.PendingActions)
	fmt.Fprintln(stdout, "everyone signs in again with their passkeys. Passkeys revoked, accounts disabled or deleted, admin")
	fmt.Fprintln(stdout, "roles removed and client secrets rotated after the backup are back as they were: do them again.")
	if export == "" {
		fmt.Fprintln(stdout, "(give --audit-export with the old database's /admin/audit.jsonl to list them)")
		return nil
	}
	if len(later) == 0 {
		fmt.Fprintln(stdout, "the audit export shows none of those changes after the backup")
		return nil
	}
	for _, e := range later {
		fmt.Fprintf(stdout, "redo: %s %s account=%s credential=%s client=%s: %s\n", e.Time.UTC().Format(time.RFC3339),
			e.Event, e.AccountID, e.CredentialID, e.ClientID, redoAdvice[e.Event])
	}
	return nil
}

// redoAdvice names the audited changes a restore undoes that matter for security, with what
// to do about each; other events after the backup (sign-ins, sign-ups) need nothing.
var redoAdvice = map[string]string{
	"passkey.revoked":             "revoke this passkey again",
	"account.deleted":             "delete the account again",
	"admin.account.disabled":      "disable the account again",
	"admin.role.removed":          "remove the admin role again",
	"admin.client.deleted":        "delete the client again",
	"admin.client.secret_rotated": "rotate the client secret again",
	"recovery_code.used":          "have the person regenerate their recovery codes (the used one works again)",
	"recovery_codes.generated":    "have the person regenerate their recovery codes (the replaced set works again)",
	"email.changed":               "change the account's email address again",
}

// auditExportLine is the part of an /admin/audit.jsonl line the runbook needs.
type auditExportLine struct {
	Time         time.Time `json:"time"`
	Event        string    `json:"event"`
	AccountID    string    `json:"account_id"`
	CredentialID string    `json:"credential_id"`
	ClientID     string    `json:"client_id"`
	Result       string    `json:"result"`
}

// readAuditExport returns the events of the export later than the restored database's newest
// event that a restore undoes, oldest first.
func readAuditExport(path string, after time.Time) ([]auditExportLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []auditExportLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e auditExportLine
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Event == "" || e.Time.IsZero() {
			return nil, fmt.Errorf("%s line %d: not an audit export line (JSON with time and event)", path, n)
		}
		// Only changes that happened: a refused revocation (result passkey_not_found, …) left
		// nothing for the restore to undo.
		if _, ok := redoAdvice[e.Event]; ok && e.Time.After(after) && (e.Result == "" || e.Result == "ok") {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	slices.SortStableFunc(out, func(a, b auditExportLine) int { return a.Time.Compare(b.Time) })
	return out, nil
}
