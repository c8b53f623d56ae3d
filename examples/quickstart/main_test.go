package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is an http.RoundTripper that notes every secret crossing the
// wire to the identity provider: what the client sends (client secret,
// authorization code, PKCE verifier, refresh token, client assertion) and
// what the provider returns (access, refresh and ID tokens).
type recorder struct {
	base http.RoundTripper

	mu      sync.Mutex
	secrets map[string]string // value -> where it was seen
}

func (rc *recorder) note(where, v string) {
	if len(v) < 8 {
		return
	}
	rc.mu.Lock()
	if _, seen := rc.secrets[v]; !seen {
		rc.secrets[v] = where
	}
	rc.mu.Unlock()
}

func (rc *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		if form, err := url.ParseQuery(string(b)); err == nil {
			for _, k := range []string{"client_secret", "code", "code_verifier", "refresh_token", "client_assertion", "token"} {
				rc.note("request "+k, form.Get(k))
			}
		}
	}
	resp, err := rc.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var tok map[string]any
	if json.Unmarshal(b, &tok) == nil {
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			s, _ := tok[k].(string)
			rc.note("response "+k, s)
		}
	}
	return resp, nil
}

// TestQuickstart runs the whole flow against each fake provider with the
// library's debug log on and every provider exchange recorded, and checks
// the steps and that no secret that crossed the wire appears in a log
// line, in the program's output or in the files at rest.
func TestQuickstart(t *testing.T) {
	for _, tc := range []struct {
		provider, user string
	}{
		{"azure", "alice@contoso.example"},
		{"google", "bob@gmail.example"},
	} {
		for _, handler := range []string{"text", "json"} {
			t.Run(tc.provider+"/"+handler+" log", func(t *testing.T) {
				testQuickstart(t, tc.provider, tc.user, handler)
			})
		}
	}
}

// testQuickstart runs the quickstart against provider with the library's
// debug log going to a slog handler of the given kind ("text" or
// "json": a JSONHandler encodes structs with encoding/json, so it
// catches a redaction that only fmt honours).
func testQuickstart(t *testing.T, provider, user, handler string) {
	var out, logs bytes.Buffer
	newHandler := func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }
	if handler == "json" {
		newHandler = func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }
	}
	rec := &recorder{secrets: map[string]string{}}
	dir := filepath.Join(t.TempDir(), "tokens")
	opts := options{dir: dir, provider: provider,
		logger: slog.New(newHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		httpClient: func(c *http.Client) *http.Client {
			base := c.Transport
			if base == nil {
				base = http.DefaultTransport
			}
			rec.base = base
			wrapped := *c
			wrapped.Transport = rec
			return &wrapped
		}}
	require.NoError(t, run(opts, &out), out.String())
	for _, want := range []string{
		"connected account-42 as " + user,
		"the server files sent mail in Sent itself",
		"IMAP login with XOAUTH2 succeeded; mailboxes: Drafts, INBOX, Sent",
		"SMTP: message from " + user + " to bob@example.net accepted",
		"token refreshed",
		"IMAP login with the refreshed token succeeded (2 logins accepted, 0 refused)",
		"quickstart: all steps passed",
	} {
		assert.Contains(t, out.String(), want)
	}

	// What must stay secret, as seen on the wire.
	kinds := map[string]bool{}
	for _, where := range rec.secrets {
		kinds[where] = true
	}
	for _, k := range []string{"request client_secret", "request code", "request code_verifier",
		"response access_token", "response refresh_token", "response id_token"} {
		require.True(t, kinds[k], "the recorder saw no %s (saw %v)", k, kinds)
	}
	assert.Contains(t, logs.String(), "oauth2client: stored grant", "the debug log ran")

	// Where it must not appear: logs, output, files at rest.
	places := map[string]string{"debug log": logs.String(), "output": out.String()}
	require.NoError(t, filepath.WalkDir(filepath.Dir(dir), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		places[p] = string(b)
		return err
	}))
	for secret, where := range rec.secrets {
		for place, text := range places {
			assert.False(t, strings.Contains(text, secret), "%s (%s) appears in %s", where, secret[:4]+"…", place)
		}
	}

	fi, err := os.Stat(dir + ".key")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the key file is private")
}

func TestQuickstartUnknownProvider(t *testing.T) {
	var out bytes.Buffer
	err := run(options{dir: t.TempDir(), provider: "yahoo"}, &out)
	assert.ErrorContains(t, err, `unknown -provider "yahoo": use azure or google`)
}
