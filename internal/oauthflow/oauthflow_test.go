package oauthflow

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"120", 2 * time.Minute}, {" 7 ", 7 * time.Second}, {"-5", 0}, {"0", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"70017000000000", MaxRetryAfter}, // found by FuzzFromResponse: overflowed time.Duration
		{"99999999999999999999", 0},       // not an int64: unparsable
		{"Fri, 31 Dec 2999 23:59:59 GMT", MaxRetryAfter},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		assert.Equal(t, tc.want, RetryAfter(h, now), tc.v)
	}
}

func TestClaims(t *testing.T) {
	c, err := Claims("e30.eyJlbWFpbCI6ImFAYi5leGFtcGxlIn0.c2ln")
	require.NoError(t, err)
	assert.Equal(t, "a@b.example", String(c, "email"))
	assert.Equal(t, "", String(c, "sub"))
	for _, bad := range []string{"", "a.b", "e30.!!!.x", "e30.bm90IGpzb24.x"} {
		_, err := Claims(bad)
		assert.Error(t, err, bad)
	}
}

func TestError(t *testing.T) {
	pe := &oauth2client.ProviderError{Provider: "x", Class: oauth2client.ClassAdmin}
	assert.Same(t, pe, Error("y", "refresh", pe, nil, time.Now()), "a ProviderError passes through")

	e := Error("y", "refresh", errors.New("decode"), nil, time.Now())
	assert.Equal(t, oauth2client.ClassUnknown, e.Class)

	re := &oauth2.RetrieveError{Response: &http.Response{StatusCode: 400, Header: http.Header{}}, Body: []byte(`{"error":"invalid_grant","error_description":"gone"}`)}
	e = Error("y", "refresh", re, nil, time.Now())
	assert.Equal(t, "invalid_grant", e.Code)
	assert.Equal(t, "gone", e.Description)
	assert.Equal(t, oauth2client.ClassReauth, e.Class)

	custom := func(code string) (oauth2client.Class, string, bool) {
		return oauth2client.ClassAdmin, "ask the admin", code == "invalid_grant"
	}
	e = Error("y", "refresh", re, custom, time.Now())
	assert.Equal(t, oauth2client.ClassAdmin, e.Class)
	assert.Equal(t, "ask the admin", e.Remedy)
}

func TestCaptureKeepsTransportError(t *testing.T) {
	boom := errors.New("dial refused")
	hc, captured := Capture(&http.Client{Transport: rtFunc(func(*http.Request) (*http.Response, error) { return nil, boom })})
	_, err := hc.Get("http://example.invalid/")
	require.Error(t, err)
	require.ErrorIs(t, captured(), boom)

	hc, captured = Capture(&http.Client{})
	assert.NotNil(t, hc.Transport)
	assert.NoError(t, captured())
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
