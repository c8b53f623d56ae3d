// Command quickstart runs the whole mission offline, with no
// configuration: it starts a fake Microsoft Entra ID and fake IMAP and
// SMTP servers on loopback, connects a mailbox through the library's real
// callback handler (an HTTP client plays the user's browser and consent),
// stores the tokens on disk, logs into IMAP with XOAUTH2 and lists the
// mailboxes, sends a message over SMTP, forces a token refresh and logs in
// again.
//
//	go run ./examples/quickstart            # tokens in a temporary directory
//	go run ./examples/quickstart -dir ./tokens
//
// It exits non-zero, with the reason, if any step fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func main() {
	dir := flag.String("dir", "", "directory for the token store (default: a temporary directory, removed at exit)")
	verbose := flag.Bool("v", false, "log the library's debug messages (they never contain tokens)")
	flag.Parse()
	if err := run(*dir, *verbose, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart failed:", err)
		os.Exit(1)
	}
}

func run(dir string, verbose bool, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	step := func(format string, args ...any) { fmt.Fprintf(out, "• "+format+"\n", args...) }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	// 1. The application's callback listener. Entra accepts plain http
	// redirect URIs for localhost only; production uses https.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	redirect := fmt.Sprintf("http://localhost:%d/oauth2/callback", ln.Addr().(*net.TCPAddr).Port)

	// 2. The fakes: Entra ID, and IMAP/SMTP servers that accept only the
	// tokens it issued.
	const user = "alice@contoso.example"
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Users: []mailtest.AzureUser{{Email: user}}})
	if err != nil {
		return err
	}
	defer entra.Close()
	cert, err := mailtest.NewCertificate()
	if err != nil {
		return err
	}
	imapSrv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: entra.Ledger(), TLS: cert.ServerConfig()})
	if err != nil {
		return err
	}
	defer imapSrv.Close()
	smtpSrv, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: entra.Ledger(), TLS: cert.ServerConfig()})
	if err != nil {
		return err
	}
	defer smtpSrv.Close()
	step("fake Entra ID at %s, IMAP (TLS) at %s, SMTP (STARTTLS) at %s", entra.URL(), imapSrv.Addr, smtpSrv.Addr)

	// 3. The token store: the embedded on-disk default.
	if dir == "" {
		tmp, err := os.MkdirTemp("", "oauth2mail-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "tokens")
	}
	store, err := tokenstore.OpenFile(dir)
	if err != nil {
		return err
	}
	step("token store in %s", dir)

	// 4. The library: one Client, one connection (what an administrator
	// configures from the Azure portal), one callback handler.
	client, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Logger: logger})
	if err != nil {
		return err
	}
	m365, err := azure.New(azure.Config{
		ClientID:     entra.ClientID(),
		Tenant:       entra.Tenant(),
		ClientSecret: oauth2client.Secret(entra.ClientSecret()),
		AuthorityURL: entra.URL(), // the real cloud by default; here the fake
		HTTPClient:   entra.Client(),
	})
	if err != nil {
		return err
	}
	if err := client.SetConnection("contoso", m365); err != nil {
		return err
	}
	mux := http.NewServeMux()
	connected := make(chan *oauth2client.Authorization, 1)
	mux.Handle("GET /oauth2/callback", client.Handler(oauth2client.HandlerConfig{
		OnSuccess: func(w http.ResponseWriter, r *http.Request, a *oauth2client.Authorization) {
			connected <- a
			fmt.Fprintln(w, "Mailbox connected.")
		},
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	step("callback handler mounted at %s", redirect)

	// 5. Connect the mailbox: the user is sent to the provider and comes
	// back to the callback.
	const account = "account-42"
	authURL, err := client.StartAuthorization(ctx, "contoso", account, &oauth2client.AuthOptions{LoginHint: user})
	if err != nil {
		return err
	}
	step("authorization URL: %s…", authURL[:min(len(authURL), 90)])
	callback, err := entra.Authorize(ctx, authURL) // the user signs in and consents
	if err != nil {
		return fmt.Errorf("signing in at the fake provider: %w", err)
	}
	resp, err := http.Get(callback) // the browser returns to the application
	if err != nil {
		return fmt.Errorf("calling the callback: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the callback answered %s", resp.Status)
	}
	a := <-connected
	info, err := client.Account(ctx, account)
	if err != nil {
		return err
	}
	step("connected %s as %s; token expires %s", a.Account, a.Username, info.Expiry.Format(time.TimeOnly))
	if info.Mail.ServerSavesSent {
		step("Exchange files sent mail in Sent itself: the client must not append a copy")
	}

	// 6. IMAP with XOAUTH2, and the mailbox list.
	mailboxes, err := imapLogin(ctx, client, account, imapSrv.Addr, cert)
	if err != nil {
		return err
	}
	step("IMAP login with XOAUTH2 succeeded; mailboxes: %s", strings.Join(mailboxes, ", "))

	// 7. SMTP submission.
	if err := sendMail(ctx, client, account, user, smtpSrv.Addr, cert); err != nil {
		return err
	}
	msgs := smtpSrv.Messages()
	if len(msgs) != 1 {
		return fmt.Errorf("the SMTP server holds %d messages, want 1", len(msgs))
	}
	step("SMTP: message from %s to %s accepted (%d bytes)", msgs[0].From, strings.Join(msgs[0].To, ", "), len(msgs[0].Data))

	// 8. A forced refresh, then a new login with the new token.
	before, err := client.Token(ctx, account)
	if err != nil {
		return err
	}
	after, err := client.Refresh(ctx, account)
	if err != nil {
		return err
	}
	if after.AccessToken == before.AccessToken {
		return errors.New("the refresh returned the same token")
	}
	step("token refreshed (rotated refresh token saved); new token expires %s", after.Expiry.Format(time.TimeOnly))
	if _, err := imapLogin(ctx, client, account, imapSrv.Addr, cert); err != nil {
		return fmt.Errorf("login after refresh: %w", err)
	}
	step("IMAP login with the refreshed token succeeded (%d logins accepted, %d refused)", imapSrv.Stats.Logins.Load(), imapSrv.Stats.Failures.Load())
	fmt.Fprintln(out, "quickstart: all steps passed")
	return nil
}

func imapLogin(ctx context.Context, client *oauth2client.Client, account, addr string, cert *mailtest.Certificate) ([]string, error) {
	c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: cert.ClientConfig()})
	if err != nil {
		return nil, fmt.Errorf("IMAP dial: %w", err)
	}
	defer c.Close()
	if err := mailauth.IMAP(ctx, client, c, account, nil); err != nil {
		return nil, fmt.Errorf("IMAP login: %w", err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("IMAP LIST: %w", err)
	}
	var names []string
	for _, mb := range list {
		names = append(names, mb.Mailbox)
	}
	if err := c.Logout().Wait(); err != nil {
		return nil, fmt.Errorf("IMAP LOGOUT: %w", err)
	}
	return names, nil
}

func sendMail(ctx context.Context, client *oauth2client.Client, account, from, addr string, cert *mailtest.Certificate) error {
	c, err := smtp.DialStartTLS(addr, cert.ClientConfig())
	if err != nil {
		return fmt.Errorf("SMTP dial: %w", err)
	}
	defer c.Close()
	if err := mailauth.SMTP(ctx, client, c, account, nil); err != nil {
		return fmt.Errorf("SMTP login: %w", err)
	}
	msg := "From: " + from + "\r\nTo: bob@example.net\r\nSubject: Hello from oauth2mail\r\n\r\nSent with an OAuth2 token.\r\n"
	if err := c.SendMail(from, []string{"bob@example.net"}, strings.NewReader(msg)); err != nil {
		return fmt.Errorf("SMTP send: %w", err)
	}
	return c.Quit()
}
