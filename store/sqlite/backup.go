package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Backup writes a consistent copy of the whole database to path with VACUUM INTO (SECURITY
// RL-12). In WAL mode its read transaction sees one committed snapshot and blocks no writer, so the server keeps serving meanwhile. The copy is a plain
// rollback-journal file, compacted, with nothing of the WAL left to replay.
//
// path must not exist: an old backup is never overwritten. The file is created with mode
// 0600 first (it holds sessions, tokens and sealed keys), so it is never readable by others,
// even for a moment; VACUUM INTO accepts an empty file. It is synced before Backup returns
// and removed if anything fails.
func (s *Store) Backup(ctx context.Context, path string) (err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sqlite: backup: %s already exists: choose a new file, an old backup is never overwritten", abs)
	} else if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(abs)
		}
	}()
	// The reader pool is query_only, which SQLite applies to VACUUM INTO's output too: the
	// copy is made on a connection of its own, opened on the file the readers name.
	var src string
	var busyMillis int64
	if err := s.reader.db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&src); err != nil {
		return mapErr("backup", err)
	}
	if err := s.reader.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busyMillis); err != nil {
		return mapErr("backup", err)
	}
	db, err := sql.Open("sqlite", dsn(src, time.Duration(busyMillis)*time.Millisecond, false))
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		return mapErr("backup", err)
	}
	return syncFile(abs)
}

// syncFile flushes the copy and the directory entry that names it: VACUUM INTO does not sync
// its output, and a backup that a power cut can truncate is no backup.
func syncFile(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("sqlite: backup: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sqlite: backup: sync %s: %w", p, err)
		}
	}
	return nil
}
