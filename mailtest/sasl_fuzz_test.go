package mailtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/oauth2mail/oauth2mail/xoauth2"
)

type fuzzChecker struct{}

func (fuzzChecker) Check(username, token string) (TokenInfo, error) {
	switch token {
	case "good":
		return TokenInfo{Username: username}, nil
	case "down":
		return TokenInfo{}, ErrUnavailable
	}
	return TokenInfo{}, errors.New("unknown token")
}

var errFuzzFail = errors.New("fuzz: exchange failed")

// FuzzSASLServer plays arbitrary client messages against the test kit's
// XOAUTH2 and OAUTHBEARER servers, the way go-imap and go-smtp call them
// (a first message that may be absent, then answers to each challenge).
// They must never panic, must end every exchange within the messages
// given or when asked again, and must log in only on a good token.
// The seeds in testdata/fuzz/FuzzSASLServer include the inputs that made
// go-sasl's OAUTHBEARER server panic (a malformed first message followed
// by an empty answer).
func FuzzSASLServer(f *testing.F) {
	f.Add(true, false, []byte("garbage"), []byte{}, []byte(nil))
	f.Add(true, false, []byte("n,a=u,\x01auth=Bearer bad\x01\x01"), []byte{}, []byte{})
	f.Add(true, true, []byte(nil), []byte("n,,\x01auth=Bearer good\x01\x01"), []byte(nil))
	f.Add(true, false, []byte{}, []byte{}, []byte{})
	f.Add(true, false, []byte("n,,\x01port=x\x01\x01"), []byte{}, []byte{0x01})
	f.Add(false, false, []byte("user=a\r\nb\x01auth=Bearer good\x01\x01"), []byte{}, []byte(nil))
	f.Add(false, false, []byte("user=\xff\x01auth=Bearer good\x01\x01"), []byte{}, []byte(nil))
	f.Add(false, true, []byte(nil), []byte("user=a@example.com\x01auth=Bearer good\x01\x01"), []byte(nil))
	f.Fuzz(func(t *testing.T, oauthbearer, nilFirst bool, first, second, third []byte) {
		mech := xoauth2.Mechanism
		if oauthbearer {
			mech = sasl.OAuthBearer
		}
		if nilFirst {
			first = nil
		}
		var loggedIn bool
		var stats Stats
		s, ok := newSASL(mech, fuzzChecker{}, "mail", "", func(string) { loggedIn = true }, func(verdict) error { return errFuzzFail }, &stats)
		if !ok {
			t.Fatal("no server")
		}
		msgs := [][]byte{first, second, third, nil, nil}
		for i, m := range msgs {
			_, done, err := s.Next(m)
			if done {
				if err == nil && (!loggedIn || !containsToken(msgs[:i+1], "good")) {
					t.Fatalf("step %d: success without a good token", i)
				}
				if err != nil && loggedIn && stats.Failures.Load() == 0 {
					t.Fatalf("step %d: failure after login", i)
				}
				return
			}
			if err != nil {
				t.Fatalf("step %d: error %v without the end of the exchange", i, err)
			}
		}
		t.Fatal("the exchange did not end")
	})
}

func containsToken(msgs [][]byte, tok string) bool {
	for _, m := range msgs {
		if bytes.Contains(bytes.ToLower(m), []byte("bearer "+tok)) {
			return true
		}
	}
	return false
}
