package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/store"
)

// TestRL12_BackupIsAConsistentCopyUnderWrites copies the database while another goroutine
// keeps committing accounts, each with its passkey in the same transaction. The copy opens,
// passes Check, holds a whole number of those transactions (never an account without its
// passkey), and is private to its owner. A second backup to the same path is refused and
// leaves the first untouched.
func TestRL12_BackupIsAConsistentCopyUnderWrites(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openTest(t, filepath.Join(dir, "live.db"), Options{})
	write := func(i int) error {
		return store.WithTx(ctx, s, func(q store.Queries) error {
			a := &store.Account{ID: fmt.Sprintf("acc-%d", i), Email: fmt.Sprintf("u%d@example.test", i),
				DisplayName: "U", UserHandle: []byte(fmt.Sprintf("handle-%d", i)), CreatedAt: testNow, UpdatedAt: testNow}
			if err := q.CreateAccount(ctx, a); err != nil {
				return err
			}
			return q.CreateCredential(ctx, &store.Credential{ID: []byte(a.ID), AccountID: a.ID, PublicKey: []byte{1},
				AttestationType: "none", CreatedAt: testNow})
		})
	}
	for i := range 50 {
		if err := write(i); err != nil {
			t.Fatal(err)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	written := 50
	wg.Go(func() {
		for ; ; written++ {
			select {
			case <-stop:
				return
			default:
			}
			if writeErr = write(written); writeErr != nil {
				return
			}
		}
	})
	copyPath := filepath.Join(dir, "backup.db")
	err := s.Backup(ctx, copyPath)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup under writes: %v", err)
	}
	if writeErr != nil {
		t.Fatalf("a write during the backup failed: %v", writeErr)
	}

	fi, err := os.Stat(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600", fi.Mode().Perm())
	}
	first, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, copyPath); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a backup over an existing file: %v, want a refusal", err)
	}
	if again, _ := os.ReadFile(copyPath); !bytes.Equal(first, again) {
		t.Error("a refused backup changed the existing file")
	}

	c := openTest(t, copyPath, Options{})
	problems, err := c.Check(ctx)
	if err != nil || len(problems) > 0 {
		t.Fatalf("the copy does not pass Check: %v %v", problems, err)
	}
	var accounts, creds int
	if err := c.reader.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM credentials)`).
		Scan(&accounts, &creds); err != nil {
		t.Fatal(err)
	}
	if accounts != creds || accounts < 50 || accounts > written {
		t.Errorf("the copy holds %d accounts and %d passkeys, want equal counts between 50 and %d", accounts, creds, written)
	}
}

// TestBackupIntoMissingDirectoryLeavesNothing: a failed backup reports why and leaves no file.
func TestBackupIntoMissingDirectoryLeavesNothing(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "live.db"), Options{})
	p := filepath.Join(t.TempDir(), "no-such-dir", "backup.db")
	if err := s.Backup(context.Background(), p); err == nil {
		t.Fatal("a backup into a missing directory succeeded")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("a failed backup left %s: %v", p, err)
	}
}
