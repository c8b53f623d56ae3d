package mailtest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/google"
	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// echoModes repeat a request the ways providers, proxies and firewalls
// do: whole (form-encoded, decoded, as JSON), cut, and base64-encoded.
var echoModes = map[string]func(r *http.Request) string{
	"form": func(r *http.Request) string { return "request was: " + r.PostForm.Encode() },
	"decoded": func(r *http.Request) string {
		var b strings.Builder
		for _, k := range sortedKeys(r.PostForm) {
			fmt.Fprintf(&b, "%s: %s; ", k, r.PostForm.Get(k))
		}
		return b.String()
	},
	"cut": func(r *http.Request) string {
		var b strings.Builder
		for _, k := range sortedKeys(r.PostForm) {
			v := r.PostForm.Get(k)
			fmt.Fprintf(&b, "%s=%s… ", k, v[:min(len(v), 12+len(v)/3)])
		}
		return b.String()
	},
	"json": func(r *http.Request) string { b, _ := json.Marshal(r.PostForm); return string(b) },
	"base64": func(r *http.Request) string {
		return "dump " + base64.StdEncoding.EncodeToString([]byte(r.PostForm.Encode())) + " " +
			base64.RawURLEncoding.EncodeToString([]byte("x"+r.PostForm.Get("client_secret")+r.PostForm.Get("refresh_token")))
	},
}

func sortedKeys(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// wireSecrets records every secret a client sent to a fake.
type wireSecrets struct {
	mu sync.Mutex
	m  map[string]bool
}

func (w *wireSecrets) record(r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range []string{"client_secret", "client_assertion", "assertion", "code", "code_verifier", "refresh_token", "token", "device_code"} {
		for _, v := range r.PostForm[k] {
			if len(v) >= 8 {
				w.m[v] = true
			}
		}
	}
}

func (w *wireSecrets) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.m))
	for v := range w.m {
		out = append(out, v)
	}
	return out
}

// fanout sends every record to each handler.
type fanout []slog.Handler

func (f fanout) Enabled(context.Context, slog.Level) bool { return true }
func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range f {
		_ = h.Handle(ctx, r.Clone())
	}
	return nil
}
func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}
func (f fanout) WithGroup(n string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(n)
	}
	return out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// leakEnv is a Client with both slog handlers at debug level, hooks that
// keep their errors, and an encrypted File store, for one provider.
type leakEnv struct {
	client   *oauth2client.Client
	logs     lockedBuffer
	mu       sync.Mutex
	outputs  []string // errors returned and handed to hooks
	dir      string
	accounts []string
}

const echoRedirect = "http://localhost/oauth2/callback"

func newLeakEnv(t *testing.T, p oauth2client.Provider) *leakEnv {
	t.Helper()
	e := &leakEnv{dir: filepath.Join(t.TempDir(), "tokens")}
	files, err := tokenstore.OpenFile(e.dir)
	require.NoError(t, err)
	key, err := tokenstore.NewKey("k1")
	require.NoError(t, err)
	store, err := tokenstore.NewEncrypted(files, tokenstore.EncryptionConfig{Keys: []tokenstore.Key{key}})
	require.NoError(t, err)
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	log := slog.New(fanout{slog.NewTextHandler(&e.logs, opts), slog.NewJSONHandler(&e.logs, opts)})
	keep := func(_ context.Context, _ string, err error) { e.keep(err) }
	e.client, err = oauth2client.New(oauth2client.Config{RedirectURL: echoRedirect, Store: store, Logger: log,
		Hooks: oauth2client.Hooks{ReauthRequired: keep, RefreshFailed: keep}})
	require.NoError(t, err)
	require.NoError(t, e.client.SetConnection("conn", p))
	return e
}

func (e *leakEnv) keep(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outputs = append(e.outputs, err.Error())
}

