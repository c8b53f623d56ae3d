package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(filepath.Join(t.TempDir(), "tokens"), false, &out), out.String())
	for _, want := range []string{
		"IMAP login with XOAUTH2 succeeded; mailboxes: Drafts, INBOX, Sent",
		"SMTP: message from alice@contoso.example to bob@example.net accepted",
		"token refreshed",
		"IMAP login with the refreshed token succeeded (2 logins accepted, 0 refused)",
		"quickstart: all steps passed",
	} {
		assert.Contains(t, out.String(), want)
	}
}
