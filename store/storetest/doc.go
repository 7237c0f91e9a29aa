// Package storetest is the one conformance suite every store.Store backend runs:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// It speaks only through the store.Store interface, so the semantics it pins down are the
// port's, not any one database's. Where the port's comments leave a choice open the suite
// fixes it, so that every backend makes the same one:
//
//   - Single-row Update* and Delete* of a missing row return store.ErrNotFound; bulk
//     operations (*ByRequest, RevokeOAuthTokensBySubject, RebindInteractions,
//     DeleteAccountSessions) succeed when nothing matches.
//   - Creating a row that names a missing account (credential, signed-in session, consent)
//     returns store.ErrNotFound. Audit events name accounts without a foreign key: the log
//     outlives the accounts it mentions.
//   - Expiry is exclusive: a row with ExpiresAt == now is expired. An OAuth token with a zero
//     ExpiresAt never expires.
//   - Times come back in UTC at microsecond precision or better; a zero time comes back zero.
//     Byte payloads named Data, Request or Detail are JSON and compare by meaning; other byte
//     slices and string lists compare by content, nil equal to empty, except
//     Interaction.Consented, where nil (not asked) and empty (nothing approved) differ.
//   - ListAccounts search is a case-insensitive substring match of email or display name,
//     taken literally (no wildcards). ListAudit's Since is inclusive and Until exclusive;
//     newest first means highest ID first. PutConsent replaces every field of the row.
//   - ListClients and ListConsents have no promised order.
//   - Update* methods ignore the immutable fields of their argument (ids, CreatedAt, a
//     credential's key material, a signing key's Alg and PrivateKey).
//
// open must return a fresh, empty store for each call and arrange its own cleanup.
package storetest