// check fails if any recorded secret shows in what the application can
// see: errors, hook errors, both logs, Account and the store's raw bytes.
func (e *leakEnv) check(t *testing.T, secrets []string) {
	t.Helper()
	ctx := context.Background()
	var texts []string
	e.mu.Lock()
	texts = append(texts, e.outputs...)
	e.mu.Unlock()
	texts = append(texts, e.logs.String())
	for _, a := range e.accounts {
		info, err := e.client.Account(ctx, a)
		if err == nil {
			b, _ := json.Marshal(info)
			texts = append(texts, string(b), info.LastError)
		}
	}
	_ = filepath.WalkDir(e.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path) // #nosec G304 -- the test's own temporary store
			texts = append(texts, string(b))
		}
		return nil
	})
	all := strings.Join(texts, "\n")
	require.NotEmpty(t, secrets)
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s)} {
			n := len(form)
			if len(s) >= 16 {
				n = 8
			}
			for i := 0; i+n <= len(form); i++ {
				if strings.Contains(all, form[i:i+n]) {
					t.Fatalf("a piece of a secret (%q of %d characters) leaked into:\n%s", form[i:i+n], len(s), excerpt(all, form[i:i+n]))
				}
			}
		}
	}
}

func excerpt(all, piece string) string {
	i := strings.Index(all, piece)
	return all[max(0, i-300):min(len(all), i+100)]
}

// TestEchoedSecretsNeverLeak makes the fake providers echo each token
// request (whole, cut, URL-encoded, as JSON, base64-encoded) in every
// error shape they produce, through every provider and the real Client
// (callback exchange, refresh, app-only), and checks that no secret of
// the request appears in an error, a hook's error, either slog handler's
// output at debug level, Account or the raw bytes of the store.
func TestEchoedSecretsNeverLeak(t *testing.T) {
	for mode, echo := range echoModes {
		t.Run("azure/"+mode, func(t *testing.T) { echoAzure(t, echo) })
		t.Run("google/"+mode, func(t *testing.T) { echoGoogle(t, echo) })
		t.Run("generic/"+mode, func(t *testing.T) { echoGeneric(t, echo) })
	}
}

func echoAzure(t *testing.T, echo func(*http.Request) string) {
	ctx := context.Background()
	wire := &wireSecrets{m: map[string]bool{}}
	var mu sync.Mutex
	var failWith *mailtest.AzureError
	var echoBody bool
	az, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{echoRedirect}, AppRoles: []string{"IMAP.AccessAsApp"},
		Echo: func(r *http.Request) string { wire.record(r); return echo(r) },
		Fail: func(r *http.Request) *mailtest.AzureError {
			wire.record(r)
			mu.Lock()
			defer mu.Unlock()
			if failWith == nil {
				return nil
			}
			f := *failWith
			if echoBody {
				f.Body = "<html>proxy error " + echo(r) + "</html>"
			}
			return &f
		}})
	require.NoError(t, err)
	t.Cleanup(az.Close)
	setFail := func(f *mailtest.AzureError, body bool) { mu.Lock(); failWith, echoBody = f, body; mu.Unlock() }
	shapes := []struct {
		name string
		f    *mailtest.AzureError
		body bool
	}{
		{"invalid_grant", &mailtest.AzureError{Error: "invalid_grant", Code: 70008, Description: "The refresh token has expired."}, false},
		{"invalid_client 401", &mailtest.AzureError{Status: 401, Error: "invalid_client", Code: 7000215, Description: "Invalid client secret provided."}, false},
		{"503", &mailtest.AzureError{Status: 503, Error: "temporarily_unavailable", Code: 90033, Description: "A transient error."}, false},
		{"500 HTML", &mailtest.AzureError{Status: 500}, true},
		{"200 not JSON", &mailtest.AzureError{Status: 200}, true},
	}
	cfg := az.AzureConfig()
	p, err := azure.New(cfg)
	require.NoError(t, err)
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			e := newLeakEnv(t, p)
			// Code exchange through the callback.
			setFail(sh.f, sh.body)
			e.accounts = append(e.accounts, "x-"+sh.name, "r-"+sh.name)
			e.keep(mailtest.Connect(ctx, e.client, az, "conn", "x-"+sh.name, nil))
			// Refresh of a connected account.
			setFail(nil, false)
			require.NoError(t, mailtest.Connect(ctx, e.client, az, "conn", "r-"+sh.name, nil))
			setFail(sh.f, sh.body)
			_, err := e.client.Refresh(ctx, "r-"+sh.name)
			e.keep(err)
			setFail(nil, false)
			e.check(t, append(wire.all(), cfg.ClientSecret.Reveal()))
		})
	}
	t.Run("app-only", func(t *testing.T) {
		acfg := az.AzureConfig()
		acfg.AppOnly = true
		ap, err := azure.New(acfg)
		require.NoError(t, err)
		e := newLeakEnv(t, ap)
		for _, sh := range shapes {
			setFail(sh.f, sh.body)
			_, err := e.client.ConnectAppOnly(ctx, "conn", "app-"+sh.name, "shared@contoso.example")
			e.keep(err)
		}
		setFail(nil, false)
		e.check(t, append(wire.all(), acfg.ClientSecret.Reveal()))
	})
}

