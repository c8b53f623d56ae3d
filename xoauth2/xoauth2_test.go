package xoauth2_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/xoauth2"
)

const secret = "s3cr3t-t0ken"

func TestClientGoldenVectors(t *testing.T) {
	// The examples published by Microsoft and Google, checked byte for byte.
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
			assert.Equal(t, xoauth2.Mechanism, mech)
			assert.Equal(t, "XOAUTH2", mech)
			assert.Equal(t, tt.want, base64.StdEncoding.EncodeToString(ir))
			assert.Equal(t, "user="+tt.user+"\x01auth=Bearer "+tt.token+"\x01\x01", string(ir))
		})
	}
}

func TestClientRejectsForgedFields(t *testing.T) {
	tests := []struct{ name, user, token string }{
		{"user", "a\x01auth=Bearer forged", "t"},
		{"token", "a", "t\x01host=evil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mech, ir, err := xoauth2.NewClient(tt.user, tt.token).Start()
			require.ErrorIs(t, err, xoauth2.ErrInvalidCredential)
			assert.Empty(t, mech)
			assert.Nil(t, ir)
			assert.NotContains(t, err.Error(), "forged")
		})
	}
}

func TestClientErrorChallenge(t *testing.T) {
	tests := []struct {
		name      string
		challenge []byte
		want      xoauth2.Error
	}{
		{"google doc", []byte(`{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}`),
			xoauth2.Error{Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"}},
		{"dovecot", []byte(`{"status":"401","schemes":"bearer","scope":"mail"}`),
			xoauth2.Error{Status: "401", Schemes: "bearer", Scope: "mail"}},
		{"numeric status", []byte(`{"status":400,"schemes":"Bearer"}`), xoauth2.Error{Status: "400", Schemes: "Bearer"}},
		{"rfc 6750 code", []byte(`{"status":"invalid_token"}`), xoauth2.Error{Status: "invalid_token"}},
		{"not json", []byte("NO way"), xoauth2.Error{}},
		{"empty", []byte{}, xoauth2.Error{}},
		{"nil", nil, xoauth2.Error{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := xoauth2.NewClient("u@example.com", secret)
			_, _, err := c.Start()
			require.NoError(t, err)
			assert.Nil(t, xoauth2.ChallengeError(c), "no challenge yet")

			resp, err := c.Next(tt.challenge)
			require.NoError(t, err)
			assert.NotNil(t, resp, "the answer must be empty but not nil, or go-smtp takes it for success")
			assert.Empty(t, resp)
			e := xoauth2.ChallengeError(c)
			require.NotNil(t, e)
			assert.Equal(t, tt.want, *e)
			assert.NotContains(t, e.Error(), secret)

			resp, err = c.Next(tt.challenge)
			require.ErrorIs(t, err, sasl.ErrUnexpectedServerChallenge)
			assert.Nil(t, resp)
			assert.Equal(t, tt.want, *xoauth2.ChallengeError(c), "the first challenge is kept")
		})
	}
}

func TestChallengeErrorOtherClient(t *testing.T) {
	assert.Nil(t, xoauth2.ChallengeError(sasl.NewPlainClient("", "u", "p")))
	assert.Nil(t, xoauth2.ChallengeError(nil))
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *xoauth2.Error
		want string
	}{
		{"full", &xoauth2.Error{Status: "401", Schemes: "bearer", Scope: "https://mail.google.com/"},
			"xoauth2: server rejected the token (status 401, schemes bearer, scope https://mail.google.com/)"},
		{"status only", &xoauth2.Error{Status: "400"}, "xoauth2: server rejected the token (status 400)"},
		{"empty", &xoauth2.Error{}, "xoauth2: server rejected the token"},
		{"nil", nil, "xoauth2: server rejected the token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want xoauth2.Error
	}{
		{"google", `{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}`,
			xoauth2.Error{Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"}},
		{"dovecot", `{"status":"401","schemes":"bearer","scope":"mail"}`, xoauth2.Error{Status: "401", Schemes: "bearer", Scope: "mail"}},
		{"numeric", `{"status":401}`, xoauth2.Error{Status: "401"}},
		{"big number", `{"status":1e999}`, xoauth2.Error{Status: "1e999"}},
		{"null status", `{"status":null,"scope":"x"}`, xoauth2.Error{Scope: "x"}},
		{"extra members and space", " \n{\"status\":\"400\",\"error\":\"x\"}\n", xoauth2.Error{Status: "400"}},
		{"spaces around number", `{ "status" : 401 , "scope":"s" }`, xoauth2.Error{Status: "401", Scope: "s"}},
		{"negative float", `{"status":-4.5e1}`, xoauth2.Error{Status: "-4.5e1"}},
		{"escaped status", `{"status":"4\u00301"}`, xoauth2.Error{Status: "401"}},
		{"empty object", `{}`, xoauth2.Error{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := xoauth2.ParseChallenge([]byte(tt.in))
			require.NoError(t, err)
			require.NotNil(t, e)
			assert.Equal(t, tt.want, *e)
		})
	}
}

func TestParseChallengeMalformed(t *testing.T) {
	oversize := []byte(`{"status":"401","scope":"` + strings.Repeat("a", xoauth2.MaxMessage) + `"}`)
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"not json", []byte("{")},
		{"text", []byte("NO")},
		{"array", []byte("[]")},
		{"null", []byte("null")},
		{"string", []byte(`"401"`)},
		{"object status", []byte(`{"status":{}}`)},
		{"bool status", []byte(`{"status":true}`)},
		{"bad string status", []byte(`{"status":"\ud800\x"}`)},
		{"numeric scope", []byte(`{"scope":1}`)},
		{"trailing data", []byte(`{"status":"401"} {}`)},
		{"oversize", oversize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := xoauth2.ParseChallenge(tt.in)
			require.ErrorIs(t, err, xoauth2.ErrMalformedChallenge)
			assert.Nil(t, e)
		})
	}
}

// accept is the test authenticator: alice with token "good" passes.
func accept(user, token string) error {
	if user == "alice@example.com" && token == "good" {
		return nil
	}
	return errors.New("token not valid")
}

func TestServerAccepts(t *testing.T) {
	tests := []struct{ name, ir string }{
		{"plain", "user=alice@example.com\x01auth=Bearer good\x01\x01"},
		{"lower-case scheme", "user=alice@example.com\x01auth=bearer good\x01\x01"},
		{"upper-case scheme", "user=alice@example.com\x01auth=BEARER good\x01\x01"},
		{"host and port", "user=alice@example.com\x01host=imap.example.com\x01port=993\x01auth=Bearer good\x01\x01"},
		{"field after auth", "user=alice@example.com\x01auth=Bearer good\x01x=y\x01\x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := xoauth2.NewServer(accept)
			ch, done, err := s.Next([]byte(tt.ir))
			require.NoError(t, err)
			assert.True(t, done)
			assert.Nil(t, ch)

			_, done, err = s.Next([]byte{})
			assert.True(t, done)
			assert.ErrorIs(t, err, sasl.ErrUnexpectedClientResponse)
		})
	}
}

