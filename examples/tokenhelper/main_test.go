package main

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemoPrintsAToken(t *testing.T) {
	var out, msgs strings.Builder
	require.NoError(t, run([]string{"-demo"}, &out, &msgs))
	assert.Contains(t, msgs.String(), "https://microsoft.com/devicelogin")
	assert.Contains(t, msgs.String(), "connected default as alice@contoso.example")
	tok := strings.TrimSpace(out.String())
	assert.True(t, strings.HasPrefix(tok, "eyJ"), "a JWT access token: %.10s…", tok)
	assert.Equal(t, 1, strings.Count(out.String(), "\n"), "only the token goes to stdout")
}

func TestDemoXOAUTH2(t *testing.T) {
	var out, msgs strings.Builder
	require.NoError(t, run([]string{"-demo", "-format", "xoauth2", "-store", filepath.Join(t.TempDir(), "s")}, &out, &msgs))
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out.String()))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), "user=alice@contoso.example\x01auth=Bearer eyJ"))
	assert.True(t, strings.HasSuffix(string(raw), "\x01\x01"))
}

func TestErrors(t *testing.T) {
	var out, msgs strings.Builder
	assert.ErrorContains(t, run(nil, &out, &msgs), "give -store and -client-id")
	assert.ErrorContains(t, run([]string{"-format", "plain"}, &out, &msgs), "unknown -format")
	err := run([]string{"-store", filepath.Join(t.TempDir(), "s"), "-client-id", "11111111-1111-4111-8111-111111111111"}, &out, &msgs)
	assert.ErrorContains(t, err, "run again with -connect")
	assert.Empty(t, out.String())
}
