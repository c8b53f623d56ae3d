// Package provider holds what an application needs besides the Azure and
// Google providers:
//
//   - [Generic], an [oauth2client.Provider] for any OAuth 2.0 / OpenID
//     Connect server (Yahoo, AOL, Fastmail, Yandex, mail.ru, a company
//     Keycloak in front of Dovecot), configured statically with
//     [NewGeneric] or from the issuer's discovery document with
//     [Discover];
//   - [Catalog], which builds a provider of any kind ("azure", "google",
//     "generic") from [Settings], the flat record a groupware's settings
//     page stores, and names the field at fault when the settings are
//     wrong ([*FieldError]), with an HTTP client per connection
//     ([Catalog.HTTPClientFor]) and one clock for every kind;
//   - host detection: [Detect] tells from a mail address, a domain or a
//     server host name (and the domain's MX records) which provider
//     serves it, the way Thunderbird's host-to-provider map does, and
//     [FindTenant] finds a Microsoft 365 domain's tenant ID.
//
// # Identity and discovery
//
// With an Issuer, [Generic] validates every id_token (OpenID Connect Core
// §3.1.3.7: iss, aud, azp, exp and iat with a small skew on
// GenericConfig.Now, the authorization's nonce, and the signature against
// JWKSURL when the token endpoint is not https or with VerifySignature)
// and takes the username only from a verified claim: "email" with
// email_verified true, or userinfo whose sub is the id_token's. A refresh
// reports the id_token's sub so the Client can refuse another user.
//
// [Discover], [NewGeneric] and [FindTenant] accept only https issuers and
// endpoints, unless the application opts in with AllowInsecureHTTP (tests
// and loopback set-ups; off by default, and a loopback host alone does not
// turn it on): a plain-http URL fails with [ErrInsecureURL]. Redirects are
// followed only on the same host and never from https down to http. The
// discovered issuer must equal the configured one exactly (OpenID Connect
// Discovery §4.3), the issuer must have no query, fragment or user
// information, and errors never quote the fetched document.
//
// # Client authentication
//
// [Generic] authenticates the application at the token and revocation
// endpoints with client_secret_basic, client_secret_post, private_key_jwt
// (RFC 7523, signed with a key the application supplies in
// [GenericConfig].ClientKey) or none (a public client, PKCE alone).
// [GenericConfig].ClientAuth (Settings.ClientAuthMethod in text form)
// chooses; left empty, the credentials and the server's
// token_endpoint_auth_methods_supported decide, with client_secret_basic
// when the server does not say (RFC 8414). An invalid_client answer
// that names the method the server wants gets a remedy naming it.
//
// The package keeps no global state: the catalogue is a value, and
// nothing is registered at init.
package provider