func echoGoogle(t *testing.T, echo func(*http.Request) string) {
	ctx := context.Background()
	wire := &wireSecrets{m: map[string]bool{}}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	const sa = "mailer@proj.iam.gserviceaccount.com"
	fake, err := mailtest.NewGoogle(mailtest.GoogleOptions{RedirectURIs: []string{echoRedirect},
		Users:           []mailtest.GoogleUser{{Email: "dave@corp.example", Subject: "77", Domain: "corp.example"}},
		ServiceAccounts: []mailtest.GoogleServiceAccount{{Email: sa, PublicKey: &key.PublicKey}},
		Echo:            func(r *http.Request) string { wire.record(r); return echo(r) }})
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	saJSON, err := json.Marshal(map[string]string{"type": "service_account", "client_email": sa, "private_key_id": "kid-1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	require.NoError(t, err)
	p, err := google.New(google.Config{ClientID: fake.ClientID(), ClientSecret: oauth2client.Secret(fake.ClientSecret()),
		AuthURL: fake.AuthURL(), TokenURL: fake.TokenURL(), RevokeURL: fake.RevokeURL(), Issuer: fake.Issuer(), HTTPClient: fake.Client(),
		ServiceAccount: google.ServiceAccount{JSONKey: saJSON}})
	require.NoError(t, err)
	shapes := []mailtest.GoogleFailure{
		{Error: "invalid_grant", Description: "Token has been expired or revoked."},
		{Status: 401, Error: "invalid_client", Description: "Unauthorized"},
		{Status: 503}, // HTML, as Google's front end
		{Status: 500, Error: "server_error", Description: "Internal error."},
	}
	for _, sh := range shapes {
		t.Run(fmt.Sprintf("%d %s", max(sh.Status, 400), sh.Error), func(t *testing.T) {
			e := newLeakEnv(t, p)
			e.accounts = []string{"x", "r", "app"}
			fake.FailNext(sh)
			e.keep(mailtest.Connect(ctx, e.client, fake, "conn", "x", nil))
			require.NoError(t, mailtest.Connect(ctx, e.client, fake, "conn", "r", nil))
			fake.FailNext(sh)
			_, err := e.client.Refresh(ctx, "r")
			e.keep(err)
			fake.FailNext(sh)
			_, err = e.client.ConnectAppOnly(ctx, "conn", "app", "dave@corp.example")
			e.keep(err)
			e.check(t, append(wire.all(), fake.ClientSecret()))
		})
	}
}

// echoGeneric runs the generic provider against an httptest token
// endpoint that fails in every shape x/oauth2 parses (JSON, form-encoded,
// plain text), echoing the request.
func echoGeneric(t *testing.T, echo func(*http.Request) string) {
	ctx := context.Background()
	wire := &wireSecrets{m: map[string]bool{}}
	const clientSecret = "generic-client-secret-0123456789"
	var mu sync.Mutex
	var shape string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		wire.record(r)
		mu.Lock()
		sh := shape
		mu.Unlock()
		text := echo(r)
		if r.URL.Path == "/userinfo" {
			// Without an Issuer the provider ignores id_tokens and asks
			// userinfo whose mailbox the access token opens.
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"sub":"s1","email":"user@generic.example","email_verified":true}`)
			return
		}
		switch sh {
		case "ok":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"generic-access-token-0123456789","token_type":"Bearer","expires_in":3600,"refresh_token":"generic-refresh-token-abcdefghijklmnop","id_token":"`+idToken()+`"}`)
		case "json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			b, _ := json.Marshal(map[string]string{"error": "invalid_grant", "error_description": "bad grant " + text, "error_uri": "https://idp.example/e?" + r.PostForm.Encode()})
			_, _ = w.Write(b)
		case "form":
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, url.Values{"error": {"invalid_request"}, "error_description": {text}}.Encode()+"&"+r.PostForm.Encode())
		case "401":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client","echo":`+strings.TrimSpace(mustJSON(text))+`}`)
		case "5xx":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<h1>Bad gateway</h1>"+text)
		}
	}))
	t.Cleanup(srv.Close)
	p, err := provider.NewGeneric(provider.GenericConfig{Name: "generic", ClientID: "generic-client", ClientSecret: clientSecret,
		AuthURL: srv.URL + "/authorize", TokenURL: srv.URL + "/token", RevokeURL: srv.URL + "/token", UserinfoURL: srv.URL + "/userinfo", HTTPClient: srv.Client(),
		Mail: oauth2client.MailService{IMAP: oauth2client.ServerAddr{Host: "imap.example", Port: 993}, SMTP: oauth2client.ServerAddr{Host: "smtp.example", Port: 465},
			Mechanisms: []string{"XOAUTH2"}}})
	require.NoError(t, err)
	set := func(s string) { mu.Lock(); shape = s; mu.Unlock() }
	callback := func(e *leakEnv, account string) error {
		authURL, err := e.client.StartAuthorization(ctx, "conn", account, nil)
		require.NoError(t, err)
		u, err := url.Parse(authURL)
		require.NoError(t, err)
		q := url.Values{"state": {u.Query().Get("state")}, "code": {"generic-code-" + rand.Text()}}
		return serveCallback(ctx, e.client, echoRedirect+"?"+q.Encode())
	}
	for _, sh := range []string{"json", "form", "401", "5xx"} {
		t.Run(sh, func(t *testing.T) {
			e := newLeakEnv(t, p)
			e.accounts = []string{"x", "r"}
			set(sh)
			e.keep(callback(e, "x"))
			set("ok")
			require.NoError(t, callback(e, "r"))
			set(sh)
			_, err := e.client.Refresh(ctx, "r")
			e.keep(err)
			e.keep(e.client.Disconnect(ctx, "r")) // revocation fails too
			e.check(t, append(wire.all(), clientSecret))
		})
	}
}

func mustJSON(s string) string { b, _ := json.Marshal(s); return string(b) }

// idToken is an unsigned id_token naming the mailbox (the generic
// provider decodes, not verifies, what the token endpoint sends).
func idToken() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"sub":"s1","email":"user@generic.example"}`)) + ".sig"
}

// serveCallback sends the browser's return to the Client's handler and
// returns the error it reports, if any.
func serveCallback(ctx context.Context, c *oauth2client.Client, back string) error {
	var failed error
	h := c.Handler(oauth2client.HandlerConfig{OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
		failed = err
		w.WriteHeader(http.StatusBadRequest)
	}})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, http.MethodGet, back, nil))
	return failed
}
