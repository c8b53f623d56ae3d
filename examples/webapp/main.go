// Command webapp is a small web application that lets a signed-in user
// connect mailboxes with OAuth2: a start page, the library's callback
// handler, each mailbox's status, a test message sent through the
// mailbox, and disconnect. Authorizations are bound to the browser
// session.
//
//	go run ./examples/webapp -demo      # against a fake Entra ID; open the printed URL
//	go run ./examples/webapp -demo -provider google
//
//	AZURE_CLIENT_SECRET=... go run ./examples/webapp -addr :8080 \
//	    -public-url https://mail.example.com -client-id 00000000-... -tenant organizations
//
// In -demo mode the fake provider shows a sign-in page for
// alice@contoso.example (bob@gmail.example with -provider google): press
// Continue, or Cancel to see a refusal (the browser will warn about the
// fake's self-signed certificate). Test messages go to an in-process
// SMTP server.
//
// The session cookie is SameSite=Lax, the setting that works with the
// provider's usual answer, a redirect (response_mode=query). -samesite
// and -response-mode change them; browser_test.go shows in Chromium which
// combinations work: form_post needs -samesite none, which needs https.
//
// /tenants onboards a customer tenant of a multi-tenant app through admin
// consent (onboard.go); in -demo mode the fake Entra ID knows a customer
// tenant whose ID the program prints.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/mailauth"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func main() {
	demoMode := flag.Bool("demo", false, "use an in-process fake provider, SMTP server and in-memory store")
	provider := flag.String("provider", "azure", "with -demo: the fake provider, azure or google")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	publicURL := flag.String("public-url", "", "the URL users reach this server at (default http://<addr>); the callback is <public-url>/oauth2/callback")
	clientID := flag.String("client-id", "", "Application (client) ID (AZURE_CLIENT_SECRET holds the secret's Value)")
	tenant := flag.String("tenant", "organizations", "Directory (tenant) ID, or organizations for any work account")
	dir := flag.String("store", "oauth2mail-tokens", "directory of the encrypted token store (not with -demo)")
	sameSite := flag.String("samesite", "lax", "SameSite attribute of the session cookie: lax, strict, none (needs an https -public-url) or unset (no attribute)")
	responseMode := flag.String("response-mode", "query", "how Entra ID answers the callback: query or form_post (form_post needs -samesite none)")
	flag.Parse()
	site, err := parseSameSite(*sameSite)
	if err != nil {
		log.Fatal(err)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	base := strings.TrimSuffix(*publicURL, "/")
	if base == "" {
		base = "http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	}
	var a *app
	if *demoMode {
		d, err := newDemo(demoConfig{Provider: *provider, Base: base, SameSite: site, ResponseMode: *responseMode})
		if err != nil {
			log.Fatal(err)
		}
		defer d.Close()
		a = d.app
		if d.azure != nil {
			fmt.Printf("webapp: onboard the customer tenant %s at %s/tenants\n", demoCustomerTenant, base)
		}
	} else {
		if *clientID == "" {
			log.Fatal("give -client-id (and AZURE_CLIENT_SECRET), or -demo")
		}
		files, err := tokenstore.OpenFile(*dir)
		if err != nil {
			log.Fatal(err)
		}
		keys, err := tokenstore.LoadOrCreateKeyFile(filepath.Clean(*dir) + ".key")
		if err != nil {
			log.Fatal(err)
		}
		store, err := tokenstore.NewEncrypted(files, tokenstore.EncryptionConfig{Keys: keys})
		if err != nil {
			log.Fatal(err)
		}
		cfg := azure.Config{ClientID: *clientID, Tenant: *tenant,
			ClientSecret: oauth2client.Secret(os.Getenv("AZURE_CLIENT_SECRET")), ResponseMode: *responseMode}
		p, err := azure.New(cfg)
		if err != nil {
			log.Fatal(err)
		}
		a, err = newApp(base, store, p, appOptions{SameSite: site, FormPost: *responseMode == "form_post", Azure: cfg})
		if err != nil {
			log.Fatal(err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() { _ = a.client.Run(ctx) }() // proactive refresh
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	fmt.Printf("webapp: open %s/\n", base)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func parseSameSite(s string) (http.SameSite, error) {
	switch strings.ToLower(s) {
	case "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	case "unset":
		return http.SameSiteDefaultMode, nil
	}
	return 0, fmt.Errorf("-samesite %q: give lax, strict, none or unset", s)
}

// demoConfig configures the -demo setup.
type demoConfig struct {
	// Provider is the fake: "azure" (the default) or "google".
	Provider string
	// Base is the application's public URL.
	Base string
	// SameSite and ResponseMode are as in appOptions and azure.Config.
	SameSite     http.SameSite
	ResponseMode string
	// BrowserHost is the host name browsers reach the fake provider at
	// (mailtest's BrowserHost); empty means its loopback address.
	BrowserHost string
	// Clock is the application's clock, a test hook (a user who waits
	// too long); nil means the real one.
	Clock oauth2client.Clock
	// Log receives the application's log (default os.Stderr).
	Log io.Writer
}

// demo is the -demo setup: a fake provider with a sign-in page, a fake
// SMTP server that accepts its tokens, an in-memory store, and the app.
type demo struct {
	app    *app
	azure  *mailtest.Azure  // with Provider "azure"
	google *mailtest.Google // with Provider "google"
	smtp   *mailtest.SMTPServer
}

func newDemo(cfg demoConfig) (_ *demo, err error) {
	d := &demo{}
	defer func() { // on failure, stop what was started
		if err != nil {
			d.Close()
		}
	}()
	now := time.Now
	if cfg.Clock != nil {
		now = cfg.Clock.Now
	}
	cert, err := mailtest.NewCertificate()
	if err != nil {
		return nil, err
	}
	redirect := []string{cfg.Base + "/oauth2/callback"}
	startSMTP := func(tokens mailtest.TokenChecker) (oauth2client.ServerAddr, error) {
		d.smtp, err = mailtest.NewSMTPServer(mailtest.MailOptions{Tokens: tokens, TLS: cert.ServerConfig()})
		if err != nil {
			return oauth2client.ServerAddr{}, err
		}
		host, port, _ := net.SplitHostPort(d.smtp.Addr)
		n, _ := strconv.Atoi(port)
		return oauth2client.ServerAddr{Host: host, Port: n, Security: oauth2client.SecuritySTARTTLS}, nil
	}
	var p oauth2client.Provider
	var azureCfg azure.Config
	switch cfg.Provider {
	case "", "azure":
		if d.azure, err = mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: redirect, SignInPage: true, BrowserHost: cfg.BrowserHost}); err != nil {
			return nil, err
		}
		pc := d.azure.AzureConfig()
		if pc.SMTP, err = startSMTP(d.azure.Ledger()); err != nil {
			return nil, err
		}
		pc.ResponseMode, pc.Now = cfg.ResponseMode, now
		if p, err = azure.New(pc); err != nil {
			return nil, err
		}
		d.azure.AddTenant(demoCustomerTenant)
		azureCfg = pc
	case "google":
		if cfg.ResponseMode != "" && cfg.ResponseMode != "query" {
			return nil, fmt.Errorf("-response-mode %s: Google answers with a redirect (query) only", cfg.ResponseMode)
		}
		if d.google, err = mailtest.NewGoogle(mailtest.GoogleOptions{RedirectURIs: redirect, SignInPage: true, BrowserHost: cfg.BrowserHost}); err != nil {
			return nil, err
		}
		pc := d.google.GoogleConfig()
		pc.Now = now
		if pc.SMTP, err = startSMTP(d.google.Ledger()); err != nil {
			return nil, err
		}
		if p, err = google.New(pc); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("-provider %q: give azure or google", cfg.Provider)
	}
	d.app, err = newApp(cfg.Base, tokenstore.NewMemory(), p, appOptions{SameSite: cfg.SameSite,
		FormPost: cfg.ResponseMode == "form_post", Clock: cfg.Clock, MailTLS: cert.ClientConfig(), Log: cfg.Log, Azure: azureCfg})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Close stops the fakes.
func (d *demo) Close() {
	if d.azure != nil {
		d.azure.Close()
	}
	if d.google != nil {
		d.google.Close()
	}
	if d.smtp != nil {
		_ = d.smtp.Close()
	}
}

// app is the web application: one oauth2client.Client with one
// connection, and browser sessions in a cookie.
type app struct {
	client   *oauth2client.Client
	store    oauth2client.TokenStore
	log      *slog.Logger
	secure   bool // cookies only over https
	sameSite http.SameSite
	formPost bool
	mailTLS  *tls.Config
	// azure is the Azure connection's configuration (zero with another
	// provider) and tenants the onboarded customer tenants (onboard.go).
	azure   azure.Config
	tenants tenants
}

// appOptions configure newApp. The zero value is the recommended setup.
type appOptions struct {
	// SameSite is the session cookie's attribute: zero means Lax,
	// http.SameSiteDefaultMode no attribute. SameSite=None needs an https
	// base URL (the cookie is then Secure).
	SameSite http.SameSite
	// FormPost accepts the provider's response_mode=form_post answer (a
	// cross-site POST): see oauth2client.HandlerConfig.AllowFormPost.
	FormPost bool
	// Clock is the Client's clock (nil: the real one).
	Clock oauth2client.Clock
	// MailTLS verifies the mail servers (nil: the system's roots).
	MailTLS *tls.Config
	// Log receives the log (default os.Stderr).
	Log io.Writer
	// Azure is the Azure connection's configuration, from which /tenants
	// builds an app-only connection for each onboarded customer tenant
	// (zero: another provider, no onboarding).
	Azure azure.Config
}

func newApp(base string, store oauth2client.TokenStore, p oauth2client.Provider, o appOptions) (*app, error) {
	if o.SameSite == 0 {
		o.SameSite = http.SameSiteLaxMode
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	secure := strings.HasPrefix(base, "https://")
	if o.SameSite == http.SameSiteNoneMode && !secure {
		return nil, fmt.Errorf("a SameSite=None cookie must be Secure, which needs the application on https: give an https -public-url (%s is not)", base)
	}
	logger := slog.New(slog.NewTextHandler(o.Log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if o.FormPost && o.SameSite != http.SameSiteNoneMode {
		logger.Warn("webapp: with response_mode=form_post the provider's answer is a cross-site POST, which carries no SameSite=Lax or Strict cookie: every sign-in will fail until the session cookie is SameSite=None (-samesite none)")
	}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: base + "/oauth2/callback", Store: store, Clock: o.Clock, Logger: logger})
	if err != nil {
		return nil, err
	}
	if err := c.SetConnection("mail", p); err != nil {
		return nil, err
	}
	return &app{client: c, store: store, log: logger, secure: secure, sameSite: o.SameSite, formPost: o.FormPost, mailTLS: o.MailTLS, azure: o.Azure}, nil
}

// routes mounts the pages and the library's callback handler; unsafe
// cross-origin requests are refused (net/http's CrossOriginProtection),
// except the provider's form_post answer, which is cross-site by nature
// and protected by the state parameter.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /connect", a.connect)
	mux.HandleFunc("POST /disconnect/{mailbox}", a.disconnect)
	mux.HandleFunc("POST /send/{mailbox}", a.send)
	a.onboardRoutes(mux)
	callback := a.client.Handler(oauth2client.HandlerConfig{
		Session:        a.sessionOf,
		AllowFormPost:  a.formPost,
		OnAdminConsent: a.adminConsented,
		OnError: func(w http.ResponseWriter, r *http.Request, err error) {
			var ce *oauth2client.CallbackError
			status := http.StatusBadRequest
			if errors.As(err, &ce) {
				status = ce.Status
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			// UserMessage is safe to show; err.Error() is for the log only.
			_ = page.Execute(w, pageData{Error: oauth2client.UserMessage(err)})
		},
	})
	mux.Handle("GET /oauth2/callback", callback)
	cop := http.NewCrossOriginProtection()
	if a.formPost {
		mux.Handle("POST /oauth2/callback", callback)
		cop.AddInsecureBypassPattern("POST /oauth2/callback")
	}
	return cop.Handler(mux)
}

// session returns the browser's session ID, creating the cookie.
func (a *app) session(w http.ResponseWriter, r *http.Request) string {
	if sid := a.sessionOf(r); sid != "" {
		return sid
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	sid := hex.EncodeToString(b[:])
	// Secure whenever the app is served over https (the demo runs on
	// plain http://localhost). SameSite=Lax: sent with the provider's
	// redirect back to the callback (see HandlerConfig.Session).
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: sid, Path: "/", HttpOnly: true, Secure: a.secure, SameSite: a.sameSite}) // #nosec G124 -- Secure is set for https deployments
	return sid
}

func (a *app) sessionOf(r *http.Request) string {
	c, err := r.Cookie("sid")
	if err != nil || len(c.Value) != 32 {
		return ""
	}
	return c.Value
}

// account names a mailbox of a session's user in the store. A real
// application uses its own user and mailbox IDs.
func account(sid, mailbox string) string { return "web-" + sid[:12] + "-" + mailbox }

type mailboxRow struct {
	ID, Username, State, Expiry, NextRefresh, LastError string
}

type pageData struct {
	Mailboxes     []mailboxRow
	Error, Notice string
}

var page = template.Must(template.New("page").Parse(`<!doctype html><meta charset=utf-8><title>Mailboxes</title>
<h1>Mailboxes</h1>
{{with .Error}}<p role=alert id=error>{{.}}</p>{{end}}{{with .Notice}}<p role=status id=notice>{{.}}</p>{{end}}
<table><tr><th>Mailbox</th><th>Address</th><th>Status</th><th>Token expires</th><th>Next refresh</th><th></th></tr>
{{range .Mailboxes}}<tr id="mb-{{.ID}}"><td>{{.ID}}</td><td class=username>{{.Username}}</td><td class=state>{{.State}}</td><td>{{.Expiry}}</td><td>{{.NextRefresh}}</td>
<td><form method=post action="/send/{{.ID}}"><button id="send-{{.ID}}">Send a test message</button></form>
<form method=post action="/disconnect/{{.ID}}"><button id="disconnect-{{.ID}}">Disconnect</button></form>{{with .LastError}} {{.}}{{end}}</td></tr>
{{end}}</table>
<form method=post action="/connect" id=connect><input name=mailbox value=work pattern="[a-z0-9-]{1,32}" required> <button>Connect a mailbox</button></form>
`))

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	sid := a.session(w, r)
	var data pageData
	for _, mb := range a.mailboxes(r, sid) {
		info, err := a.client.Account(r.Context(), account(sid, mb))
		if err != nil {
			continue
		}
		row := mailboxRow{ID: mb, Username: info.Username, State: string(info.State), LastError: info.LastError}
		if !info.Expiry.IsZero() {
			row.Expiry = info.Expiry.Format(time.RFC3339)
		}
		if !info.NextRefresh.IsZero() {
			row.NextRefresh = info.NextRefresh.Format(time.RFC3339)
		}
		data.Mailboxes = append(data.Mailboxes, row)
		switch mb {
		case r.URL.Query().Get("sent"):
			data.Notice = "A test message was sent from " + info.Username + " to itself."
		case r.URL.Query().Get("notsent"):
			data.Error = "The test message from " + info.Username + " could not be sent; the server's log says why."
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = page.Execute(w, data)
}

// mailboxes lists the session's mailboxes from the store.
func (a *app) mailboxes(r *http.Request, sid string) []string {
	var out []string
	l, ok := a.store.(oauth2client.Lister)
	if !ok {
		return nil
	}
	all, err := l.List(r.Context())
	if err != nil {
		return nil
	}
	prefix := account(sid, "")
	for _, acct := range all {
		if mb, ok := strings.CutPrefix(acct, prefix); ok {
			out = append(out, mb)
		}
	}
	return out
}

func (a *app) connect(w http.ResponseWriter, r *http.Request) {
	sid := a.session(w, r)
	mb := r.FormValue("mailbox")
	if mb == "" || len(mb) > 32 || strings.Trim(mb, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		http.Error(w, "mailbox names are 1 to 32 of a-z, 0-9 and -", http.StatusBadRequest)
		return
	}
	authURL, err := a.client.StartAuthorization(r.Context(), "mail", account(sid, mb),
		&oauth2client.AuthOptions{Session: sid, ReturnTo: "/", Prompt: "select_account"})
	if err != nil {
		a.log.Error("webapp: could not start the sign-in", slog.String("error", err.Error()))
		http.Error(w, "could not start the sign-in", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, authURL, http.StatusSeeOther) // #nosec G710 -- the provider's authorization URL built by the library, not request input
}

func (a *app) disconnect(w http.ResponseWriter, r *http.Request) {
	sid := a.session(w, r)
	if err := a.client.Disconnect(r.Context(), account(sid, r.PathValue("mailbox"))); err != nil && !errors.Is(err, oauth2client.ErrNotFound) {
		http.Error(w, "could not disconnect the mailbox", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// send sends a test message from the mailbox to itself through the
// provider's SMTP server, logged in with the mailbox's token.
func (a *app) send(w http.ResponseWriter, r *http.Request) {
	sid := a.session(w, r)
	mb := r.PathValue("mailbox")
	outcome := "sent"
	if err := a.sendTest(r.Context(), account(sid, mb)); err != nil {
		a.log.Warn("webapp: test message not sent", slog.String("mailbox", mb), slog.String("error", err.Error()))
		outcome = "notsent"
	}
	http.Redirect(w, r, "/?"+outcome+"="+url.QueryEscape(mb), http.StatusSeeOther)
}

func (a *app) sendTest(ctx context.Context, acct string) error {
	info, err := a.client.Account(ctx, acct)
	if err != nil {
		return err
	}
	if strings.ContainsAny(info.Username, "\r\n<>") {
		return fmt.Errorf("webapp: the mailbox address %q cannot go into a message header", info.Username)
	}
	srv := info.Mail.SMTP
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)))
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cfg := &tls.Config{ServerName: srv.Host, MinVersion: tls.VersionTLS12}
	if a.mailTLS != nil {
		cfg = a.mailTLS.Clone()
	}
	var c *smtp.Client
	switch srv.Security {
	case oauth2client.SecurityTLS:
		c = smtp.NewClient(tls.Client(conn, cfg))
	case oauth2client.SecuritySTARTTLS:
		if c, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
			_ = conn.Close()
			return err
		}
	default:
		_ = conn.Close()
		return fmt.Errorf("webapp: %s:%d is not protected by TLS; not sending a token to it", srv.Host, srv.Port)
	}
	defer c.Close()
	if err := mailauth.SMTP(ctx, a.client, c, acct, nil); err != nil {
		return err
	}
	msg := "From: <" + info.Username + ">\r\nTo: <" + info.Username + ">\r\nSubject: oauth2mail test message\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nSent with an OAuth2 token by the oauth2mail webapp example.\r\n"
	if err := c.SendMail(info.Username, []string{info.Username}, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}
