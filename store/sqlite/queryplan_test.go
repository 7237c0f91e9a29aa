package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestOAuthTokenQueriesUseTheirIndex: the statements run on every refresh and revocation must
// search an index on request_id / subject, never scan all tokens of a kind.
func TestOAuthTokenQueriesUseTheirIndex(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "plan.db")
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`UPDATE oauth_tokens INDEXED BY oauth_tokens_request SET active = 0 WHERE kind = 'a' AND request_id = 'r' AND active = 1`,
		`DELETE FROM oauth_tokens INDEXED BY oauth_tokens_request WHERE kind = 'a' AND request_id = 'r'`,
		`DELETE FROM oauth_tokens INDEXED BY oauth_tokens_subject WHERE kind = 'a' AND subject = 's' AND ('' = '' OR client_id = '')`,
	} {
		rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, "USING INDEX oauth_tokens_") || strings.Contains(joined, "PRIMARY KEY") {
			t.Errorf("%s\n  plan: %s", q, joined)
		}
	}
	// The statements in oauth.go name the same indexes.
	if src := mustRead(t, "oauth.go"); strings.Count(src, "INDEXED BY") != 4 {
		t.Errorf("oauth.go names %d indexes, want 4", strings.Count(src, "INDEXED BY"))
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
