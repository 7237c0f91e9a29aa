package postgres

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/store"
)

// Check runs the store.Invariants. PostgreSQL keeps its own pages consistent through its WAL
// (a crash is recovered at start), so there is no file-level check to add here; the
// invariants catch a write that an application crash left half done. It returns one line per
// problem; none means the database is sound. An error means the check itself could not run.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	var problems []string
	for _, inv := range store.Invariants {
		var n int64
		if err := s.conns.QueryRow(ctx, inv.SQL).Scan(&n); err != nil {
			return nil, mapErr(inv.Name, err)
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d rows", inv.Name, n))
		}
	}
	return problems, nil
}
