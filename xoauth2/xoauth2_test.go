package xoauth2_test

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/xoauth2"
)

func TestClientGoldenVectors(t *testing.T) {
	// The vectors published by Microsoft and Google.
	tests := []struct{ name, user, token, want string }{
		{"microsoft", "test@contoso.onmicrosoft.com", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA",
			"dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ=="},
		{"google", "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
			"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mech, ir, err := xoauth2.NewClient(tt.user, tt.token).Start()
			require.NoError(t, err)
			assert.Equal(t, "XOAUTH2", mech)
			assert.Equal(t, tt.want, base64.StdEncoding.EncodeToString(ir))
		})
	}
}

func TestClientRejectsForgedFields(t *testing.T) {
	_, _, err := xoauth2.NewClient("a\x01auth=Bearer x", "t").Start()
	assert.ErrorIs(t, err, xoauth2.ErrInvalidCredential)
	_, _, err = xoauth2.NewClient("a", "t\x01").Start()
	assert.ErrorIs(t, err, xoauth2.ErrInvalidCredential)
}

func TestClientErrorChallenge(t *testing.T) {
	tests := []struct {
		name      string
		challenge string
		want      xoauth2.Error
	}{
		{"google doc", `{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}`, xoauth2.Error{Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"}},
		{"dovecot", `{"status":"401","schemes":"bearer","scope":"mail"}`, xoauth2.Error{Status: "401", Schemes: "bearer", Scope: "mail"}},
		{"numeric status", `{"status":400,"schemes":"Bearer"}`, xoauth2.Error{Status: "400", Schemes: "Bearer"}},
		{"not json", `NO way`, xoauth2.Error{Status: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := xoauth2.NewClient("u", "s3cr3t-value")
			_, _, err := c.Start()
			require.NoError(t, err)
			resp, err := c.Next([]byte(tt.challenge))
			require.NoError(t, err)
			assert.NotNil(t, resp, "the answer must be empty but not nil, or go-smtp stops without answering")
			assert.Empty(t, resp)
			require.NotNil(t, c.Err())
			assert.Equal(t, tt.want, *c.Err())
			assert.NotContains(t, c.Err().Error(), "s3cr3t-value")

			_, err = c.Next([]byte(tt.challenge))
			assert.ErrorIs(t, err, sasl.ErrUnexpectedServerChallenge)
		})
	}
}

func TestParseChallengeErrors(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":     nil,
		"not json":  []byte("{"),
		"array":     []byte("[]"),
		"bad stat":  []byte(`{"status":{}}`),
		"oversize":  append([]byte(`{"status":"401","scope":"`), make([]byte, xoauth2.MaxMessage)...),
		"bool stat": []byte(`{"status":true}`),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := xoauth2.ParseChallenge(in)
			assert.ErrorIs(t, err, xoauth2.ErrMalformedChallenge)
		})
	}
}

func accept(user, token string) error {
	if user == "alice@example.com" && token == "good" {
		return nil
	}
	return errors.New("token not valid")
}

func TestServerAccepts(t *testing.T) {
	s := xoauth2.NewServer(accept)
	ch, done, err := s.Next([]byte("user=alice@example.com\x01auth=Bearer good\x01\x01"))
	require.NoError(t, err)
	assert.True(t, done)
	assert.Nil(t, ch)
}

func TestServerInitialResponseInSecondStep(t *testing.T) {
	s := xoauth2.NewServer(accept)
	ch, done, err := s.Next(nil)
	require.NoError(t, err)
	assert.False(t, done)
	assert.Equal(t, []byte{}, ch)
	_, done, err = s.Next([]byte("user=alice@example.com\x01host=imap.example\x01auth=bearer good\x01\x01"))
	require.NoError(t, err, "extra fields and a lower-case scheme are accepted")
	assert.True(t, done)
}

