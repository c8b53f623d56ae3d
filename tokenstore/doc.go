// Package tokenstore has token stores for oauth2client and a
// conformance suite for your own (package storetest).
//
// Which store to pick:
//
//   - [Memory]: tests, or applications that can re-authorize every
//     mailbox after a restart.
//   - [File]: the embedded default for a single process: one file per
//     account, crash-safe, no database needed.
//   - your own: any type with Load, Save and Delete
//     (oauth2client.TokenStore). Implement oauth2client.CompareAndSwapper
//     and oauth2client.Locker as well when several instances share it,
//     and run storetest.Run against it.
//
// Stores keep access and refresh tokens, which open mailboxes: protect
// them at rest.
package tokenstore