func TestServerPassesCredentials(t *testing.T) {
	var gotUser, gotToken string
	s := xoauth2.NewServer(func(u, tok string) error { gotUser, gotToken = u, tok; return nil })
	_, ir, err := xoauth2.NewClient("someuser@example.com", "ya29.a/b+c=").Start()
	require.NoError(t, err)
	_, done, err := s.Next(ir)
	require.NoError(t, err)
	assert.True(t, done)
	assert.Equal(t, "someuser@example.com", gotUser)
	assert.Equal(t, "ya29.a/b+c=", gotToken)
}

func TestServerInitialResponseInSecondStep(t *testing.T) {
	s := xoauth2.NewServer(accept)
	ch, done, err := s.Next(nil)
	require.NoError(t, err)
	assert.False(t, done)
	assert.Nil(t, ch, "a nil challenge is sent as an empty continuation")

	ch, done, err = s.Next([]byte("user=alice@example.com\x01auth=Bearer good\x01\x01"))
	require.NoError(t, err)
	assert.True(t, done)
	assert.Nil(t, ch)
}

func TestServerNilTwice(t *testing.T) {
	for _, second := range [][]byte{nil, {}} {
		t.Run(fmt.Sprintf("%q", second), func(t *testing.T) {
			s := xoauth2.NewServer(accept)
			_, done, err := s.Next(nil)
			require.NoError(t, err)
			require.False(t, done)
			_, done, err = s.Next(second)
			assert.True(t, done)
			assert.ErrorIs(t, err, xoauth2.ErrMalformedResponse)
		})
	}
}

func TestServerRejectsMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", []byte{}},
		{"truncated", []byte("user=alice@example.com\x01auth=Bearer good\x01")},
		{"truncated in token", []byte("user=alice@example.com\x01auth=Bearer go")},
		{"no terminator", []byte("user=alice@example.com\x01auth=Bearer good")},
		{"no user prefix", []byte("usr=alice\x01auth=Bearer good\x01\x01")},
		{"auth first", []byte("auth=Bearer good\x01user=alice\x01\x01")},
		{"empty user", []byte("user=\x01auth=Bearer good\x01\x01")},
		{"user only", []byte("user=\x01\x01")},
		{"missing auth", []byte("user=alice\x01\x01")},
		{"missing auth with fields", []byte("user=alice\x01host=x\x01\x01")},
		{"wrong scheme", []byte("user=alice\x01auth=Basic Zm9vOmJhcg==\x01\x01")},
		{"scheme prefix", []byte("user=alice\x01auth=Bearerx good\x01\x01")},
		{"no scheme space", []byte("user=alice\x01auth=Bearer\x01\x01")},
		{"empty token", []byte("user=alice\x01auth=Bearer \x01\x01")},
		{"nul in user", []byte("user=al\x00ice\x01auth=Bearer good\x01\x01")},
		{"CR LF in user", []byte("user=alice@example.com\r\nA1 LOGOUT\x01auth=Bearer good\x01\x01")},
		{"LF in user", []byte("user=alice\n@example.com\x01auth=Bearer good\x01\x01")},
		{"tab in user", []byte("user=alice\t@example.com\x01auth=Bearer good\x01\x01")},
		{"DEL in user", []byte("user=alice\x7f@example.com\x01auth=Bearer good\x01\x01")},
		{"C1 control in user", []byte("user=alice\u0085@example.com\x01auth=Bearer good\x01\x01")},
		{"invalid UTF-8 in user", []byte("user=\xff\xfe@example.com\x01auth=Bearer good\x01\x01")},
		{"truncated UTF-8 in user", []byte("user=j\xc3@example.com\x01auth=Bearer good\x01\x01")},
		{"nul in token", []byte("user=alice\x01auth=Bearer go\x00od\x01\x01")},
		{"two auth", []byte("user=alice\x01auth=Bearer a\x01auth=Bearer b\x01\x01")},
		{"two user", []byte("user=alice\x01user=bob\x01auth=Bearer good\x01\x01")},
		{"bare field", []byte("user=alice\x01junk\x01auth=Bearer good\x01\x01")},
		{"empty key", []byte("user=alice\x01=x\x01auth=Bearer good\x01\x01")},
		{"empty field", []byte("user=alice\x01\x01auth=Bearer good\x01\x01")},
		{"triple terminator", []byte("user=alice\x01auth=Bearer good\x01\x01\x01")},
		{"just separators", []byte("\x01\x01")},
		{"base64 not decoded", []byte(base64.StdEncoding.EncodeToString([]byte("user=alice\x01auth=Bearer good\x01\x01")))},
		{"oversize", []byte("user=alice\x01auth=Bearer " + strings.Repeat("g", xoauth2.MaxMessage) + "\x01\x01")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := xoauth2.NewServer(func(string, string) error {
				t.Error("authenticator called for malformed input")
				return nil
			})
			ch, done, err := s.Next(tt.in)
			assert.True(t, done)
			assert.Nil(t, ch)
			require.ErrorIs(t, err, xoauth2.ErrMalformedResponse)
			assert.NotContains(t, err.Error(), "good")

			_, done, err = s.Next(nil)
			assert.True(t, done)
			assert.ErrorIs(t, err, sasl.ErrUnexpectedClientResponse)
		})
	}
}

