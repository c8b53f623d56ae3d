package dovecot_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/internal/dovecot"
	"github.com/oauth2mail/oauth2mail/mailtest"
)

func TestDovecotHarness(t *testing.T) {
	s := dovecot.Start(t, dovecot.Options{Verifier: mailtest.NewLedger(nil).IntrospectionHandler()})

	conn, err := tls.Dial("tcp", s.IMAPSAddr, s.TLSConfig)
	require.NoError(t, err, "the implicit-TLS port serves the trusted certificate")
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	conn.Close()
	assert.Contains(t, greeting, "AUTH=XOAUTH2")
	assert.Contains(t, greeting, "AUTH=OAUTHBEARER")
	assert.Contains(t, greeting, "SASL-IR")

	c, err := smtp.DialStartTLS(s.SubmissionAddr, s.TLSConfig)
	require.NoError(t, err)
	ok, mechs := c.Extension("AUTH")
	assert.True(t, ok)
	assert.ElementsMatch(t, []string{"XOAUTH2", "OAUTHBEARER"}, strings.Fields(mechs))
	require.NoError(t, c.Quit())

	pidText, err := os.ReadFile(filepath.Join(s.Dir, "run", "master.pid"))
	require.NoError(t, err)
	s.Stop()
	var pid int
	_, err = fmt.Sscan(strings.TrimSpace(string(pidText)), &pid)
	require.NoError(t, err)
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "Stop ended the master process")
	assert.NoDirExists(t, s.Dir)
	s.Stop() // idempotent
}
