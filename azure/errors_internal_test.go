package azure

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/internal/oauthflow"
)

func TestCleanDescription(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"AADSTS70008: The code expired.\r\nTrace ID: a\r\nCorrelation ID: b\r\nTimestamp: 2026-11-24 10:00:00Z", "The code expired."},
		{"AADSTS70008: The code expired. Trace ID: a Correlation ID: b Timestamp: c", "The code expired."},
		{"plain text", "plain text"},
	} {
		assert.Equal(t, tt.want, cleanDescription(tt.in))
	}
}

func TestScrub(t *testing.T) {
	in := "http call(https://login.example/t/oauth2/v2.0/token?code=SECRETCODE)(POST) error: reply status code was 400:\n{\"error\":\"x\",\"refresh_token\":\"RT\"}"
	out := stripBodies(in)
	assert.NotContains(t, out, "SECRETCODE")
	assert.NotContains(t, out, "RT\"")
	assert.Contains(t, out, "reply status code was 400")

	raw := stripBodies("json decode error: invalid character 'E' looking for beginning of value\nraw message was: ECHO client_secret=S3CR3T&refresh_token=RT")
	assert.NotContains(t, raw, "S3CR3T")
	assert.Contains(t, raw, "raw message was: [body omitted]")
}

func TestResponseBodiesAreBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 3<<20))
	}))
	defer srv.Close()
	p, err := New(Config{ClientID: "11111111-1111-4111-8111-111111111111", Tenant: "contoso.example", ClientSecret: "v~alue", HTTPClient: srv.Client()})
	require.NoError(t, err)
	resp, err := p.hc.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Len(t, b, oauthflow.MaxBody, "MSAL never sees more than MaxBody bytes of an answer")
}