func TestServerFailure(t *testing.T) {
	answers := []struct {
		name string
		resp []byte
	}{
		{"empty", []byte{}},
		{"nil", nil},
		{"x01", []byte{1}},
		{"junk", []byte("junk")},
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			s := xoauth2.NewServer(accept)
			ch, done, err := s.Next([]byte("user=alice@example.com\x01auth=Bearer bad\x01\x01"))
			require.NoError(t, err)
			assert.False(t, done, "the server waits for the client's answer")
			assert.Equal(t, `{"status":"401","schemes":"bearer","scope":""}`, string(ch))

			ch, done, err = s.Next(a.resp)
			assert.True(t, done)
			assert.Nil(t, ch)
			require.ErrorIs(t, err, xoauth2.ErrAuthFailed)
			assert.ErrorContains(t, err, "token not valid")

			_, done, err = s.Next(nil)
			assert.True(t, done)
			assert.ErrorIs(t, err, sasl.ErrUnexpectedClientResponse)
		})
	}
}

var errRevoked = errors.New("token revoked")

func TestServerChallengeFromAuthenticator(t *testing.T) {
	tests := []struct {
		name    string
		authErr error
		want    string
	}{
		{"*Error", &xoauth2.Error{Status: "400", Schemes: "Bearer", Scope: "https://mail.google.com/"},
			`{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`},
		{"wrapped *Error", fmt.Errorf("lookup: %w", &xoauth2.Error{Status: "401", Schemes: "bearer", Scope: "mail"}),
			`{"status":"401","schemes":"bearer","scope":"mail"}`},
		{"joined with *Error", errors.Join(errRevoked, &xoauth2.Error{Status: "invalid_token", Schemes: "bearer"}),
			`{"status":"invalid_token","schemes":"bearer","scope":""}`},
		{"plain error", errRevoked, `{"status":"401","schemes":"bearer","scope":""}`},
		{"typed nil *Error", (*xoauth2.Error)(nil), `{"status":"401","schemes":"bearer","scope":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := xoauth2.NewServer(func(string, string) error { return tt.authErr })
			ch, done, err := s.Next([]byte("user=a\x01auth=Bearer " + secret + "\x01\x01"))
			require.NoError(t, err)
			require.False(t, done)
			assert.Equal(t, tt.want, string(ch))

			_, done, err = s.Next([]byte{})
			assert.True(t, done)
			require.ErrorIs(t, err, xoauth2.ErrAuthFailed)
			assert.ErrorIs(t, err, tt.authErr)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestServerChallengeIsValidJSON(t *testing.T) {
	// Quotes, control characters and invalid UTF-8 in the authenticator's
	// fields still give a challenge ParseChallenge reads back.
	in := &xoauth2.Error{Status: `4"01`, Schemes: "bearer\x01\n", Scope: "a\xffb <&>"}
	s := xoauth2.NewServer(func(string, string) error { return in })
	ch, _, err := s.Next([]byte("user=a\x01auth=Bearer t\x01\x01"))
	require.NoError(t, err)
	require.True(t, json.Valid(ch))
	got, err := xoauth2.ParseChallenge(ch)
	require.NoError(t, err)
	assert.Equal(t, `4"01`, got.Status)
	assert.Equal(t, "bearer\x01\n", got.Schemes)
	assert.Equal(t, "a\uFFFDb <&>", got.Scope, "invalid UTF-8 is replaced")
}

func TestNewServerNilAuthenticator(t *testing.T) {
	assert.PanicsWithValue(t, "xoauth2: NewServer requires a non-nil Authenticator", func() { xoauth2.NewServer(nil) })
}

// The client and server agree on the wire, in both outcomes.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		token     string
		wantErr   error
		wantChall *xoauth2.Error
	}{
		{"accepted", "good", nil, nil},
		{"rejected", "bad", xoauth2.ErrAuthFailed, &xoauth2.Error{Status: "401", Schemes: "bearer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := xoauth2.NewClient("alice@example.com", tt.token)
			s := xoauth2.NewServer(accept)
			_, resp, err := c.Start()
			require.NoError(t, err)
			var serr error
			for i := 0; i < 4; i++ {
				ch, done, err := s.Next(resp)
				if done {
					serr = err
					break
				}
				require.NoError(t, err)
				resp, err = c.Next(ch)
				require.NoError(t, err)
			}
			if tt.wantErr == nil {
				assert.NoError(t, serr)
			} else {
				assert.ErrorIs(t, serr, tt.wantErr)
			}
			assert.Equal(t, tt.wantChall, xoauth2.ChallengeError(c))
		})
	}
}
