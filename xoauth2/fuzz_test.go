package xoauth2_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-sasl"

	"github.com/oauth2mail/oauth2mail/xoauth2"
)

// FuzzServerNext feeds two arbitrary client messages, then nil, to a
// server. It must not panic, must return only this package's (or go-sasl's)
// errors, must hand the authenticator only well-formed credentials, and
// must send only nil or a valid JSON error challenge.
func FuzzServerNext(f *testing.F) {
	f.Add([]byte("user=alice@example.com\x01auth=Bearer good\x01\x01"), []byte{})
	f.Add([]byte("user=a\x01auth=Bearer bad\x01\x01"), []byte(nil))
	f.Add([]byte(nil), []byte("user=a\x01host=h\x01port=1\x01auth=bearer good\x01\x01"))
	f.Add([]byte(""), []byte("x"))
	f.Add([]byte("user=a@example.com\r\nA1 LOGOUT\x01auth=Bearer good\x01\x01"), []byte{})
	f.Add([]byte("user=\xff\xfe@example.com\x01auth=Bearer good\x01\x01"), []byte{})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var called, accepted bool
		var seen string
		s := xoauth2.NewServer(func(user, token string) error {
			called, seen = true, token
			if user == "" || token == "" || strings.ContainsAny(user+token, "\x00\x01") ||
				!utf8.ValidString(user) || strings.IndexFunc(user, unicode.IsControl) >= 0 {
				t.Errorf("authenticator got user %q, token %q", user, token)
			}
			if token == "good" {
				accepted = true
				return nil
			}
			return &xoauth2.Error{Status: "401", Schemes: "bearer", Scope: "mail"}
		})
		for i, in := range [][]byte{first, second, nil} {
			ch, done, err := s.Next(in)
			if err != nil && !errors.Is(err, xoauth2.ErrMalformedResponse) && !errors.Is(err, xoauth2.ErrAuthFailed) &&
				!errors.Is(err, sasl.ErrUnexpectedClientResponse) {
				t.Fatalf("step %d: untyped error %v", i, err)
			}
			if err != nil && !done {
				t.Fatalf("step %d: error %v but not done", i, err)
			}
			if done {
				if err == nil && !accepted {
					t.Fatalf("step %d: success without the authenticator's approval", i)
				}
				const failMsg = "xoauth2: authentication failed: xoauth2: server rejected the token (status 401, schemes bearer, scope mail)"
				if err != nil && seen != "" && strings.Contains(err.Error(), seen) && !strings.Contains(failMsg, seen) {
					t.Fatalf("step %d: error %q shows the token", i, err)
				}
				return
			}
			if ch == nil {
				if i != 0 || in != nil {
					t.Fatalf("step %d: nil challenge for response %q", i, in)
				}
				continue
			}
			if !called {
				t.Fatalf("step %d: challenge %q before the authenticator ran", i, ch)
			}
			e, perr := xoauth2.ParseChallenge(ch)
			if perr != nil || e.Status != "401" || e.Schemes != "bearer" {
				t.Fatalf("step %d: challenge %q: %+v, %v", i, ch, e, perr)
			}
		}
		t.Fatal("three steps and not done")
	})
}

// FuzzParseChallenge checks that ParseChallenge never panics and that its
// errors wrap ErrMalformedChallenge; a client given the same bytes answers
// with an empty non-nil response and records an *Error.
func FuzzParseChallenge(f *testing.F) {
	f.Add([]byte(`{"status":"401","schemes":"bearer","scope":"mail"}`))
	f.Add([]byte(`{"status":400}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := xoauth2.ParseChallenge(b)
		switch {
		case err != nil && !errors.Is(err, xoauth2.ErrMalformedChallenge):
			t.Fatalf("untyped error %v", err)
		case err != nil && e != nil:
			t.Fatalf("error %v with a result %+v", err, e)
		case err == nil && e == nil:
			t.Fatal("nil error and nil result")
		case err == nil:
			var target *xoauth2.Error
			if !errors.As(e, &target) {
				t.Fatal("result is not an *Error")
			}
		}

		c := xoauth2.NewClient("u", "t")
		resp, err := c.Next(b)
		if err != nil || resp == nil || len(resp) != 0 {
			t.Fatalf("client answered %q, %v", resp, err)
		}
		got := xoauth2.ChallengeError(c)
		if got == nil {
			t.Fatal("client recorded no challenge")
		}
		if e != nil && *got != *e {
			t.Fatalf("client recorded %+v, ParseChallenge gave %+v", got, e)
		}
	})
}
