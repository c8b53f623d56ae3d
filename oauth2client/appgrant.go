package oauth2client

// AppGrantChecker is implemented by app-only providers that can tell,
// from a freshly issued app-only grant, that it cannot open mailboxes —
// e.g. an Entra token without the IMAP.AccessAsApp / SMTP.SendAsApp
// roles because admin consent was never granted. [Client.ConnectAppOnly]
// calls it before storing the grant and returns its error (a
// [*ProviderError] with a Remedy) instead of storing a token every login
// would fail with.
type AppGrantChecker interface {
	CheckAppGrant(g *Grant) error
}
