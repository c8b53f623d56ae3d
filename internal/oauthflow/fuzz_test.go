package oauthflow_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/oauth2mail/oauth2mail/internal/oauthflow"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// FuzzFromResponse feeds arbitrary bodies and statuses to the error-body
// parsing shared by the Google and generic providers: no panic, always a
// classified *ProviderError, and an error string of bounded size that
// never echoes more than the provider's error code and description.
func FuzzFromResponse(f *testing.F) {
	f.Add(400, []byte(`{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`))
	f.Add(401, []byte(`{"error":"invalid_client","error_description":"Unauthorized"}`))
	f.Add(503, []byte(`<html>Service Unavailable</html>`))
	f.Add(429, []byte(``))
	f.Add(400, []byte(`{"error":{"code":400,"message":"nested"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {string(body[:min(len(body), 16)])}}}
		pe := oauthflow.FromResponse("fuzz", "refresh", resp, body, nil, time.Unix(0, 0))
		if pe == nil {
			t.Fatal("nil error")
		}
		var target *oauth2client.ProviderError
		if !errors.As(pe, &target) {
			t.Fatal("not a *ProviderError")
		}
		if pe.RetryAfter < 0 {
			t.Fatalf("negative Retry-After %v", pe.RetryAfter)
		}
		if msg := pe.Error(); len(msg) > 2*len(body)+512 {
			t.Fatalf("error string of %d bytes for a %d-byte body", len(msg), len(body))
		}
		b := oauthflow.ParseBody(body)
		if b.Error != pe.Code {
			t.Fatalf("code %q, parsed %q", pe.Code, b.Error)
		}
	})
}
