package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward/store"
)

// mapErr turns a driver error into one that wraps the matching store sentinel. The sentinel
// cases carry no SQL or schema text, so nothing about the database leaks past a caller that
// prints the error; other errors keep the driver's message for the logs.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code()
		switch code {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrAlreadyExists)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// The row it refers to (an account) does not exist.
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
		}
		switch code & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("sqlite: %s: %w (%s)", op, store.ErrUnavailable, sqlite.ErrorCodeString[code&0xff])
		case sqlite3.SQLITE_FULL:
			// SQLite has rolled the statement back; nothing half-written stays (RL-10).
			return fmt.Errorf("sqlite: %s: %w (disk full: free space on the database's file system)", op, store.ErrUnavailable)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
