// Package oauth2client is the core of oauth2mail: it connects mail
// accounts to OAuth 2.0 providers and keeps their tokens fresh for IMAP
// and SMTP.
//
// # Concepts
//
// A [Provider] is an identity provider configured with one application's
// credentials (the azure, google and provider packages build them). A
// connection is a provider under an ID the application chooses — what a
// groupware's "OAuth2 client" settings page stores. Each mail account
// (any string key the application uses) is connected through one
// connection; its tokens live in a [TokenStore] (see package tokenstore).
//
// # Flow
//
//  1. [Client.StartAuthorization] returns the provider URL for
//     (connection, account); send the user's browser there.
//  2. The provider returns the browser to the Client's RedirectURL, where
//     [Client.Handler] serves one callback for every connection: it
//     checks the state (256 random bits, single use, 10-minute lifetime,
//     bound to connection, account and optionally the browser session),
//     completes PKCE, exchanges the code, stores the tokens and calls your
//     hooks.
//  3. [Client.Token] returns a valid access token whenever the mailbox is
//     opened, refreshing it when due; [Client.SASLClient] wraps it in a
//     ready XOAUTH2 or OAUTHBEARER client for go-imap or go-smtp (package
//     mailauth does the login, with one retry on a rejected token).
//  4. [Client.Disconnect] revokes (where supported) and deletes.
//
// App-only access (Entra client credentials, Google service accounts) uses
// [Client.ConnectAppOnly] instead of steps 1 and 2.
//
// # Refresh guarantees
//
// One refresh per account runs at a time, whatever the number of callers
// (callers wait on their own context; the refresh is not cancelled by an
// impatient one). Its result is saved to the store before any caller gets
// it, so a rotated refresh token is never lost; a store that implements
// [CompareAndSwapper] and [Locker] extends this to several processes. A
// transient failure never changes the stored record, and a still-valid
// access token keeps being served. A provider's refusal (invalid_grant)
// marks the account [StatusNeedsReauth] — tokens kept, the provider not
// called again for it — and calls [Hooks.ReauthRequired] once.
//
// # Secrets
//
// Tokens, codes and verifiers have type [Secret], which prints as
// [Redacted] through fmt and log/slog. Errors never contain them, and the
// callback handler's responses never contain a code, token or internal
// error text (see [UserMessage]).
//
// # Several instances
//
// The default [StateStore] is in process memory: behind a load balancer,
// route the callback to the instance that started the flow or plug in a
// shared StateStore (redisstore's, tokenstore.SQLStateStore, or your own,
// tested with storetest.RunStateStore). Use a shared TokenStore
// (tokenstore's SQL store or redisstore's) so that refreshes are
// coordinated across instances.
//
// # Users, accounts and host names
//
// Accounts are keys the application chooses; the Client knows nothing of
// its users. Keep a user → account table of your own (written from
// [Authorization].Account on success, cleared on [Client.Disconnect]) to
// list one user's mailboxes; [Lister] enumerates every account, for the
// scheduler and admin pages. A Client has one [Config].RedirectURL: with
// per-customer host names, serve the callback on one shared host or build
// one Client per host (see Config.RedirectURL).
package oauth2client
