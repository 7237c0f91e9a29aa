package replicas

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// checkDatabase compares the database with what the people and the app saw. A flow that
// failed at the kill may or may not have written before the replica died, so each count may
// exceed what was seen by at most that person's (or in total, all) failed flows.
func checkDatabase(ctx context.Context, t *testing.T, db *pgx.Conn, ps []*person, l *ledger) {
	t.Helper()
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	within := func(what string, got, seen, slack int) {
		t.Helper()
		if got < seen || got > seen+slack {
			t.Errorf("%s: %d rows, want %d (up to %d more for flows cut by the kill)", what, got, seen, slack)
		}
	}

	// One account per person, the subject of their ID tokens; one passkey each, theirs.
	if n := count(`SELECT count(*) FROM accounts`); n != len(ps) {
		t.Errorf("%d accounts, want %d", n, len(ps))
	}
	for _, p := range ps {
		var id string
		if err := db.QueryRow(ctx, `SELECT id FROM accounts WHERE email = $1`, p.email).Scan(&id); err != nil || id != p.sub {
			t.Errorf("account of %s: %q (%v), want the ID tokens' sub %q", p.email, id, err, p.sub)
		}
		creds := p.auth.Credentials()
		if len(creds) != 1 {
			t.Fatalf("%s's authenticator holds %d passkeys", p.email, len(creds))
		}
		if n := count(`SELECT count(*) FROM credentials WHERE id = $1 AND account_id = $2`, creds[0].ID, p.sub); n != 1 {
			t.Errorf("passkey of %s: %d rows", p.email, n)
		}
	}
	if n := count(`SELECT count(*) FROM credentials`); n != len(ps) {
		t.Errorf("%d passkeys, want %d", n, len(ps))
	}

	// Audit: one signup.completed per person, one login.succeeded per completed sign-in.
	if n := count(`SELECT count(*) FROM audit_events WHERE event = 'signup.completed'`); n != len(ps) {
		t.Errorf("%d signup.completed events, want %d", n, len(ps))
	}
	for _, p := range ps {
		n := count(`SELECT count(*) FROM audit_events WHERE event = 'login.succeeded' AND account_id = $1`, p.sub)
		within("login.succeeded of "+p.email, n, l.ok[p], l.failures[p])
	}
	within("login.succeeded", count(`SELECT count(*) FROM audit_events WHERE event = 'login.succeeded'`), len(l.done), l.failed)

	// A signed-in session per sign-up and per completed sign-in; single-use rows consumed.
	within("signed-in sessions", count(`SELECT count(*) FROM sessions WHERE account_id IS NOT NULL`), len(ps)+len(l.done), l.failed)
	within("interactions left", count(`SELECT count(*) FROM interactions`), 0, l.failed)
	within("ceremonies left", count(`SELECT count(*) FROM ceremonies`), 0, l.failed)

	// Every code redeemed once and kept inactive; every refresh token issued is there once and
	// active, unless a race revoked its family.
	within("authorization codes", count(`SELECT count(*) FROM oauth_tokens WHERE kind = 'authorize_code'`), len(l.codes), l.failed)
	within("unredeemed codes", count(`SELECT count(*) FROM oauth_tokens WHERE kind = 'authorize_code' AND active`), 0, l.failed)
	for _, c := range l.codes {
		if n := count(`SELECT count(*) FROM oauth_tokens WHERE kind = 'authorize_code' AND signature = $1 AND NOT active`, signature(c)); n != 1 {
			t.Errorf("a redeemed code has %d inactive rows, want 1", n)
		}
	}
	// A refresh token presented after its family was revoked is deleted (fosite's reuse
	// handling), so a raced token has no active row, and may have none at all.
	revoked := map[string]bool{}
	for _, rt := range l.revoked {
		revoked[rt] = true
	}
	within("refresh tokens", count(`SELECT count(*) FROM oauth_tokens WHERE kind = 'refresh_token'`),
		len(l.grants)-len(revoked), len(revoked)+l.failed)
	for _, rt := range l.grants {
		n := count(`SELECT count(*) FROM oauth_tokens WHERE kind = 'refresh_token' AND signature = $1 AND active`, signature(rt))
		if want := map[bool]int{false: 1, true: 0}[revoked[rt]]; n != want {
			t.Errorf("a refresh token (revoked by a race: %v) has %d active rows, want %d", revoked[rt], n, want)
		}
	}
}
