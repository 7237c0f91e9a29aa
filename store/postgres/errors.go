package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward/store"
)

// ErrSchemaVersion: the database's schema is not the one this binary was built for. Open
// returns it for a schema newer than the binary knows; Ping for any difference.
var ErrSchemaVersion = errors.New("postgres: schema version mismatch")

// mapErr turns a pgx error into one that wraps the matching store sentinel, prefixed with the
// operation's short name. No SQL text reaches the message: pgx never puts it there, and the
// sentinel cases drop the server's message too, so a caller that prints the error reveals no
// key values. Other errors keep the server's message for the logs.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up; nothing is wrong with the database.
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if unavailable(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("postgres: %s: %w", op, store.ErrAlreadyExists)
		case "23503": // foreign_key_violation: the account it names does not exist
			return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return fmt.Errorf("postgres: %s: %w (SQLSTATE %s)", op, store.ErrConflict, pe.Code)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailable reports whether err means the database cannot be reached or used right now, as
// opposed to a statement it refused.
func unavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", // connection_exception
			"53", // insufficient_resources: too many connections, disk full, out of memory
			"57", // operator_intervention: admin shutdown, cannot connect now, query canceled
			"3D": // invalid_catalog_name: the database is gone
			return true
		}
		return pe.Code == "55P03" // lock_not_available, after lock_timeout
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) ||
		errors.Is(err, errPoolClosed) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
