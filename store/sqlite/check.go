package sqlite

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/store"
)

// Check verifies the database file: SQLite's own integrity_check (b-trees, indexes, free
// list) and foreign_key_check, then the store.Invariants. It returns one line per problem;
// none means the database is sound. An error means the check itself could not run. It reads
// only, so it is safe on a serving database; each query sees one committed snapshot.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	db := s.reader.db
	var problems []string
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return nil, mapErr("integrity_check", err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return nil, mapErr("integrity_check", err)
		}
		if line != "ok" {
			problems = append(problems, "integrity_check: "+line)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, mapErr("integrity_check", err)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("integrity_check", err)
	}

	rows, err = db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return nil, mapErr("foreign_key_check", err)
	}
	for rows.Next() {
		var table, parent string
		var rowid, fk any
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			rows.Close()
			return nil, mapErr("foreign_key_check", err)
		}
		problems = append(problems, fmt.Sprintf("foreign_key_check: a row of %s refers to a missing row of %s", table, parent))
	}
	if err := rows.Close(); err != nil {
		return nil, mapErr("foreign_key_check", err)
	}

	for _, inv := range store.Invariants {
		var n int64
		if err := db.QueryRowContext(ctx, inv.SQL).Scan(&n); err != nil {
			return nil, mapErr(inv.Name, err)
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d rows", inv.Name, n))
		}
	}
	return problems, nil
}
