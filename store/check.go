package store

// Invariant is a rule about the stored rows that no sequence of committed transactions can
// break; a count above zero means a write was lost halfway or the file is damaged. The SQL is
// portable between the SQLite and PostgreSQL schemas and returns that count.
type Invariant struct {
	Name string
	SQL  string
}

// Invariants are the rules `keyward store check` and the crash tests (SECURITY RL-02) verify
// on every backend, on top of the engine's own integrity checks.
var Invariants = []Invariant{
	// A sign-up writes the account and its first passkey in one transaction.
	{"credential_without_account", `SELECT count(*) FROM credentials c
		WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = c.account_id)`},
	{"credential_without_public_key", `SELECT count(*) FROM credentials
		WHERE public_key IS NULL OR length(public_key) = 0`},
	{"session_without_account", `SELECT count(*) FROM sessions s
		WHERE s.account_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = s.account_id)`},
	// Tokens a person's sign-in produced name an account, and no path deletes an account
	// without its tokens. client_credentials tokens have no subject: no person is behind them.
	{"active_token_without_account", `SELECT count(*) FROM oauth_tokens t
		WHERE t.kind IN ('access_token', 'refresh_token') AND t.active AND t.subject <> ''
		AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.subject)`},
	// Rotation deactivates the presented refresh token and creates its successor, with the
	// same request id, in one transaction: two live ones mean a fork of the family.
	{"refresh_family_with_two_active_tokens", `SELECT count(*) FROM (SELECT request_id FROM oauth_tokens
		WHERE kind = 'refresh_token' AND active GROUP BY request_id HAVING count(*) > 1) f`},
	{"recovery_code_without_account", `SELECT count(*) FROM recovery_codes r
		WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = r.account_id)`},
	{"pending_action_without_account", `SELECT count(*) FROM pending_actions p
		WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = p.account_id)`},
}
