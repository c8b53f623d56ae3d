package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrNotDetected means [Detect] does not know the provider of a host.
var ErrNotDetected = errors.New("provider: no known OAuth provider serves this host")

// MXResolver looks up a domain's MX records. *net.Resolver satisfies it.
type MXResolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// DetectOptions configure [Detect].
type DetectOptions struct {
	// Resolver looks up MX records when the name itself is not known (a
	// company domain hosted by Microsoft 365 or Google Workspace). If nil,
	// net.DefaultResolver is used.
	Resolver MXResolver
	// NoMX skips the MX lookup: only names are matched, without I/O.
	NoMX bool
}

// Match is what [Detect] found.
type Match struct {
	// Kind is "azure", "google" or "generic".
	Kind string
	// Name is the provider's display name, e.g. "Microsoft 365".
	Name string
	// Settings is a template for [Catalog.Build]: Kind, and for generic
	// providers the endpoints, scopes and mail servers. The application
	// adds its own client ID (and secret, and tenant for azure: see
	// [FindTenant]).
	Settings Settings
	// ViaMX is true when the match came from the domain's MX records.
	ViaMX bool
}

type known struct {
	kind, name string
	// names match the host or domain itself, mx the MX host names; a
	// key matches itself and its subdomains (Thunderbird strips leading
	// labels until it finds a key).
	names, mx []string
	settings  Settings
}

func tls(host string, port int) oauth2client.ServerAddr {
	return oauth2client.ServerAddr{Host: host, Port: port, Security: oauth2client.SecurityTLS}
}

// knownProviders is the host table, from Thunderbird's
// OAuth2Providers.sys.mjs and the providers' published settings. AOL
// comes before Yahoo: AOL's MX hosts are under Yahoo's yahoodns.net.
func knownProviders() []known {
	// #nosec G101 -- public endpoint URLs and host names, no credentials
	return []known{
		{kind: KindAzure, name: "Microsoft 365 / Outlook.com",
			names: []string{"office365.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.office.com"},
			mx:    []string{"mail.protection.outlook.com", "olc.protection.outlook.com"}},
		{kind: KindGoogle, name: "Gmail / Google Workspace",
			names: []string{"gmail.com", "googlemail.com"},
			mx:    []string{"aspmx.l.google.com", "googlemail.com", "smtp.google.com", "google.com"}},
		{kind: KindGeneric, name: "AOL", names: []string{"aol.com", "aim.com"}, mx: []string{"mx-aol.mail.gm0.yahoodns.net"},
			settings: Settings{Name: "aol", AuthURL: "https://api.login.aol.com/oauth2/request_auth", TokenURL: "https://api.login.aol.com/oauth2/get_token",
				Scopes: []string{"mail-w"}, IMAP: tls("imap.aol.com", 993), SMTP: tls("smtp.aol.com", 465)}},
		{kind: KindGeneric, name: "Yahoo", names: []string{"yahoo.com", "ymail.com", "rocketmail.com", "att.net"}, mx: []string{"yahoodns.net"},
			settings: Settings{Name: "yahoo", AuthURL: "https://api.login.yahoo.com/oauth2/request_auth", TokenURL: "https://api.login.yahoo.com/oauth2/get_token",
				Scopes: []string{"mail-w"}, IMAP: tls("imap.mail.yahoo.com", 993), SMTP: tls("smtp.mail.yahoo.com", 465)}},
		{kind: KindGeneric, name: "Fastmail", names: []string{"fastmail.com", "fastmail.fm", "messagingengine.com"}, mx: []string{"messagingengine.com"},
			settings: Settings{Name: "fastmail", AuthURL: "https://api.fastmail.com/oauth/authorize", TokenURL: "https://api.fastmail.com/oauth/refresh",
				Scopes: []string{"https://www.fastmail.com/dev/protocol-imap", "https://www.fastmail.com/dev/protocol-smtp"},
				IMAP:   tls("imap.fastmail.com", 993), SMTP: tls("smtp.fastmail.com", 465)}},
		{kind: KindGeneric, name: "Yandex", names: []string{"yandex.com", "yandex.ru", "ya.ru"}, mx: []string{"mx.yandex.net", "mx.yandex.ru"},
			settings: Settings{Name: "yandex", AuthURL: "https://oauth.yandex.com/authorize", TokenURL: "https://oauth.yandex.com/token",
				Scopes: []string{"mail:imap_full", "mail:smtp"}, IMAP: tls("imap.yandex.com", 993), SMTP: tls("smtp.yandex.com", 465)}},
		{kind: KindGeneric, name: "Mail.ru", names: []string{"mail.ru", "inbox.ru", "list.ru", "bk.ru"}, mx: []string{"mxs.mail.ru"},
			settings: Settings{Name: "mail.ru", AuthURL: "https://o2.mail.ru/login", TokenURL: "https://o2.mail.ru/token",
				Scopes: []string{"mail.imap"}, IMAP: tls("imap.mail.ru", 993), SMTP: tls("smtp.mail.ru", 465)}},
	}
}

func under(host, key string) bool { return host == key || strings.HasSuffix(host, "."+key) }

func (k known) match(viaMX bool) Match {
	s := k.settings
	s.Kind = k.kind
	s.Scopes = append([]string(nil), s.Scopes...)
	return Match{Kind: k.kind, Name: k.name, Settings: s, ViaMX: viaMX}
}

// Detect tells which provider serves hostOrAddress: a mail address
// (alice@contoso.com), a domain, or a server host name
// (outlook.office365.com, imap.gmail.com:993). Known names are matched by
// suffix, like Thunderbird; otherwise the domain's MX records are looked
// up (unless opts.NoMX), which finds Microsoft 365
// (*.mail.protection.outlook.com) and Google Workspace
// (aspmx.l.google.com) for company domains. It returns [ErrNotDetected]
// when nothing matches, and the resolver's error when the lookup fails.
func Detect(ctx context.Context, hostOrAddress string, opts DetectOptions) (Match, error) {
	host := strings.ToLower(strings.TrimSpace(hostOrAddress))
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || strings.ContainsAny(host, "/ ?#") {
		return Match{}, fmt.Errorf("provider: %q is not a mail address or host name: %w", hostOrAddress, ErrNotDetected)
	}
	table := knownProviders()
	for _, k := range table {
		for _, n := range k.names {
			if under(host, n) {
				return k.match(false), nil
			}
		}
	}
	if opts.NoMX {
		return Match{}, fmt.Errorf("provider: %s: %w", host, ErrNotDetected)
	}
	r := opts.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	mxs, err := r.LookupMX(ctx, host)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return Match{}, fmt.Errorf("provider: %s has no MX records: %w", host, ErrNotDetected)
		}
		return Match{}, fmt.Errorf("provider: looking up the MX records of %s: %w", host, err)
	}
	for _, mx := range mxs {
		h := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		for _, k := range table {
			for _, n := range k.mx {
				if under(h, n) {
					return k.match(true), nil
				}
			}
		}
	}
	return Match{}, fmt.Errorf("provider: %s: %w", host, ErrNotDetected)
}
