// Package postgres is Keyward's PostgreSQL store.Store backend, for installations that run
// more than one replica: github.com/jackc/pgx/v5, hand-written SQL, embedded numbered
// migrations. It has the semantics of store/sqlite, proven by the same store/storetest suite.
//
// It owns the schema (migrations/NNNN_*.sql) and the mapping of PostgreSQL errors onto the
// store sentinels. Connections come from pgxpool, which replaces a connection the server
// dropped (restart, failover, idle timeout) when it is checked out after a second idle.
//
// Migrations run at Open, each in its own transaction that first takes a transaction-scoped
// advisory lock, so replicas starting together apply each migration once; the version is
// recorded in schema_migrations. A database whose schema is newer than the binary is refused
// (ErrSchemaVersion), and Ping reports any difference.
//
// Transactions run at READ COMMITTED, and the port's atomic operations are single statements
// that need nothing more: consuming a ceremony, interaction or invite is
// DELETE … AND expires_at > now RETURNING, deactivating a token is UPDATE … WHERE active, and
// of two concurrent callers the second waits for the first's row lock and then finds nothing.
// For the read-then-write sequences callers build from Get and List inside a transaction,
// reads in a Tx take locks, which gives the single-writer semantics of SQLite's BEGIN
// IMMEDIATE where they matter without SERIALIZABLE's retries:
//
//   - Get* and the per-account lists (credentials, sessions, consents) use SELECT … FOR
//     UPDATE: a second transaction reading the same rows waits until the first ends and then
//     sees its writes.
//   - CountAccounts, ListAccounts, ListClients and ListSigningKeys, whose answers change when
//     rows are inserted, lock the table in SHARE ROW EXCLUSIVE mode: such transactions on one
//     table run one at a time, and writers to it wait. Plain reads never wait.
//
// A deadlock between such transactions surfaces as store.ErrConflict, which store.WithTx
// retries. A Tx holds its connection until Commit or Rollback, and a Store call made while
// a Tx is open waits for any row that Tx has locked: code inside a transaction uses the Tx.
//
// PostgreSQL aborts a transaction at its first failed statement, where SQLite fails only the
// statement. Inserts therefore use ON CONFLICT DO NOTHING (no row: ErrAlreadyExists), and the
// statements that can still fail on a constraint (foreign keys to accounts, UpdateAccount's
// email) run in a savepoint inside a Tx, so a handled ErrAlreadyExists or ErrNotFound leaves
// the transaction usable, as under SQLite.
//
// A statement waits at most ConnectTimeout for a free connection (conn.go): exhaustion and an
// unreachable server surface as store.ErrUnavailable, which the HTTP layer answers with 503.
//
// Times are timestamptz and come back in UTC with microsecond precision; a zero time is NULL
// in nullable columns (so a zero expiry is never reached and never purged). String lists are
// text[] with NULL for nil; bytes are bytea.
package postgres
