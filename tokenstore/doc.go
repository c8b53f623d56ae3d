// Package tokenstore has token stores for oauth2client, (in package
// storetest) a conformance suite for your own, and (in package
// faultstore) a wrapper that makes any store fail on demand, for testing
// how an application copes with a store outage.
//
// Which store to pick:
//
//   - [Memory]: tests, or applications that can have every mailbox
//     authorized again after a restart.
//   - [File]: the embedded default for one machine: one file per
//     account in a private directory, written crash-safely, no database
//     needed; processes on the machine may share the directory.
//   - [SQL]: several instances of an application sharing their accounts,
//     on SQLite or PostgreSQL through database/sql (bring your own
//     driver). Its compare-and-swap and refresh lock work across
//     processes.
//   - your own: any type with Load, Save and Delete
//     ([oauth2client.TokenStore]). When several instances share it,
//     implement [oauth2client.CompareAndSwapper] and [oauth2client.Locker]
//     as well, and run storetest.Run against it.
//
// All three implement [oauth2client.CompareAndSwapper],
// [oauth2client.Locker] and [oauth2client.Lister]. Memory's work within
// one process, File's across the processes of one machine, and SQL's
// across every instance sharing the database. Their leases carry a
// random owner ID, so Extend and Release act only while the lease is
// still the caller's, and Release can be retried after it failed.
//
// Versions never repeat for an account, not even after Delete: Memory
// and File draw them from a sequence shared by all accounts of the store
// (File keeps it in a ".sequence" file in the directory, so a record
// file deleted by hand or removed because it was corrupt does not reset
// its account's versions either), and SQL keeps a tombstone row (the
// account and its version, no tokens) for each deleted account. A record
// that cannot be decoded loads with an error wrapping
// [oauth2client.ErrUnreadable], and Delete removes it without reading it.
//
// Stores keep access and refresh tokens, which open mailboxes: protect
// them at rest by wrapping any store with [NewEncrypted] (AES-256-GCM,
// keys from [LoadOrCreateKeyFile]), which keeps the wrapped store's
// compare-and-swap, lock and listing; [Reencrypt] moves every record to
// a new key so the old one can be retired. Errors never contain a token
// or a stored record's contents.
package tokenstore
