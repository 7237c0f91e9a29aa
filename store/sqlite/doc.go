// Package sqlite is Keyward's default store.Store backend: one SQLite file driven through
// modernc.org/sqlite (pure Go, no cgo), hand-written SQL and embedded numbered migrations.
//
// It owns the schema (migrations/NNNN_*.sql, applied at Open, each in its own transaction),
// the mapping of SQLite errors onto the store sentinels, and the connection discipline that
// keeps SQLite fast and free of SQLITE_BUSY under concurrent load:
//
//   - One writer handle with a single connection carries every write and every transaction.
//     Writers therefore queue inside database/sql instead of fighting over the file lock, and
//     transactions begin with BEGIN IMMEDIATE so a read-then-write never fails half-way.
//   - A pool of query_only reader connections serves plain reads outside transactions; WAL
//     lets them run while the writer commits.
//   - Every statement is prepared once per connection and reused (stmt.go): parsing costs
//     about as much as running these statements.
//
// Because the writer has one connection, code inside a transaction must use the Tx it was
// given: a call to the Store's own write methods from inside a transaction waits for the
// connection the transaction holds, until its context ends.
//
// Times are stored as INTEGER unix nanoseconds in UTC (0 is the zero time), string lists as
// JSON text (NULL is a nil list), booleans as 0/1.
package sqlite
