package crash

import (
	"database/sql"
	"strings"
	"testing"
)

// TestRL02_StoreCheckCommand runs `keyward store check` as an operator would: a sound database
// passes with exit status 0; one with a passkey whose account is gone (written behind
// SQLite's foreign keys, as a damaged file or a bad restore could leave it) fails with
// status 1 and names the problem.
func TestRL02_StoreCheckCommand(t *testing.T) {
	in := newInstallation(t, "", "")
	if _, err := in.run("migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := in.run("store", "check")
	if err != nil || !strings.Contains(out, "sqlite database is sound") {
		t.Fatalf("store check on a fresh database: %q %v", out, err)
	}

	db, err := sql.Open("sqlite", "file:"+in.sqlitePath()+"?_pragma=foreign_keys(0)")
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO credentials (id, account_id, public_key, attestation_type, sign_count, user_present,
		user_verified, backup_eligible, backup_state, clone_warning, name, created_at, created_ip, created_ua,
		last_used_at, last_used_ip, last_used_ua) VALUES (x'01', 'no-such-account', x'02', 'none', 0, 1, 1, 0, 0, 0, '', 0, '', '', 0, '', '')`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err = in.run("store", "check")
	if err == nil || !strings.Contains(out, "credential_without_account: 1 rows") || !strings.Contains(out, "foreign_key_check") {
		t.Fatalf("store check with an orphan passkey: %q %v, want exit 1 naming credential_without_account", out, err)
	}
}
