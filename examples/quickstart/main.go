// Command quickstart runs the whole mission offline, with no
// configuration: it starts a fake Microsoft Entra ID (or, with -provider
// google, a fake Google) and fake IMAP and SMTP servers on loopback,
// connects a mailbox through the library's real callback handler (an HTTP
// client plays the user's browser and consent), stores the tokens on
// disk, logs into IMAP with XOAUTH2 and lists the mailboxes, sends a
// message over SMTP, forces a token refresh and logs in again.
//
//	go run ./examples/quickstart            # tokens in a temporary directory
//	go run ./examples/quickstart -dir ./tokens   # and the key in ./tokens.key
//	go run ./examples/quickstart -provider google
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
	"strconv"
	"strings"
	"time"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func main() {
	dir := flag.String("dir", "", "directory for the token store (default: a temporary directory, removed at exit)")
	verbose := flag.Bool("v", false, "log the library's debug messages (they never contain tokens)")
	provider := flag.String("provider", "azure", "the fake identity provider: azure (Exchange Online) or google (Gmail)")
	flag.Parse()
	opts := options{dir: *dir, provider: *provider, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if *verbose {
		opts.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := run(opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart failed:", err)
		os.Exit(1)
	}
}

// options configure run.
type options struct {
	// dir holds the token store ("": a temporary directory).
	dir string
	// provider is "azure" or "google".
	provider string
	// logger receives the library's log.
	logger *slog.Logger
	// httpClient, if set, wraps the HTTP client that talks to the fake
	// provider (tests record the traffic with it).
	httpClient func(*http.Client) *http.Client
}

// fakeIdP is the fake identity provider the quickstart signs in at, and
// the connection configured for it.
type fakeIdP struct {
	name, user, url string
	ledger          *mailtest.Ledger
	provider        oauth2client.Provider
	authorize       func(ctx context.Context, authURL string) (string, error)
	close           func()
}

func newFakeIdP(o options, redirect string) (*fakeIdP, error) {
	hc := func(c *http.Client) *http.Client {
		if o.httpClient != nil {
			return o.httpClient(c)
		}
		return c
	}
	switch o.provider {
	case "", "azure":
		const user = "alice@contoso.example"
		entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{redirect}, Users: []mailtest.AzureUser{{Email: user}}})
		if err != nil {
			return nil, err
		}
		// What an administrator copies from the Azure portal.
		p, err := azure.New(azure.Config{
			ClientID:     entra.ClientID(),
			Tenant:       entra.Tenant(),
			ClientSecret: oauth2client.Secret(entra.ClientSecret()),
			AuthorityURL: entra.URL(), // the real cloud by default; here the fake
			HTTPClient:   hc(entra.Client()),
		})
		if err != nil {
			entra.Close()
			return nil, err
		}
		return &fakeIdP{name: "Entra ID", user: user, url: entra.URL(), ledger: entra.Ledger(), provider: p,
			authorize: entra.Authorize, close: entra.Close}, nil
	case "google":
		const user = "bob@gmail.example"
		g, err := mailtest.NewGoogle(mailtest.GoogleOptions{RedirectURIs: []string{redirect}, Users: []mailtest.GoogleUser{{Email: user}}})
		if err != nil {
			return nil, err
		}
		// What an administrator copies from Google Cloud console.
		p, err := google.New(google.Config{
			ClientID:     g.ClientID(),
			ClientSecret: oauth2client.Secret(g.ClientSecret()),
			AuthURL:      g.AuthURL(), // Google's endpoints by default; here the fake
			TokenURL:     g.TokenURL(),
			RevokeURL:    g.RevokeURL(),
			Issuer:       g.Issuer(), // the iss of the fake's id_tokens
			HTTPClient:   hc(g.Client()),
		})
		if err != nil {
			g.Close()
			return nil, err
		}
		return &fakeIdP{name: "Google", user: user, url: g.URL(), ledger: g.Ledger(), provider: p,
			authorize: g.Authorize, close: g.Close}, nil
	}
	return nil, fmt.Errorf("unknown -provider %q: use azure or google", o.provider)
}

