package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemoPasses(t *testing.T) {
	var out strings.Builder
	code, err := run([]string{"-demo"}, &out)
	require.NoError(t, err)
	assert.Equal(t, 0, code, out.String())
	assert.Contains(t, out.String(), "All checks passed.")
	assert.NotContains(t, out.String(), "FAIL")
}

func TestDemoBreaks(t *testing.T) {
	for brk, want := range map[string]string{
		"tenant":   "FAIL  tenant",
		"secret":   "FAIL  credential",
		"consent":  "FAIL  permissions",
		"redirect": "FAIL  redirect URI",
		"imap":     "FAIL  IMAP login",
		"smtp":     "FAIL  SMTP login",
	} {
		t.Run(brk, func(t *testing.T) {
			var out strings.Builder
			code, err := run([]string{"-demo", "-break=" + brk}, &out)
			require.NoError(t, err)
			assert.Equal(t, 1, code, out.String())
			assert.Contains(t, out.String(), want)
			assert.Equal(t, 1, strings.Count(out.String(), "\nFAIL  "), "one broken thing, one failing step:\n%s", out.String())
		})
	}
	_, err := run([]string{"-demo", "-break=everything"}, &strings.Builder{})
	assert.ErrorContains(t, err, "unknown -break")
	_, err = run(nil, &strings.Builder{})
	assert.ErrorContains(t, err, "-client-id and -tenant")
}
