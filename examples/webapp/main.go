// Command webapp is a small web application that lets a signed-in user
// connect mailboxes with OAuth2: a start page, the library's callback
// handler, each mailbox's status, and disconnect. Authorizations are
// bound to the browser session.
//
//	go run ./examples/webapp -demo      # against a fake Entra ID; open the printed URL
//
//	AZURE_CLIENT_SECRET=... go run ./examples/webapp -addr :8080 \
//	    -public-url https://mail.example.com -client-id 00000000-... -tenant organizations
//
// In -demo mode the fake Entra ID signs in alice@contoso.example without
// asking (the browser will warn about its self-signed certificate).
//
// /tenants onboards a customer tenant of a multi-tenant app through admin
// consent (onboard.go); in -demo mode the fake knows a customer tenant
// whose ID the program prints.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

func main() {
	demo := flag.Bool("demo", false, "use an in-process fake Entra ID and an in-memory store")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	publicURL := flag.String("public-url", "", "the URL users reach this server at (default http://<addr>); the callback is <public-url>/oauth2/callback")
	clientID := flag.String("client-id", "", "Application (client) ID (AZURE_CLIENT_SECRET holds the secret's Value)")
	tenant := flag.String("tenant", "organizations", "Directory (tenant) ID, or organizations for any work account")
	dir := flag.String("store", "oauth2mail-tokens", "directory of the encrypted token store (not with -demo)")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	base := strings.TrimSuffix(*publicURL, "/")
	if base == "" {
		base = "http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	}
	var a *app
	if *demo {
		entra, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{base + "/oauth2/callback"}})
		if err != nil {
			log.Fatal(err)
		}
		defer entra.Close()
		entra.AddTenant(demoCustomerTenant)
		fmt.Printf("webapp: onboard the customer tenant %s at %s/tenants\n", demoCustomerTenant, base)
		a, err = newApp(base, tokenstore.NewMemory(), azure.Config{ClientID: entra.ClientID(), Tenant: entra.Tenant(),
			ClientSecret: oauth2client.Secret(entra.ClientSecret()), AuthorityURL: entra.URL(), HTTPClient: entra.Client()})
		if err != nil {
			log.Fatal(err)
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
		a, err = newApp(base, store, azure.Config{ClientID: *clientID, Tenant: *tenant,
			ClientSecret: oauth2client.Secret(os.Getenv("AZURE_CLIENT_SECRET"))})
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

// app is the web application: one oauth2client.Client with one
// connection, and browser sessions in a cookie.
type app struct {
	client *oauth2client.Client
	store  oauth2client.TokenStore
	secure bool // cookies only over https
	// azure is the connection's configuration and tenants the onboarded
	// customer tenants (onboard.go).
	azure   azure.Config
	tenants tenants
}

func newApp(base string, store oauth2client.TokenStore, cfg azure.Config) (*app, error) {
	p, err := azure.New(cfg)
	if err != nil {
		return nil, err
	}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: base + "/oauth2/callback", Store: store,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		return nil, err
	}
	if err := c.SetConnection("m365", p); err != nil {
		return nil, err
	}
	return &app{client: c, store: store, secure: strings.HasPrefix(base, "https://"), azure: cfg}, nil
}

// routes mounts the pages and the library's callback handler; unsafe
// cross-origin requests are refused (net/http's CrossOriginProtection).
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /connect", a.connect)
	mux.HandleFunc("POST /disconnect/{mailbox}", a.disconnect)
	a.onboardRoutes(mux)
	mux.Handle("GET /oauth2/callback", a.client.Handler(oauth2client.HandlerConfig{
		Session:        a.sessionOf,
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
	}))
	return http.NewCrossOriginProtection().Handler(mux)
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
	// plain http://localhost).
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: sid, Path: "/", HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode}) // #nosec G124 -- Secure is set for https deployments
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
	Mailboxes []mailboxRow
	Error     string
}

var page = template.Must(template.New("page").Parse(`<!doctype html><meta charset=utf-8><title>Mailboxes</title>
<h1>Mailboxes</h1>
{{with .Error}}<p role=alert>{{.}}</p>{{end}}
<table><tr><th>Mailbox</th><th>Address</th><th>Status</th><th>Token expires</th><th>Next refresh</th><th></th></tr>
{{range .Mailboxes}}<tr><td>{{.ID}}</td><td>{{.Username}}</td><td class=state>{{.State}}</td><td>{{.Expiry}}</td><td>{{.NextRefresh}}</td>
<td><form method=post action="/disconnect/{{.ID}}"><button>Disconnect</button></form>{{with .LastError}} {{.}}{{end}}</td></tr>
{{end}}</table>
<form method=post action="/connect"><input name=mailbox value=work pattern="[a-z0-9-]{1,32}" required> <button>Connect a mailbox</button></form>
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
	authURL, err := a.client.StartAuthorization(r.Context(), "m365", account(sid, mb),
		&oauth2client.AuthOptions{Session: sid, ReturnTo: "/", Prompt: "select_account"})
	if err != nil {
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
