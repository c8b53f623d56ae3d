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
// # Onboarding an organisation
//
// A multi-tenant application is granted its permissions for a whole
// customer organisation by that organisation's administrator:
// [Client.StartAdminConsent] (for providers implementing
// [AdminConsenter], i.e. Entra) returns the admin consent URL with a state
// made and bound like a sign-in's, the same [Client.Handler] recognises
// the answer, and [HandlerConfig.OnAdminConsent] receives an
// [*AdminConsent] with the tenant, granted or refused.
//
// # Telling users what happened
//
// [UserMessage] turns any error of the package into one safe sentence by
// who can fix it: the user reconnects (a revoked or expired grant), tries
// again later (an outage), starts again (a cancelled sign-in) or contacts
// the administrator (configuration, missing consent).
//
// # Refresh guarantees
//
// One refresh per account runs at a time, whatever the number of callers
// (callers wait on their own context; the refresh is not cancelled by an
// impatient one), and a store that implements [CompareAndSwapper] and
// [Locker] extends this to several processes: refreshes,
// re-authorizations and [Client.Disconnect] of one account take the same
// lease and write by compare-and-swap against the version they read, and
// a refresh that began before a re-authorization or Disconnect changes
// nothing after it. The provider's new grant is served at once and saved
// to the store; if the store refuses it, it stays the account's grant in
// memory (used for the next refresh, reported by [Client.Account]) and
// the write is retried with backoff under the lease, so a rotated refresh
// token is not redeemed twice. A transient failure never changes the
// stored record, and a still-valid access token keeps being served through
// provider and store outages ([ErrStoreUnavailable]). A provider's refusal
// (invalid_grant), or a refreshed grant for another identity
// ([ErrIdentityChanged]), marks the account [StatusNeedsReauth] — tokens
// kept, the provider not called again for it — and calls
// [Hooks.ReauthRequired] once. The schedule follows each token's lifetime
// (see [Config.RefreshAhead]), from a minute to days.
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
// shared StateStore (redisstore's, or your own). Use a shared TokenStore
// (tokenstore's SQL store or redisstore's) so that refreshes are
// coordinated across instances. Each instance re-checks its cached tokens
// against the store every [Config.StoreRecheck] (30 seconds by default):
// a token another instance replaced, or an account it disconnected, is
// served at most that long. While the store is down, instances cannot see
// each other's new grants: each serves what it has while it is valid.
package oauth2client
