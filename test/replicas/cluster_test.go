package replicas

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/testenv"
)

// cluster is two replicas of one installation on a fresh schema, behind the proxy, with the
// relying app registered and the first account's setup invite in hand.
type cluster struct {
	in    *installation
	px    *proxy
	a, b  *replica
	db    *pgx.Conn
	tr    *http.Transport
	hc    *http.Client
	rp    *testenv.RP
	setup string // invite for the first (admin) account
}

func newCluster(ctx context.Context, t *testing.T) *cluster {
	t.Helper()
	dsn := freshSchema(t)
	c := &cluster{px: newProxy(t)}
	// A long purge interval keeps expired rows for the accounting at the end. Every sign-in
	// comes from 127.0.0.1 (the proxy adds no X-Forwarded-For), so the per-IP sign-in limit is
	// raised out of the way, as for a load test.
	c.in = newInstallation(t, c.px.url, dsn,
		"purge_interval: 1h\nrecovery:\n  signin_per_minute: 1000000\n  signin_burst: 100000\n")
	c.db = connect(t, dsn)
	migrateTogether(t, c.in, c.db)
	// On an empty database the first process that needs signing keys creates them. The CLI
	// does so here, before the replicas start: two servers starting together on an empty
	// database would each create a set (see docs/operations.md).
	id, secret := addClient(t, c.in)
	// Whatever the registration policy, the first account needs an admin invite.
	c.setup = invite(t, c.in, "person000@example.test", true)
	c.a = c.in.start("a", freePort(t))
	c.b = c.in.start("b", freePort(t))
	c.px.add("a", c.a.addr)
	c.px.add("b", c.b.addr)
	c.a.waitReady(t)
	c.b.waitReady(t)
	c.tr = loopbackTransport()
	t.Cleanup(c.tr.CloseIdleConnections)
	c.hc = &http.Client{Transport: c.tr, Timeout: time.Minute}
	c.rp = newRP(ctx, t, c.px.url, c.hc, id, secret)
	return c
}

// migrateTogether runs two `keyward migrate` at once on the empty schema: one applies the
// migrations under the advisory lock, the other waits for it and finds nothing to do.
func migrateTogether(t *testing.T, in *installation, db *pgx.Conn) {
	t.Helper()
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := in.run("migrate")
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	var rows, versions, latest int
	err := db.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version), coalesce(max(version), 0) FROM schema_migrations`).
		Scan(&rows, &versions, &latest)
	if err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows != versions || rows != latest {
		t.Fatalf("schema_migrations after two concurrent migrates: %d rows, %d versions, latest %d", rows, versions, latest)
	}
}
