package mailtest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/xoauth2"
)

func startSMTP(t *testing.T, checker mailtest.TokenChecker, useTLS bool) (*mailtest.SMTPServer, *smtp.Client) {
	t.Helper()
	opts := mailtest.MailOptions{Tokens: checker}
	cert, err := mailtest.NewCertificate()
	require.NoError(t, err)
	if useTLS {
		opts.TLS = cert.ServerConfig()
	}
	srv, err := mailtest.NewSMTPServer(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Close()) })
	var c *smtp.Client
	if useTLS {
		c, err = smtp.DialStartTLS(srv.Addr, cert.ClientConfig())
	} else {
		c, err = smtp.Dial(srv.Addr)
	}
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Hello("client.example"))
	return srv, c
}

const testMessage = "From: alice@contoso.example\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nBody line one.\r\n.leading dot\r\n\r\n"

func TestSMTPServerDelivers(t *testing.T) {
	for _, useTLS := range []bool{true, false} {
		for _, mech := range mechs {
			t.Run(mech+map[bool]string{true: "/STARTTLS", false: "/plain"}[useTLS], func(t *testing.T) {
				f := newFixture(t)
				srv, c := startSMTP(t, f.ledger, useTLS)
				ok, params := c.Extension("AUTH")
				require.True(t, ok)
				assert.ElementsMatch(t, mechs, strings.Fields(params))
				require.NoError(t, c.Auth(saslClient(t, mech, mailUser, f.good)))
				require.NoError(t, c.SendMail(mailUser, []string{"bob@example.net", "carol@example.net"}, strings.NewReader(testMessage)))
				require.NoError(t, c.Quit())
				msgs := srv.Messages()
				require.Len(t, msgs, 1)
				assert.Equal(t, mailtest.Message{User: mailUser, From: mailUser, To: []string{"bob@example.net", "carol@example.net"},
					Data: []byte(testMessage)}, msgs[0])
				assert.Equal(t, int64(1), srv.Stats.Logins.Load())
			})
		}
	}
}

func TestSMTPServerRejects(t *testing.T) {
	for _, rc := range rejections {
		for _, mech := range mechs {
			t.Run(rc.name+"/"+mech, func(t *testing.T) {
				f := newFixture(t)
				srv, c := startSMTP(t, f.ledger, true)
				user, tok := rc.setup(t, f)
				sc := saslClient(t, mech, user, tok)
				err := c.Auth(sc)
				var se *smtp.SMTPError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, 535, se.Code)
				assert.Equal(t, smtp.EnhancedCode{5, 7, 8}, se.EnhancedCode)
				assertChallenge(t, mech, sc)
				assert.Equal(t, int64(1), srv.Stats.Failures.Load())

				// Unauthenticated mail is refused; a good token then works.
				require.Error(t, c.Mail(mailUser, nil))
				require.NoError(t, c.Auth(saslClient(t, mech, mailUser, f.issue(t, mailUser))))
				require.NoError(t, c.SendMail(mailUser, []string{"bob@example.net"}, strings.NewReader(testMessage)))
				assert.Len(t, srv.Messages(), 1)
			})
		}
	}
}

func TestSMTPServerUnavailable(t *testing.T) {
	for _, mech := range mechs {
		t.Run(mech, func(t *testing.T) {
			_, c := startSMTP(t, downChecker{}, true)
			sc := saslClient(t, mech, mailUser, "any")
			err := c.Auth(sc)
			var se *smtp.SMTPError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 454, se.Code)
			assert.Equal(t, smtp.EnhancedCode{4, 7, 0}, se.EnhancedCode)
			assert.Nil(t, sc.Rejection())
			require.NoError(t, c.Noop())
		})
	}
}

func TestSMTPAuthDisabledLikeExchange(t *testing.T) {
	clock := mailtest.NewClock(time.Now())
	ledger := mailtest.NewLedger(clock.Now)
	ledger.Issue("tok", mailtest.TokenInfo{Username: "a@example.com", Expiry: clock.Now().Add(time.Hour)})
	for _, scope := range []string{"Tenant", "Mailbox"} {
		s, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: ledger, SMTPAuthDisabled: scope})
		require.NoError(t, err)
		c, err := smtp.Dial(s.Addr)
		require.NoError(t, err)
		err = c.Auth(xoauth2.NewClient("a@example.com", "tok"))
		var se *smtp.SMTPError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 535, se.Code)
		assert.Equal(t, smtp.EnhancedCode{5, 7, 139}, se.EnhancedCode)
		assert.Equal(t, "Authentication unsuccessful, SmtpClientAuthentication is disabled for the "+scope+
			". Visit https://aka.ms/smtp_auth_disabled for more information.", se.Message)
		c.Close()
		s.Close()
	}
}
