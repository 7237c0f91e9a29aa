// Package replicas tests Keyward as operators run it: the real `keyward` binary as separate
// processes on one PostgreSQL database, behind a round-robin reverse proxy on loopback. It
// covers sign-ins that cross replicas, exactly-once code and refresh-token redemption under
// races, a replica killed with SIGKILL mid-run, readiness while the database is unreachable,
// graceful shutdown and the purge job, and checks the database afterwards for lost or
// duplicated rows.
//
// The tests need KEYWARD_TEST_POSTGRES (a DSN whose role may create schemas and databases)
// and skip without it. The binary is built once per run with `go build`.
package replicas
