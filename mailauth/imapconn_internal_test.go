package mailauth

import (
	"bytes"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordConn records what is written to it.
type recordConn struct {
	net.Conn
	buf bytes.Buffer
}

func (r *recordConn) Write(p []byte) (int, error) { return r.buf.Write(p) }

func TestIMAPConnEmptyContinuationAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"empty answer in AUTHENTICATE is an empty line",
			[]string{"T1 AUTHENTICATE XOAUTH2 dXNlcj0=\r\n", "=\r\n"}, "T1 AUTHENTICATE XOAUTH2 dXNlcj0=\r\n\r\n"},
		{"lower-case command",
			[]string{"T1 authenticate xoauth2\r\n", "dXNlcj0=\r\n", "=\r\n"}, "T1 authenticate xoauth2\r\ndXNlcj0=\r\n\r\n"},
		{"long command split over writes",
			[]string{"T1 AUTHENTICATE XOAUTH2 AAAA", "BBBB\r\n", "=\r\n"}, "T1 AUTHENTICATE XOAUTH2 AAAABBBB\r\n\r\n"},
		{"cancel passes", []string{"T1 AUTHENTICATE XOAUTH2 AAAA\r\n", "*\r\n"}, "T1 AUTHENTICATE XOAUTH2 AAAA\r\n*\r\n"},
		{"after the next command a '=' line is data",
			[]string{"T1 AUTHENTICATE XOAUTH2 AAAA\r\n", "T2 APPEND INBOX {1}\r\n", "=\r\n"}, "T1 AUTHENTICATE XOAUTH2 AAAA\r\nT2 APPEND INBOX {1}\r\n=\r\n"},
		{"no AUTHENTICATE: untouched", []string{"T1 APPEND INBOX {1}\r\n", "=\r\n"}, "T1 APPEND INBOX {1}\r\n=\r\n"},
		{"an AUTHENTICATE inside a literal is not a command",
			[]string{"T1 APPEND INBOX {30}\r\n", "x", "T9 AUTHENTICATE XOAUTH2 AAAA\r\n", "=\r\n"}, "T1 APPEND INBOX {30}\r\nxT9 AUTHENTICATE XOAUTH2 AAAA\r\n=\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recordConn{}
			c := IMAPConn(rc)
			for _, w := range tc.writes {
				n, err := c.Write([]byte(w))
				require.NoError(t, err)
				assert.Equal(t, len(w), n, "a rewritten write still reports the caller's length")
			}
			assert.Equal(t, tc.want, rc.buf.String())
		})
	}
}
