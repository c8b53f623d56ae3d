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
// The package keeps no global state: the catalogue is a value, and
// nothing is registered at init.
package provider
