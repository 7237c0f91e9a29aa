// Package testpg gives tests an empty PostgreSQL schema of the server named by
// KEYWARD_TEST_POSTGRES (the README's test command sets it). It is for tests only.
package testpg

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the variable holding the administrator DSN.
const Env = "KEYWARD_TEST_POSTGRES"

// Schema creates an empty schema named prefix_<random>, dropped when the test ends, and
// returns a DSN whose search_path is that schema: what one Keyward installation sees as its
// database. A schema costs milliseconds where a database costs about a second. Without
// KEYWARD_TEST_POSTGRES the test is skipped, saying so.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		t.Skip(Env + " not set: PostgreSQL tests skipped (the README's test command sets it)")
	}
	name := prefix + "_" + strings.ToLower(rand.Text()[:12])
	exec := func(sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect to %s: %v", Env, err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE SCHEMA " + name)
	t.Cleanup(func() { exec("DROP SCHEMA " + name + " CASCADE") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", Env, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
