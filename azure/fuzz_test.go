package azure

import (
	"errors"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// traceLine is how Entra appends its trace information.
var traceLine = regexp.MustCompile(`(^|\s)(Trace ID|Correlation ID|Timestamp):`)

// FuzzMapResponse feeds arbitrary Entra error answers to the mapping:
// no panic, always a *ProviderError (5xx classified transient), a bounded error string,
// and the trace lines Entra appends never in Description.
func FuzzMapResponse(f *testing.F) {
	f.Add(401, []byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0f\r\nCorrelation ID: 1a\r\nTimestamp: 2026-11-24 10:00:00Z","error_codes":[7000215],"timestamp":"2026-11-24 10:00:00Z","trace_id":"0f","correlation_id":"1a"}`))
	f.Add(400, []byte(`{"error":"invalid_grant","error_codes":[]}`))
	f.Add(400, []byte(`{"error":"invalid_grant","error_codes":[-1,99999999999]}`))
	f.Add(503, []byte(`<html>Service Unavailable</html>`))
	f.Add(429, []byte(``))
	p, err := New(Config{ClientID: "11111111-1111-4111-8111-111111111111", Tenant: "contoso.example", ClientSecret: "secret-value~x",
		Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {string(body[:min(len(body), 20)])}}}
		err := p.mapResponse(&oauth2client.ProviderError{Provider: "azure", Op: "refresh"}, resp, body)
		var pe *oauth2client.ProviderError
		if !errors.As(err, &pe) {
			t.Fatalf("%T is not a *ProviderError", err)
		}
		if status >= 500 && pe.Class != oauth2client.ClassTransient {
			t.Fatalf("HTTP %d classified %v, not transient", status, pe.Class)
		}
		if pe.RetryAfter < 0 {
			t.Fatalf("negative Retry-After %v", pe.RetryAfter)
		}
		if traceLine.MatchString(pe.Description) {
			t.Fatalf("trace lines kept: %q", pe.Description)
		}
		if msg := err.Error(); len(msg) > 2*len(body)+1024 {
			t.Fatalf("error string of %d bytes for a %d-byte body", len(msg), len(body))
		}
	})
}
