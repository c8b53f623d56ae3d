package doctor_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/google"
)

var update = flag.Bool("update", false, "rewrite the generated sections of README.md")

const (
	tableStart = "<!-- troubleshooting:start (generated from azure.Errors and google.Errors: go test ./doctor -run TestREADME -update) -->"
	tableEnd   = "<!-- troubleshooting:end -->"
)

// troubleshootingTable renders the README's troubleshooting table from
// the same data the providers map errors with, so the two cannot drift.
func troubleshootingTable() string {
	var b strings.Builder
	b.WriteString("| Error | Cause | Fix |\n|---|---|---|\n")
	cell := func(s string) string {
		s = strings.NewReplacer("|", `\|`, "\n", " ", "{redirect_uri}", "your redirect URI", "{client_id}", "your client ID",
			"{tenant}", "your tenant ID", "{admin_consent_url}", "the admin consent URL").Replace(s)
		return s
	}
	for _, e := range azure.Errors() {
		fmt.Fprintf(&b, "| Entra `AADSTS%d` (`%s`) | %s | %s |\n", e.Code, e.OAuthError, cell(e.Meaning), cell(e.Remedy))
	}
	for _, e := range google.Errors() {
		fmt.Fprintf(&b, "| Google `%s` | %s | %s |\n", e.Code, cell(e.Meaning), cell(e.Remedy))
	}
	return b.String()
}

func TestREADMETroubleshootingTable(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(raw)
	start := strings.Index(readme, tableStart)
	end := strings.Index(readme, tableEnd)
	require.True(t, start >= 0 && end > start, "README.md lacks the troubleshooting markers")
	want := tableStart + "\n" + troubleshootingTable() + tableEnd
	got := readme[start : end+len(tableEnd)]
	if *update {
		require.NoError(t, os.WriteFile("../README.md", []byte(readme[:start]+want+readme[end+len(tableEnd):]), 0o644)) // #nosec G306 -- README.md is public
		return
	}
	assert.Equal(t, want, got, "README.md's troubleshooting table is out of date: go test ./doctor -run TestREADME -update")
	for _, e := range azure.Errors() {
		assert.Contains(t, got, fmt.Sprintf("AADSTS%d", e.Code))
	}
}
