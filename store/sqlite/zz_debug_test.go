package sqlite

import (
	"path/filepath"
	"testing"
)

func TestZZDebugPragmas(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "k.db"), Options{})
	for _, p := range []string{"journal_mode", "synchronous", "busy_timeout", "foreign_keys", "wal_autocheckpoint", "cache_size", "mmap_size", "page_size"} {
		var w, r string
		s.writer.QueryRow("PRAGMA " + p).Scan(&w)
		s.reader.QueryRow("PRAGMA " + p).Scan(&r)
		t.Logf("%s writer=%s reader=%s", p, w, r)
	}
}
