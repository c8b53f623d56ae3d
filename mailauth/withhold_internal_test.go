package mailauth

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

func TestWithholdLong(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tokenLen int
		withheld bool
	}{
		{"short token goes on the AUTH line", 300, false},
		{"line of 512 octets still fits", 0, false}, // computed below
		{"Azure-sized token is withheld", 2048, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.tokenLen
			if n == 0 {
				n = fitTokenLen(t)
			}
			sc, err := oauth2client.NewSASLClient(oauth2client.MechXOAUTH2, "a@example.net", oauth2client.Secret(string(make([]byte, n))), "", 0)
			require.NoError(t, err)
			_, full, err := sc.Start()
			require.NoError(t, err)

			sc, err = oauth2client.NewSASLClient(oauth2client.MechXOAUTH2, "a@example.net", oauth2client.Secret(string(make([]byte, n))), "", 0)
			require.NoError(t, err)
			w := withholdLong(sc)
			mech, ir, err := w.Start()
			require.NoError(t, err)
			assert.Equal(t, oauth2client.MechXOAUTH2, mech)
			if !tc.withheld {
				assert.Equal(t, full, ir)
				return
			}
			assert.Nil(t, ir, "nil, not empty: go-smtp then sends no initial response at all")
			resp, err := w.Next([]byte{})
			require.NoError(t, err)
			assert.Equal(t, full, resp, "the withheld response answers the empty challenge")
			// A later error challenge goes to the mechanism.
			resp, err = w.Next([]byte(`{"status":"401"}`))
			require.NoError(t, err)
			assert.Equal(t, []byte{}, resp)
			require.NotNil(t, sc.Rejection())
			assert.Equal(t, "401", sc.Rejection().Status)
		})
	}
}

// fitTokenLen returns a token length whose AUTH XOAUTH2 line is exactly
// maxSMTPCommandLine octets, CRLF included.
func fitTokenLen(t *testing.T) int {
	t.Helper()
	for n := 600; n > 0; n-- {
		sc, err := oauth2client.NewSASLClient(oauth2client.MechXOAUTH2, "a@example.net", oauth2client.Secret(string(make([]byte, n))), "", 0)
		require.NoError(t, err)
		_, ir, err := sc.Start()
		require.NoError(t, err)
		if l := len("AUTH XOAUTH2 ") + (len(ir)+2)/3*4 + 2; l <= maxSMTPCommandLine {
			return n
		}
	}
	t.Fatal("no token length fits")
	return 0
}
