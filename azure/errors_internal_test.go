package azure

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"-3", 0},
		{"Tue, 24 Nov 2026 10:01:30 GMT", 90 * time.Second},
		{"Tue, 24 Nov 2026 09:59:00 GMT", 0},
		{"soon", 0},
	} {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, retryAfter(tt.in, now))
		})
	}
}

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
	out := scrub(in)
	assert.NotContains(t, out, "SECRETCODE")
	assert.NotContains(t, out, "RT\"")
	assert.Contains(t, out, "reply status code was 400")
}
