package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemoDelegatedPasses(t *testing.T) {
	var out strings.Builder
	code, err := run([]string{"-demo", "-delegated"}, &out)
	require.NoError(t, err)
	assert.Equal(t, 0, code, out.String())
	for _, want := range []string{
		"Device login:", "PASS  settings", "PASS  credential", "PASS  redirect URI",
		"is registered for the app (checked with Entra's authorize endpoint)",
		"PASS  permissions  the token (aud https://outlook.office.com) carries IMAP.AccessAsUser.All and SMTP.Send",
		"PASS  IMAP login   IMAP accepted XOAUTH2 for alice@contoso.example",
		"PASS  SMTP login   SMTP accepted XOAUTH2 for alice@contoso.example",
		"All checks passed.",
	} {
		assert.Contains(t, out.String(), want)
	}
}

func TestDemoDelegatedBreaks(t *testing.T) {
	for brk, want := range map[string]string{
		"secret":   "FAIL  settings     azure: invalid configuration: ClientSecret",
		"redirect": "FAIL  redirect URI https://mail.contoso.example/oauth2/callback-typo is well-formed but not registered",
		"smtp":     "FAIL  SMTP login",
	} {
		t.Run(brk, func(t *testing.T) {
			var out strings.Builder
			code, err := run([]string{"-demo", "-delegated", "-break=" + brk}, &out)
			require.NoError(t, err)
			assert.Equal(t, 1, code, out.String())
			assert.Contains(t, out.String(), want)
			assert.Equal(t, 1, strings.Count(out.String(), "\nFAIL  "), "one broken thing, one failing step:\n%s", out.String())
		})
	}
	_, err := run([]string{"-demo", "-delegated", "-break=consent"}, &strings.Builder{})
	assert.ErrorContains(t, err, "unknown -break")
}

func TestDelegatedNeedsSettings(t *testing.T) {
	_, err := run([]string{"-delegated"}, &strings.Builder{})
	assert.ErrorContains(t, err, "-settings")

	dir := t.TempDir()
	bad := filepath.Join(dir, "conn.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"kind":"azure","imap":{"host":"outlook.office365.com","security":"startls"}}`), 0o600))
	_, err = run([]string{"-delegated", "-settings", bad}, &strings.Builder{})
	assert.ErrorContains(t, err, "IMAP.Security")
}