func run(o options, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	step := func(format string, args ...any) { fmt.Fprintf(out, "• "+format+"\n", args...) }
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir := o.dir

	// 1. The application's callback listener. Entra accepts plain http
	// redirect URIs for localhost only; production uses https.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	redirect := fmt.Sprintf("http://localhost:%d/oauth2/callback", ln.Addr().(*net.TCPAddr).Port)

	// 2. The fakes: the identity provider, and IMAP/SMTP servers that
	// accept only the tokens it issued.
	idp, err := newFakeIdP(o, redirect)
	if err != nil {
		return err
	}
	defer idp.close()
	user := idp.user
	cert, err := mailtest.NewCertificate()
	if err != nil {
		return err
	}
	imapSrv, err := mailtest.NewIMAPServer(mailtest.MailOptions{Tokens: idp.ledger, TLS: cert.ServerConfig()})
	if err != nil {
		return err
	}
	defer imapSrv.Close()
	smtpSrv, err := mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: idp.ledger, TLS: cert.ServerConfig()})
	if err != nil {
		return err
	}
	defer smtpSrv.Close()
	step("fake %s at %s, IMAP (TLS) at %s, SMTP (STARTTLS) at %s", idp.name, idp.url, imapSrv.Addr, smtpSrv.Addr)

	// 3. The token store: the embedded on-disk default.
	if dir == "" {
		tmp, err := os.MkdirTemp("", "oauth2mail-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "tokens")
	}
	files, err := tokenstore.OpenFile(dir)
	if err != nil {
		return err
	}
	// The tokens open mailboxes: encrypt them at rest. The key file is
	// created 0600 on first run and refused (with "chmod 600") if other
	// users can read it; keep it apart from backups of the tokens.
	keyFile := dir + ".key"
	keys, err := tokenstore.LoadOrCreateKeyFile(keyFile)
	if err != nil {
		return err
	}
	store, err := tokenstore.NewEncrypted(files, tokenstore.EncryptionConfig{Keys: keys})
	if err != nil {
		return err
	}
	step("token store in %s, encrypted (AES-256-GCM) with the key in %s", dir, keyFile)

	// 4. The library: one Client, one connection (the provider configured
	// above), one callback handler.
	client, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: store, Logger: logger})
	if err != nil {
		return err
	}
	if err := client.SetConnection("mail", idp.provider); err != nil {
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
	authURL, err := client.StartAuthorization(ctx, "mail", account, &oauth2client.AuthOptions{LoginHint: user})
	if err != nil {
		return err
	}
	step("authorization URL: %s…", authURL[:min(len(authURL), 90)])
	callback, err := idp.authorize(ctx, authURL) // the user signs in and consents
	if err != nil {
		return fmt.Errorf("signing in at the fake provider: %w", err)
	}
	// The browser returns to the application.
	resp, err := http.Get(callback) // #nosec G107 -- the URL the fake provider redirected the "browser" to, on loopback
	if err != nil {
		return fmt.Errorf("calling the callback: %w", err)
	}
	_ = resp.Body.Close()
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
		step("the server files sent mail in Sent itself: the client must not append a copy")
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
	step("token refreshed (new tokens saved before use); new token expires %s", after.Expiry.Format(time.TimeOnly))
	if _, err := imapLogin(ctx, client, account, imapSrv.Addr, cert); err != nil {
		return fmt.Errorf("login after refresh: %w", err)
	}
	step("IMAP login with the refreshed token succeeded (%d logins accepted, %d refused)", imapSrv.Stats.Logins.Load(), imapSrv.Stats.Failures.Load())
	fmt.Fprintln(out, "quickstart: all steps passed")
	return nil
}

func imapLogin(ctx context.Context, client *oauth2client.Client, account, addr string, cert *mailtest.Certificate) ([]string, error) {
	// mailauth dials, secures and logs in under ctx. In production the
	// account's connection names the server (outlook.office365.com:993)
	// and the system roots verify it: pass nil options.
	server, err := serverAddr(addr, oauth2client.SecurityTLS)
	if err != nil {
		return nil, err
	}
	c, err := mailauth.DialIMAP(ctx, client, account, &mailauth.DialOptions{TLSConfig: cert.ClientConfig(), Server: server})
	if err != nil {
		return nil, fmt.Errorf("IMAP login: %w", err)
	}
	defer c.Close()
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
	server, err := serverAddr(addr, oauth2client.SecuritySTARTTLS)
	if err != nil {
		return err
	}
	c, err := mailauth.DialSMTP(ctx, client, account, &mailauth.DialOptions{TLSConfig: cert.ClientConfig(), Server: server})
	if err != nil {
		return fmt.Errorf("SMTP login: %w", err)
	}
	defer c.Close()
	msg := "From: " + from + "\r\nTo: bob@example.net\r\nSubject: Hello from oauth2mail\r\n\r\nSent with an OAuth2 token.\r\n"
	if err := c.SendMail(from, []string{"bob@example.net"}, strings.NewReader(msg)); err != nil {
		return fmt.Errorf("SMTP send: %w", err)
	}
	return c.Quit()
}

// serverAddr describes the fake server listening on addr.
func serverAddr(addr string, sec oauth2client.Security) (oauth2client.ServerAddr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return oauth2client.ServerAddr{}, err
	}
	n, err := strconv.Atoi(port)
	return oauth2client.ServerAddr{Host: host, Port: n, Security: sec}, err
}
