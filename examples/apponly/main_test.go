package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemo(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run([]string{"-demo"}, &out))
	assert.Contains(t, out.String(), "logged in to shared@contoso.example as the application")
	assert.Contains(t, out.String(), "INBOX holds 1 messages")
	assert.Contains(t, out.String(), "bob@example.net")
	assert.Contains(t, out.String(), "Quarterly report")
}

func TestNeedsConfiguration(t *testing.T) {
	err := run(nil, &strings.Builder{})
	assert.ErrorContains(t, err, "-client-id, -tenant and -mailbox")
}
