package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/keyward/keyward/store"
)

// UpdateClient changes a registered client in the store (post-logout and back-channel
// logout URIs, allowed scopes and grants, auth method, …) the way the admin console would.
func (e *Env) UpdateClient(id string, change func(c *store.Client)) {
	e.T.Helper()
	ctx := context.Background()
	c, err := e.Store.GetClient(ctx, id)
	if err != nil {
		e.T.Fatalf("client %s: %v", id, err)
	}
	change(c)
	if err := e.Store.UpdateClient(ctx, c); err != nil {
		e.T.Fatalf("update client %s: %v", id, err)
	}
	e.App.Provider.ForgetClient(id)
}

// OAuthRows describes the oauth_tokens table as sorted "kind signature active client" lines,
// one per row (a signature is a keyed hash, never a usable token): equal snapshots before and after a refused request prove it
// changed nothing. It reads the SQLite file directly, as an operator would.
func (e *Env) OAuthRows() string {
	e.T.Helper()
	db, err := sql.Open("sqlite", "file:"+e.DBPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		e.T.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT kind, signature, active, client_id FROM oauth_tokens ORDER BY kind, signature`)
	if err != nil {
		e.T.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var kind, sig, client string
		var active int
		if err := rows.Scan(&kind, &sig, &active, &client); err != nil {
			e.T.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%s %s %d %s", kind, sig, active, client))
	}
	if err := rows.Err(); err != nil {
		e.T.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// ClientSecretColumn returns the stored secret_hash of a client, to check secrets are not
// kept in clear.
func (e *Env) ClientSecretColumn(id string) []byte {
	e.T.Helper()
	db, err := sql.Open("sqlite", "file:"+e.DBPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		e.T.Fatal(err)
	}
	defer db.Close()
	var b []byte
	if err := db.QueryRow(`SELECT secret_hash FROM clients WHERE id = ?`, id).Scan(&b); err != nil {
		e.T.Fatal(err)
	}
	return b
}