func TestServerRejectsMalformed(t *testing.T) {
	for name, in := range map[string]string{
		"empty":           "",
		"truncated":       "user=alice@example.com\x01auth=Bearer good\x01",
		"no terminator":   "user=alice@example.com\x01auth=Bearer good",
		"no user prefix":  "usr=alice\x01auth=Bearer good\x01\x01",
		"empty user":      "user=\x01auth=Bearer good\x01\x01",
		"missing auth":    "user=alice\x01\x01",
		"wrong scheme":    "user=alice\x01auth=Basic Zm9vOmJhcg==\x01\x01",
		"no scheme space": "user=alice\x01auth=Bearer\x01\x01",
		"empty token":     "user=alice\x01auth=Bearer \x01\x01",
		"nul":             "user=al\x00ice\x01auth=Bearer good\x01\x01",
		"two auth":        "user=alice\x01auth=Bearer a\x01auth=Bearer b\x01\x01",
		"bare field":      "user=alice\x01junk\x01auth=Bearer good\x01\x01",
		"just separators": "\x01\x01",
	} {
		t.Run(name, func(t *testing.T) {
			s := xoauth2.NewServer(func(string, string) error { t.Error("authenticator called for malformed input"); return nil })
			_, done, err := s.Next([]byte(in))
			assert.True(t, done)
			require.ErrorIs(t, err, xoauth2.ErrMalformed)
			assert.NotContains(t, err.Error(), "good")
		})
	}
}

func TestServerFailureChallenge(t *testing.T) {
	for _, answer := range [][]byte{{}, nil, []byte("junk")} {
		s := xoauth2.NewServer(accept)
		ch, done, err := s.Next([]byte("user=alice@example.com\x01auth=Bearer bad\x01\x01"))
		require.NoError(t, err)
		assert.False(t, done, "the server waits for the client's acknowledgement")
		assert.JSONEq(t, `{"status":"401","schemes":"bearer","scope":""}`, string(ch))
		ch, done, err = s.Next(answer)
		assert.True(t, done)
		assert.Nil(t, ch)
		assert.ErrorIs(t, err, xoauth2.ErrAuthFailed)
		assert.ErrorContains(t, err, "token not valid")

		_, done, err = s.Next(nil)
		assert.True(t, done)
		assert.ErrorIs(t, err, sasl.ErrUnexpectedClientResponse)
	}
}

func TestServerCustomChallenge(t *testing.T) {
	s := xoauth2.NewServer(func(string, string) error {
		return &xoauth2.Error{Status: "400", Schemes: "Bearer", Scope: "https://mail.google.com/"}
	})
	ch, _, err := s.Next([]byte("user=a\x01auth=Bearer b\x01\x01"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`, string(ch))
}

// The client and server agree on the wire.
func TestRoundTrip(t *testing.T) {
	c := xoauth2.NewClient("alice@example.com", "bad")
	s := xoauth2.NewServer(accept)
	_, ir, err := c.Start()
	require.NoError(t, err)
	ch, done, err := s.Next(ir)
	require.NoError(t, err)
	require.False(t, done)
	resp, err := c.Next(ch)
	require.NoError(t, err)
	_, done, err = s.Next(resp)
	assert.True(t, done)
	assert.ErrorIs(t, err, xoauth2.ErrAuthFailed)
	assert.Equal(t, &xoauth2.Error{Status: "401", Schemes: "bearer"}, c.Err())
}

func FuzzServerNext(f *testing.F) {
	f.Add([]byte("user=alice@example.com\x01auth=Bearer good\x01\x01"), []byte{})
	f.Add([]byte("user=a\x01auth=Bearer bad\x01\x01"), []byte(nil))
	f.Add([]byte(""), []byte("x"))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		s := xoauth2.NewServer(accept)
		for _, in := range [][]byte{first, second, nil} {
			_, done, err := s.Next(in)
			if err != nil && !errors.Is(err, xoauth2.ErrMalformed) && !errors.Is(err, xoauth2.ErrAuthFailed) && !errors.Is(err, sasl.ErrUnexpectedClientResponse) {
				t.Fatalf("untyped error %v", err)
			}
			if done {
				return
			}
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	f.Add([]byte(`{"status":"401","schemes":"bearer","scope":"mail"}`))
	f.Add([]byte(`{"status":400}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := xoauth2.ParseChallenge(b)
		if err != nil && !errors.Is(err, xoauth2.ErrMalformedChallenge) {
			t.Fatalf("untyped error %v", err)
		}
		if err == nil && e == nil {
			t.Fatal("nil error and nil result")
		}
	})
}
