package provider

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Provider kinds, the values of Settings.Kind.
const (
	KindAzure   = "azure"
	KindGoogle  = "google"
	KindGeneric = "generic"
)

// FieldError says which field of [Settings] (or [GenericConfig]) is
// wrong and why. It matches [ErrConfig] with [errors.Is]; Err is the
// underlying error, if any.
type FieldError struct {
	// Field is the field's name, e.g. "ClientID" or "IMAP.Port".
	Field string
	// Problem says what is wrong with it and, where it helps, what to
	// enter instead.
	Problem string
	// Err is the underlying error (from the azure or google package).
	Err error
}

// Error returns "provider: <Field> <Problem>".
func (e *FieldError) Error() string {
	s := "provider: " + e.Field + " " + e.Problem
	if e.Err != nil && !strings.Contains(e.Problem, e.Err.Error()) {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// Is matches [ErrConfig].
func (e *FieldError) Is(target error) bool { return target == ErrConfig }

// Settings are what a groupware's settings page stores for one
// connection to an identity provider: a flat record, safe to keep as
// JSON in a table (the secrets print as [oauth2client.Redacted] but are
// encoded in clear: protect the column). Every field has one snake_case
// JSON name, and the mail servers read
// {"host":"imap.example.net","port":993,"security":"tls"} with security
// "tls", "starttls" or "none" (see [Settings.UnmarshalJSON] for errors).
// Which fields matter depends on Kind; the others are ignored.
type Settings struct {
	// Kind is "azure", "google" or "generic".
	Kind string `json:"kind"`
	// Name names the connection in errors (generic only); optional.
	Name string `json:"name,omitempty"`

	// ClientID and ClientSecret are the application's credentials. The
	// secret is optional for generic public clients and for a Google
	// connection with only a service account key.
	ClientID     string              `json:"client_id,omitempty"`
	ClientSecret oauth2client.Secret `json:"client_secret,omitempty"`
	// Scopes replace the kind's default scopes; optional.
	Scopes []string `json:"scopes,omitempty"`

	// ClientCertificate is a certificate and its unencrypted RSA private
	// key in PEM, the credential uploaded under Certificates & secrets
	// (azure, instead of ClientSecret).
	ClientCertificate oauth2client.Secret `json:"client_certificate,omitempty"`
	// Tenant is the Entra tenant ID, a verified domain, "organizations"
	// or "common" (azure).
	Tenant string `json:"tenant,omitempty"`
	// Cloud is "global" (the zero value), "usgovernment",
	// "usgovernmentdod" or "china" (azure).
	Cloud string `json:"cloud,omitempty"`
	// AuthorityURL replaces the cloud's sign-in host (azure; private
	// clouds and tests).
	AuthorityURL string `json:"authority_url,omitempty"`
	// AppOnly selects client credentials instead of users' consent
	// (azure).
	AppOnly bool `json:"app_only,omitempty"`
	// PublicClient makes an azure connection without a credential, for
	// device logins only (the app registration allows public client
	// flows).
	PublicClient bool `json:"public_client,omitempty"`

	// ServiceAccountKey is a Google service account's JSON key, for
	// app-only access to Workspace mailboxes (google).
	ServiceAccountKey oauth2client.Secret `json:"service_account_key,omitempty"`

	// Issuer is an OpenID Connect issuer whose discovery document gives
	// the endpoints (generic; building then needs the network), or the
	// issuer of the id_tokens of an overridden TokenURL (google).
	Issuer string `json:"issuer,omitempty"`
	// AuthURL, TokenURL and RevokeURL are the endpoints (generic without
	// Issuer), or overrides of Google's endpoints (google).
	AuthURL   string `json:"auth_url,omitempty"`
	TokenURL  string `json:"token_url,omitempty"`
	RevokeURL string `json:"revoke_url,omitempty"`
	// UsernameClaim is the claim with the mail login (generic; default
	// "email", taken only when email_verified is true).
	UsernameClaim string `json:"username_claim,omitempty"`
	// VerifySignature checks every id_token's signature against the
	// provider's keys, even when TLS to the token endpoint stands for it
	// (generic with an Issuer, google).
	VerifySignature bool `json:"verify_signature,omitempty"`
	// ClientAuthMethod is "client_secret_basic", "client_secret_post",
	// "private_key_jwt" or "none" (generic): how the application
	// authenticates at the token endpoint. Empty chooses from the
	// credentials and the server's discovery document (see
	// [GenericConfig].ClientAuth).
	ClientAuthMethod string `json:"client_auth_method,omitempty"`
	// ClientPrivateKey is the PEM private key of private_key_jwt
	// (generic), with ClientKeyID its kid as registered (optional).
	ClientPrivateKey oauth2client.Secret `json:"client_private_key,omitempty"`
	ClientKeyID      string              `json:"client_key_id,omitempty"`

	// IMAP and SMTP are the mail servers: required for generic,
	// overrides for azure and google.
	IMAP oauth2client.ServerAddr `json:"imap,omitzero"`
	SMTP oauth2client.ServerAddr `json:"smtp,omitzero"`
	// Mechanisms and ServerSavesSent describe the generic mail service.
	Mechanisms      []string `json:"mechanisms,omitempty"`
	ServerSavesSent bool     `json:"server_saves_sent,omitempty"`
}

// LogValue implements [slog.LogValuer]: the settings as they are, with
// the client secret, the certificate and the service account key shown
// as [oauth2client.Redacted] whatever the handler (a JSONHandler would
// otherwise encode them in clear, as a settings table needs).
func (s Settings) LogValue() slog.Value {
	for _, secret := range []*oauth2client.Secret{&s.ClientSecret, &s.ClientCertificate, &s.ServiceAccountKey, &s.ClientPrivateKey} {
		if *secret != "" {
			*secret = oauth2client.Redacted
		}
	}
	return slog.AnyValue(loggedSettings(s))
}

// loggedSettings is Settings without its LogValue method, which would
// otherwise be called again on the redacted copy.
type loggedSettings Settings

// Catalog builds providers from [Settings]. The zero value is ready to
// use. A Catalog is safe for concurrent use as long as its fields are not
// changed.
type Catalog struct {
	// HTTPClient is given to every provider built, unless HTTPClientFor
	// chooses another. If nil, each provider uses its own default client
	// with timeouts.
	HTTPClient *http.Client
	// HTTPClientFor, if set, chooses the HTTP client of each provider
	// from the settings it is built from: a proxy or a private CA for one
	// tenant or one identity provider, or the client of the fake a test
	// connection points to. A nil result falls back to HTTPClient. It is
	// called once per Build and must be safe for concurrent use. (A
	// Catalog is a small value: to choose by your own connection ID
	// instead, build with a copy whose HTTPClient you set.)
	HTTPClientFor func(s Settings) *http.Client
	// Now is the clock of every provider built (azure, google and
	// generic): it reads Retry-After dates and token expiry. Zero means
	// time.Now. MSAL, inside the azure provider, reads the system clock
	// itself for the timestamps of certificate assertions and device
	// codes; see azure.Config.Now.
	Now func() time.Time
	// AllowInsecureHTTP lets generic providers use plain-http issuers and
	// endpoints: for tests and loopback set-ups only (see
	// [GenericConfig.AllowInsecureHTTP]). Off by default.
	AllowInsecureHTTP bool
}

// httpClient is the HTTP client for a provider built from s.
func (c Catalog) httpClient(s Settings) *http.Client {
	if c.HTTPClientFor != nil {
		if hc := c.HTTPClientFor(s); hc != nil {
			return hc
		}
	}
	return c.HTTPClient
}

// Build validates s and returns the provider it describes: an
// *azure.Provider, a *google.Provider or a *[Generic]. Settings errors
// are [*FieldError] values naming the field (and match [ErrConfig]). Only
// a generic provider with an Issuer does network I/O (discovery).
func (c Catalog) Build(ctx context.Context, s Settings) (oauth2client.Provider, error) {
	switch s.Kind {
	case KindAzure:
		return c.buildAzure(s)
	case KindGoogle:
		return c.buildGoogle(s)
	case KindGeneric:
		return c.buildGeneric(ctx, s)
	case "":
		return nil, &FieldError{Field: "Kind", Problem: `is empty: choose "azure", "google" or "generic"`}
	}
	return nil, &FieldError{Field: "Kind", Problem: `"` + s.Kind + `" is not one of "azure", "google", "generic"`}
}

func (c Catalog) buildAzure(s Settings) (oauth2client.Provider, error) {
	cloud, ok := azure.CloudByName(s.Cloud)
	switch {
	case s.ClientID == "":
		return nil, &FieldError{Field: "ClientID", Problem: "is empty: copy the Application (client) ID from the app's Overview page in the Microsoft Entra admin center"}
	case s.Tenant == "":
		return nil, &FieldError{Field: "Tenant", Problem: `is empty: copy the Directory (tenant) ID from the app's Overview page, or use "organizations" for a multi-tenant app`}
	case !ok:
		return nil, &FieldError{Field: "Cloud", Problem: `"` + s.Cloud + `" is not one of "global", "usgovernment", "usgovernmentdod", "china"`}
	case s.PublicClient && (!s.ClientSecret.IsZero() || !s.ClientCertificate.IsZero()):
		return nil, &FieldError{Field: "PublicClient", Problem: "is set together with a credential: a public client has none (remove ClientSecret/ClientCertificate or PublicClient)"}
	case s.PublicClient:
	case s.ClientSecret.IsZero() && s.ClientCertificate.IsZero():
		return nil, &FieldError{Field: "ClientSecret", Problem: "is empty: copy the Value (not the Secret ID) of a client secret under Certificates & secrets, or give a ClientCertificate"}
	case !s.ClientSecret.IsZero() && !s.ClientCertificate.IsZero():
		return nil, &FieldError{Field: "ClientCertificate", Problem: "is set together with ClientSecret: keep only one credential"}
	}
	if err := checkURL("AuthorityURL", s.AuthorityURL, false); err != nil {
		return nil, err
	}
	if err := checkOptionalMail(s); err != nil {
		return nil, err
	}
	p, err := azure.New(azure.Config{ClientID: s.ClientID, Tenant: s.Tenant, Cloud: cloud, AuthorityURL: s.AuthorityURL,
		HTTPClient: c.httpClient(s), Now: c.Now, ClientSecret: s.ClientSecret, CertificatePEM: certPEM(s.ClientCertificate), AppOnly: s.AppOnly, PublicClient: s.PublicClient, Scopes: s.Scopes, IMAP: s.IMAP, SMTP: s.SMTP})
	if err != nil {
		f := fieldOf(err, "Tenant")
		if f == "ClientSecret" && !s.ClientCertificate.IsZero() {
			f = "ClientCertificate"
		}
		return nil, &FieldError{Field: f, Problem: "was rejected", Err: err}
	}
	return p, nil
}

func (c Catalog) buildGoogle(s Settings) (oauth2client.Provider, error) {
	switch {
	case s.ClientID == "" && s.ServiceAccountKey.IsZero():
		return nil, &FieldError{Field: "ClientID", Problem: "is empty: copy the OAuth 2.0 client ID from Google Cloud console > APIs & Services > Credentials (or give a ServiceAccountKey for app-only access)"}
	case s.ClientID != "" && s.ClientSecret.IsZero():
		return nil, &FieldError{Field: "ClientSecret", Problem: "is empty: copy the OAuth client's secret from Google Cloud console > APIs & Services > Credentials"}
	}
	for _, f := range []struct{ name, v string }{{"AuthURL", s.AuthURL}, {"TokenURL", s.TokenURL}, {"RevokeURL", s.RevokeURL}, {"Issuer", s.Issuer}} {
		if err := checkURL(f.name, f.v, false); err != nil {
			return nil, err
		}
	}
	if err := checkOptionalMail(s); err != nil {
		return nil, err
	}
	p, err := google.New(google.Config{ClientID: s.ClientID, ClientSecret: s.ClientSecret, Scopes: s.Scopes,
		AuthURL: s.AuthURL, TokenURL: s.TokenURL, RevokeURL: s.RevokeURL, HTTPClient: c.httpClient(s), Issuer: s.Issuer, VerifySignature: s.VerifySignature,
		ServiceAccount: google.ServiceAccount{JSONKey: []byte(s.ServiceAccountKey.Reveal())}, IMAP: s.IMAP, SMTP: s.SMTP, Now: c.Now})
	if err != nil {
		return nil, &FieldError{Field: fieldOf(err, "ClientID"), Problem: "was rejected", Err: err}
	}
	return p, nil
}

func (c Catalog) buildGeneric(ctx context.Context, s Settings) (oauth2client.Provider, error) {
	cfg := GenericConfig{Name: s.Name, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Scopes: s.Scopes,
		AuthURL: s.AuthURL, TokenURL: s.TokenURL, RevokeURL: s.RevokeURL, UsernameClaim: s.UsernameClaim,
		Mail: oauth2client.MailService{IMAP: s.IMAP, SMTP: s.SMTP, Scopes: s.Scopes, Mechanisms: s.Mechanisms,
			ServerSavesSent: s.ServerSavesSent},
		HTTPClient: c.httpClient(s), Now: c.Now, AllowInsecureHTTP: c.AllowInsecureHTTP, VerifySignature: s.VerifySignature, ClientKeyID: s.ClientKeyID}
	auth, err := ParseClientAuthMethod(s.ClientAuthMethod)
	if err != nil {
		return nil, err
	}
	cfg.ClientAuth = auth
	if !s.ClientPrivateKey.IsZero() {
		if cfg.ClientKey, err = ParseClientKey([]byte(s.ClientPrivateKey.Reveal())); err != nil {
			return nil, err
		}
	}
	if s.Issuer == "" {
		if s.AuthURL == "" && s.TokenURL == "" {
			return nil, &FieldError{Field: "Issuer", Problem: "is empty, and so are AuthURL and TokenURL: give the OpenID Connect issuer or both endpoints"}
		}
		return NewGeneric(cfg)
	}
	if s.ClientID == "" {
		return nil, &FieldError{Field: "ClientID", Problem: "is empty: copy the client ID of the application registered with the provider"}
	}
	if err := checkMail(cfg.Mail); err != nil {
		return nil, err
	}
	return Discover(ctx, s.Issuer, cfg)
}

// checkOptionalMail validates mail server overrides that are set.
func checkOptionalMail(s Settings) error {
	for _, m := range []struct {
		name string
		a    oauth2client.ServerAddr
	}{{"IMAP", s.IMAP}, {"SMTP", s.SMTP}} {
		if m.a.Host == "" && m.a.Port == 0 {
			continue
		}
		ms := oauth2client.MailService{IMAP: m.a, SMTP: m.a}
		if err := checkMail(ms); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Field = m.name + fe.Field[strings.IndexByte(fe.Field, '.'):]
			}
			return err
		}
	}
	return nil
}

// fieldOf finds the Settings field named in an azure ("azure: invalid
// configuration: Field: ...") or google ("... Config.Field ...")
// configuration error, else returns def.
func fieldOf(err error, def string) string {
	msg := err.Error()
	var f string
	if rest, ok := strings.CutPrefix(msg, azure.ErrConfig.Error()+": "); ok {
		f, _, _ = strings.Cut(rest, ":")
	} else if i := strings.Index(msg, "Config."); i >= 0 {
		f = msg[i+len("Config."):]
		if j := strings.IndexAny(f, " :"); j >= 0 {
			f = f[:j]
		}
	}
	switch f {
	case "":
		return def
	case "ServiceAccount.JSONKey":
		return "ServiceAccountKey"
	case "CertificatePEM":
		return "ClientCertificate"
	case "Assertion", "credential":
		return "ClientSecret"
	}
	return f
}

func certPEM(s oauth2client.Secret) []byte {
	if s.IsZero() {
		return nil
	}
	return []byte(s.Reveal())
}
