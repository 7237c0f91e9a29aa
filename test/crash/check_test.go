package crash

import (
	"strings"
	"testing"
)

// TestRL02_StoreCheckCommand runs `keyward store check` as an operator would: a sound database
// passes with exit status 0; a damaged one fails with status 1 and names the problem. On
// SQLite the damage is a passkey whose account is gone, written behind the foreign keys as a
// damaged file or a bad restore could leave it; on PostgreSQL, a refresh token family with
// two live tokens, as a rotation that was not atomic would leave it.
func TestRL02_StoreCheckCommand(t *testing.T) {
	for _, tc := range []struct {
		backend  string
		database func(t *testing.T) string
		sound    string // rows a healthy installation has: a client_credentials token (no subject)
		damage   string
		want     []string
	}{
		{"sqlite", func(*testing.T) string { return "" },
			`INSERT INTO oauth_tokens (kind, signature, request_id, client_id, subject, session_id, active, requested_at, expires_at, request)
				VALUES ('access_token', 'cc', 'rcc', 'machine', '', '', 1, 0, 0, NULL)`,
			`PRAGMA foreign_keys = OFF;
			INSERT INTO credentials (id, account_id, public_key, attestation_type, sign_count, user_present,
				user_verified, backup_eligible, backup_state, clone_warning, name, created_at, created_ip, created_ua,
				last_used_at, last_used_ip, last_used_ua)
			VALUES (x'01', 'no-such-account', x'02', 'none', 0, 1, 1, 0, 0, 0, '', 0, '', '', 0, '', '')`,
			[]string{"foreign_key_check", "credential_without_account: 1 rows"}},
		{"postgres", postgresDSN,
			`INSERT INTO oauth_tokens (kind, signature, request_id, client_id, subject, session_id, active, requested_at, expires_at, request)
				VALUES ('access_token', 'cc', 'rcc', 'machine', '', '', true, now(), now() + interval '1 hour', NULL)`,
			`INSERT INTO accounts (id, email, email_verified, display_name, user_handle, admin, disabled, created_at, updated_at)
				VALUES ('acc', 'a@example.test', false, 'A', '\x01', false, false, now(), now());
			INSERT INTO oauth_tokens (kind, signature, request_id, client_id, subject, session_id, active, requested_at, expires_at, request)
				VALUES ('refresh_token', 's1', 'r', 'app', 'acc', '', true, now(), now() + interval '1 day', NULL),
				       ('refresh_token', 's2', 'r', 'app', 'acc', '', true, now(), now() + interval '1 day', NULL)`,
			[]string{"refresh_family_with_two_active_tokens: 1 rows"}},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			in := newInstallation(t, tc.database(t), "")
			if _, err := in.run("migrate"); err != nil {
				t.Fatal(err)
			}
			d := in.openDB(t, false)
			conn, err := d.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(t.Context(), tc.sound); err != nil {
				t.Fatalf("%s: %v", tc.sound, err)
			}
			out, err := in.run("store", "check")
			if err != nil || !strings.Contains(out, tc.backend+" database is sound") {
				t.Fatalf("store check on a sound database: %q %v", out, err)
			}
			for _, stmt := range strings.Split(tc.damage, ";") {
				if _, err := conn.ExecContext(t.Context(), stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			conn.Close()
			out, err = in.run("store", "check")
			if err == nil {
				t.Fatalf("store check on a damaged database passed: %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("store check output %q does not name %q", out, w)
				}
			}
		})
	}
}
