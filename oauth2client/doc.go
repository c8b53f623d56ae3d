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
// # Identity
//
// A grant's [Identity] says whose mailbox it opens. Providers take it only
// from id_tokens validated as OpenID Connect Core §3.1.3.7 requires
// (issuer, audience, authorized party, expiry, issue time, and the nonce
// the Client sends with every authorization) and from claims the identity
// provider vouches for: a verified email, or an Entra user's own directory
// name bound to the user's object and tenant IDs. A refused answer is an
// [*IdentityError] matching [ErrInvalidIDToken] or [ErrUnverifiedIdentity];
// the callback answers 403.
//
// [AuthOptions.RequireUsername], [AuthOptions.RequireTenant] (Entra tid)
// and [AuthOptions.RequireDomain] (Google Workspace hd) make the callback
// refuse another mailbox or directory ([ErrIdentityMismatch]); on a
// multi-tenant connection ([MultiTenantProvider]) RequireUsername needs
// RequireTenant ([ErrTenantRequired]).
//
// The identity is fixed when the account is connected: a refresh whose
// grant names another Subject or Tenant is refused ([ErrIdentityChanged]),
// and a refresh never changes the Username. A new name (an Entra user
// principal name renamed, same object and tenant) is stored by authorizing
// the account again: StartAuthorization for the same account, whose
// callback replaces the grant.
//
// # Secrets
//
// Tokens, codes and verifiers have type [Secret], which prints as
// [Redacted] through fmt and log/slog. Errors never contain them, even
// when a provider echoes the request in its answer: the providers of this
// module and the Client pass every error built from an answer through
// [ScrubError]. The callback handler's responses never contain a code,
// token or internal error text (see [UserMessage]), and what it logs of
// the callback's query is quoted and cut.
//
// Pending authorizations are bounded ([StateLimits], [ErrTooManyPending]),
// in total and per browser session.
//
// # Several instances
//
// The default [StateStore] is in process memory: behind a load balancer,
// route the callback to the instance that started the flow or plug in a
// shared StateStore (redisstore's, tokenstore.SQLStateStore, or your own,
// tested with storetest.RunStateStore). Use a shared TokenStore
// (tokenstore's SQL store or redisstore's) so that refreshes are
// coordinated across instances. Each instance re-checks its cached tokens
// against the store every [Config.StoreRecheck] (30 seconds by default):
// a token another instance replaced, or an account it disconnected, is
// served at most that long. While the store is down, instances cannot see
// each other's new grants: each serves what it has while it is valid.
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
