// Package tokenstore has token stores for oauth2client, and (in package
// storetest) a conformance suite for your own.
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
// [SQLStateStore] keeps the pending authorizations of the OAuth callback
// ([oauth2client.StateStore]) in the same databases, for several
// instances without Redis; storetest.RunStateStore is their conformance
// suite.
//
// All three implement [oauth2client.CompareAndSwapper],
// [oauth2client.Locker] and [oauth2client.Lister]. Memory's work within
// one process, File's across the processes of one machine, and SQL's
// across every instance sharing the database.
//
// Stores keep access and refresh tokens, which open mailboxes: protect
// them at rest by wrapping any store with [NewEncrypted] (AES-256-GCM,
// keys from [LoadOrCreateKeyFile]), which keeps the wrapped store's
// compare-and-swap, lock and listing; [Reencrypt] moves every record to
// a new key so the old one can be retired. Errors never contain a token
// or a stored record's contents.
package tokenstore
