// Package store is Keyward's persistence port: the record types every backend stores, the
// sentinel errors they return, and the small interfaces composed into Store.
//
// Backends (store/sqlite, store/postgres) implement Store with the same semantics, proven by
// the one conformance suite in store/storetest. This package imports nothing of Keyward's.
//
// Invariants every backend keeps:
//   - Times are stored and returned in UTC.
//   - Single-use secrets (ceremonies, interactions, invites, authorization codes) are consumed
//     atomically: of two concurrent consumers exactly one wins, the other gets ErrNotFound.
//   - A Tx sees its own writes; nothing it wrote is visible to others until Commit, and nothing
//     survives Rollback.
//   - Secrets that a database dump must not reveal (session ids, invite tokens, client secrets)
//     reach the store already hashed by the caller.
package store
