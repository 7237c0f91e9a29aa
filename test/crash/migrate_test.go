package crash

import (
	mrand "math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRL07_KillDuringFirstStartThenStartFinishes kills `keyward serve` with SIGKILL a few
// milliseconds into its first start on an empty database, while it applies the migrations and
// creates the signing keys, the setup invitation and its first rows (SECURITY RL-07 c). The
// next start must finish the job and serve, with a sound database: each migration is one
// transaction, so there is never a partial schema to refuse.
func TestRL07_KillDuringFirstStartThenStartFinishes(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		// The schema version each kill left, to show the kills land inside the migrations.
		left := map[int]int{}
		for i := range 20 {
			in := newInstallation(t, "", "")
			killFirstStart(t, in, i, func() {
				if _, err := os.Stat(in.sqlitePath()); err != nil {
					left[-1]++ // killed before it created the file
					return
				}
				d := in.openDB(t, true)
				v, err := d.count(t.Context(), `SELECT coalesce(max(version), 0) FROM schema_migrations`)
				if err != nil {
					v = -1 // not even the bookkeeping table yet
				}
				left[v]++
				d.Close()
			})
		}
		t.Logf("schema versions the kills left (-1: none yet): %v", left)
	})
	t.Run("postgres", func(t *testing.T) {
		for i := range 4 {
			killFirstStart(t, newInstallation(t, postgresDSN(t), ""), i, nil)
		}
	})
}

// killFirstStart kills the first start of in after a random few milliseconds, runs inspect
// (may be nil) on what it left, and starts again.
func killFirstStart(t *testing.T, in *installation, i int, inspect func()) {
	t.Helper()
	p := in.start()
	// Somewhere in the first 30ms: before, inside or after the migrations.
	time.Sleep(time.Duration(mrand.Int64N(30_000)) * time.Microsecond)
	if !p.exited() {
		p.kill(t)
	}
	if inspect != nil {
		inspect()
	}
	p = in.start()
	in.waitReady(t, p)
	problems, err := in.check(t.Context())
	if err != nil || len(problems) > 0 {
		t.Fatalf("start %d after a kill in the first start: store check: %v %s", i, err, strings.Join(problems, "; "))
	}
	if out, err := in.run("migrate"); err != nil || !strings.Contains(out, "current schema") {
		t.Fatalf("migrate after the restart: %q %v, want a no-op", out, err)
	}
}
