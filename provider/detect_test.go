package provider_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/provider"
)

// mxTable is a fake resolver.
type mxTable map[string][]string

func (m mxTable) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	hosts, ok := m[name]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	var out []*net.MX
	for i, h := range hosts {
		out = append(out, &net.MX{Host: h, Pref: uint16(10 * i)})
	}
	return out, nil
}

var _ provider.MXResolver = (*net.Resolver)(nil)

func TestDetect(t *testing.T) {
	mx := mxTable{
		"contoso.example":    {"contoso-example.mail.protection.outlook.com."},
		"corp.example":       {"aspmx.l.google.com.", "alt1.aspmx.l.google.com."},
		"newcorp.example":    {"smtp.google.com."},
		"aol-domain.example": {"mx-aol.mail.gm0.yahoodns.net."},
		"yahoo-biz.example":  {"mta5.am0.yahoodns.net."},
		"fm-domain.example":  {"in1-smtp.messagingengine.com."},
		"ya-domain.example":  {"mx.yandex.net."},
		"ru-domain.example":  {"emx.mail.ru.", "mxs.mail.ru."},
		"self.example":       {"mx.self.example."},
	}
	for _, tc := range []struct {
		in, kind, name string
		viaMX          bool
	}{
		{"outlook.office365.com", provider.KindAzure, "Microsoft 365 / Outlook.com", false},
		{"smtp.office365.com:587", provider.KindAzure, "Microsoft 365 / Outlook.com", false},
		{"someone@hotmail.com", provider.KindAzure, "Microsoft 365 / Outlook.com", false},
		{"alice@contoso.example", provider.KindAzure, "Microsoft 365 / Outlook.com", true},
		{"imap.gmail.com:993", provider.KindGoogle, "Gmail / Google Workspace", false},
		{"Bob@GoogleMail.com", provider.KindGoogle, "Gmail / Google Workspace", false},
		{"carol@corp.example", provider.KindGoogle, "Gmail / Google Workspace", true},
		{"newcorp.example", provider.KindGoogle, "Gmail / Google Workspace", true},
		{"dave@yahoo.com", provider.KindGeneric, "Yahoo", false},
		{"imap.mail.yahoo.com", provider.KindGeneric, "Yahoo", false},
		{"x@att.net", provider.KindGeneric, "Yahoo", false},
		{"yahoo-biz.example", provider.KindGeneric, "Yahoo", true},
		{"erin@aol.com", provider.KindGeneric, "AOL", false},
		{"aol-domain.example", provider.KindGeneric, "AOL", true},
		{"imap.fastmail.com", provider.KindGeneric, "Fastmail", false},
		{"f@fastmail.fm", provider.KindGeneric, "Fastmail", false},
		{"fm-domain.example", provider.KindGeneric, "Fastmail", true},
		{"imap.yandex.com", provider.KindGeneric, "Yandex", false},
		{"g@yandex.ru", provider.KindGeneric, "Yandex", false},
		{"ya-domain.example", provider.KindGeneric, "Yandex", true},
		{"smtp.mail.ru", provider.KindGeneric, "Mail.ru", false},
		{"h@inbox.ru", provider.KindGeneric, "Mail.ru", false},
		{"ru-domain.example", provider.KindGeneric, "Mail.ru", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			m, err := provider.Detect(context.Background(), tc.in, provider.DetectOptions{Resolver: mx})
			require.NoError(t, err)
			assert.Equal(t, tc.kind, m.Kind)
			assert.Equal(t, tc.name, m.Name)
			assert.Equal(t, tc.viaMX, m.ViaMX)
			assert.Equal(t, tc.kind, m.Settings.Kind)
			if tc.kind == provider.KindGeneric {
				// The template is complete but for the client ID.
				s := m.Settings
				s.ClientID = "my-client"
				_, err := provider.Catalog{}.Build(context.Background(), s)
				require.NoError(t, err)
			}
		})
	}
	for _, tc := range []struct {
		name, in string
		opts     provider.DetectOptions
	}{
		{"own MX", "self.example", provider.DetectOptions{Resolver: mx}},
		{"no MX", "nomx.example", provider.DetectOptions{Resolver: mx}},
		{"MX off", "alice@contoso.example", provider.DetectOptions{Resolver: mx, NoMX: true}},
		{"empty", "  ", provider.DetectOptions{Resolver: mx}},
		{"url", "https://x.example/", provider.DetectOptions{Resolver: mx}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provider.Detect(context.Background(), tc.in, tc.opts)
			require.ErrorIs(t, err, provider.ErrNotDetected)
		})
	}
	t.Run("resolver failure", func(t *testing.T) {
		boom := errors.New("SERVFAIL")
		_, err := provider.Detect(context.Background(), "x.example", provider.DetectOptions{Resolver: failing{boom}})
		require.ErrorIs(t, err, boom)
		assert.NotErrorIs(t, err, provider.ErrNotDetected)
	})
}

type failing struct{ err error }

func (f failing) LookupMX(context.Context, string) ([]*net.MX, error) { return nil, f.err }
