package oauth2client_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

func TestScrubError(t *testing.T) {
	const rt = oauth2client.Secret("0.AXYZrefresh-token-value-0123456789abcdef")
	pe := &oauth2client.ProviderError{Provider: "generic", Op: "refresh", Code: "invalid_grant",
		Description: "bad token " + string(rt)[:30], Class: oauth2client.ClassReauth,
		Err: fmt.Errorf("body: refresh_token=%s: %w", url.QueryEscape(string(rt)), context.DeadlineExceeded)}

	got := oauth2client.ScrubError(pe, rt)
	require.Error(t, got)
	assert.NotContains(t, got.Error(), string(rt)[:12])
	assert.Contains(t, got.Error(), oauth2client.Redacted)
	var gpe *oauth2client.ProviderError
	require.ErrorAs(t, got, &gpe)
	assert.Equal(t, "invalid_grant", gpe.Code)
	assert.ErrorIs(t, got, oauth2client.ErrReauthRequired)
	assert.ErrorIs(t, got, context.DeadlineExceeded, "sentinels below a scrubbed text still match")
	assert.NotContains(t, pe.Description, oauth2client.Redacted, "the original is not modified")

	wrapped := oauth2client.ScrubError(fmt.Errorf("oauth2client: refreshing account %q: %w", "a", pe), rt)
	assert.NotContains(t, wrapped.Error(), string(rt)[:12])
	require.ErrorAs(t, wrapped, &gpe)
	assert.NotContains(t, gpe.Error(), string(rt)[:12], "errors.As finds the scrubbed copy")
	assert.ErrorIs(t, wrapped, oauth2client.ErrReauthRequired)

	clean := errors.New("nothing secret here")
	assert.Same(t, clean, oauth2client.ScrubError(clean, rt), "an error without secrets is returned as is")
	assert.NoError(t, oauth2client.ScrubError(nil, rt))
}
