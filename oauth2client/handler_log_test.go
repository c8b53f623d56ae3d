package oauth2client_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func logHarness(t *testing.T) (*oauth2client.Client, *fakeProvider, *mailtest.Clock, *syncBuffer) {
	t.Helper()
	clock := mailtest.NewClock(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	buf := &syncBuffer{}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: tokenstore.NewMemory(), Clock: clock,
		Logger: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	p := newFakeProvider(clock.Now)
	require.NoError(t, c.SetConnection("corp", p))
	return c, p, clock, buf
}

// TestCallbackLogQuotesProviderText: error and error_description of a
// callback are the attacker's text; the log shows them quoted, escaped
// and cut.
func TestCallbackLogQuotesProviderText(t *testing.T) {
	c, p, _, buf := logHarness(t)
	authURL, err := c.StartAuthorization(context.Background(), "corp", "a", nil)
	require.NoError(t, err)
	q := p.approve(authURL)
	q.Del("code")
	q.Set("error", "access_denied<img src=x>")
	q.Set("error_description", "<script>alert(1)</script>\u202eevil"+strings.Repeat("x", 1000))
	w := httptest.NewRecorder()
	c.Handler(oauth2client.HandlerConfig{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, redirect+"?"+q.Encode(), nil))
	require.Equal(t, http.StatusBadRequest, w.Code)

	out := buf.String()
	require.Contains(t, out, "callback failed")
	assert.NotContains(t, out, "<script>")
	assert.NotContains(t, out, "<img")
	assert.NotContains(t, out, "\u202e", "no bidi control reaches the log")
	assert.Contains(t, out, `\\u003cscript\\u003e`, "the description is quoted with < escaped")
	assert.NotContains(t, out, strings.Repeat("x", 201), "the description is cut")
	assert.Less(t, len(out), 1000)
}

// TestCallbackFailuresRateLimited: a flood of bogus callbacks writes a
// bounded number of log lines, and the next line says how many were left
// out.
func TestCallbackFailuresRateLimited(t *testing.T) {
	c, _, clock, buf := logHarness(t)
	h := c.Handler(oauth2client.HandlerConfig{})
	bogus := func() {
		q := url.Values{"state": {strings.Repeat("A", 43)}, "code": {"x"}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, redirect+"?"+q.Encode(), nil))
		require.Equal(t, http.StatusBadRequest, w.Code)
	}
	for range 1000 {
		bogus()
	}
	lines := strings.Count(buf.String(), "callback failed")
	assert.LessOrEqual(t, lines, 10, "the flood is rate-limited")
	assert.Positive(t, lines)

	clock.Advance(2 * time.Second)
	bogus()
	out := buf.String()
	assert.Equal(t, lines+1, strings.Count(out, "callback failed"))
	last := out[strings.LastIndex(out, "callback failed"):]
	assert.Contains(t, last, "suppressed="+strconv.Itoa(1000-lines))
}
