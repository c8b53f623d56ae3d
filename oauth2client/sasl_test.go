package oauth2client_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

func TestChooseMechanism(t *testing.T) {
	for _, tc := range []struct {
		name               string
		preferred, offered []string
		want               string
	}{
		{"unknown server list: first preference", []string{"OAUTHBEARER", "XOAUTH2"}, nil, "OAUTHBEARER"},
		{"default preference", nil, []string{"XOAUTH2", "OAUTHBEARER"}, "XOAUTH2"},
		{"preference order wins", []string{"OAUTHBEARER", "XOAUTH2"}, []string{"XOAUTH2", "OAUTHBEARER"}, "OAUTHBEARER"},
		{"case-insensitive", []string{"xoauth2"}, []string{"PLAIN", "xoAuth2"}, "XOAUTH2"},
		{"the other OAuth mechanism when the preferred is missing", []string{"XOAUTH2"}, []string{"OAUTHBEARER"}, "OAUTHBEARER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oauth2client.ChooseMechanism(tc.preferred, tc.offered)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := oauth2client.ChooseMechanism(nil, []string{"PLAIN", "LOGIN"})
	var me *oauth2client.MechanismError
	require.ErrorAs(t, err, &me)
	assert.ErrorIs(t, err, oauth2client.ErrNoOAuthMechanism)
	assert.Equal(t, []string{"PLAIN", "LOGIN"}, me.Offered)
	assert.Contains(t, err.Error(), "offers only PLAIN, LOGIN; OAuth (XOAUTH2 or OAUTHBEARER) is not enabled on that server")
}

func TestSASLClientForAccount(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	h.connect(t, "acct")
	ctx := context.Background()
	tok, err := h.client.Token(ctx, "acct")
	require.NoError(t, err)

	t.Run("XOAUTH2 by default", func(t *testing.T) {
		sc, err := h.client.SASLClient(ctx, "acct", nil)
		require.NoError(t, err)
		mech, ir, err := sc.Start()
		require.NoError(t, err)
		assert.Equal(t, oauth2client.MechXOAUTH2, mech)
		assert.Equal(t, "user="+tok.Username+"\x01auth=Bearer "+string(tok.AccessToken)+"\x01\x01", string(ir))
	})
	t.Run("OAUTHBEARER when that is all the server offers", func(t *testing.T) {
		sc, err := h.client.SASLClient(ctx, "acct", &oauth2client.SASLOptions{Offered: []string{"PLAIN", "OAUTHBEARER"}, Host: "imap.example", Port: 993})
		require.NoError(t, err)
		mech, ir, err := sc.Start()
		require.NoError(t, err)
		assert.Equal(t, oauth2client.MechOAUTHBEARER, mech)
		assert.Equal(t, "n,a="+tok.Username+",\x01host=imap.example\x01port=993\x01auth=Bearer "+string(tok.AccessToken)+"\x01\x01", string(ir))
	})
	t.Run("username override", func(t *testing.T) {
		sc, err := h.client.SASLClient(ctx, "acct", &oauth2client.SASLOptions{Username: "shared@example.com"})
		require.NoError(t, err)
		_, ir, err := sc.Start()
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(ir), "user=shared@example.com\x01"))
	})
	t.Run("no OAuth mechanism offered", func(t *testing.T) {
		_, err := h.client.SASLClient(ctx, "acct", &oauth2client.SASLOptions{Offered: []string{"PLAIN"}})
		assert.ErrorIs(t, err, oauth2client.ErrNoOAuthMechanism)
	})
	t.Run("unknown account", func(t *testing.T) {
		_, err := h.client.SASLClient(ctx, "nobody", nil)
		assert.ErrorIs(t, err, oauth2client.ErrNotFound)
	})
}

func TestSASLClientErrorChallenge(t *testing.T) {
	challenge := []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`)
	for _, tc := range []struct {
		mech string
		ack  []byte
	}{
		{oauth2client.MechXOAUTH2, []byte{}},      // XOAUTH2: the empty response
		{oauth2client.MechOAUTHBEARER, []byte{1}}, // RFC 7628 §3.2.3: %x01
	} {
		t.Run(tc.mech, func(t *testing.T) {
			sc, err := oauth2client.NewSASLClient(tc.mech, "a@example.com", "tok", "", 0)
			require.NoError(t, err)
			assert.Equal(t, tc.mech, sc.Mechanism())
			assert.Nil(t, sc.Rejection())
			resp, err := sc.Next(challenge)
			require.NoError(t, err)
			assert.Equal(t, tc.ack, resp)
			require.NotNil(t, sc.Rejection())
			assert.Equal(t, "401", sc.Rejection().Status)
			assert.Equal(t, "bearer", sc.Rejection().Schemes)
			assert.Equal(t, "https://mail.google.com/", sc.Rejection().Scope)
			_, err = sc.Next(challenge)
			assert.Error(t, err, "a second challenge is a protocol error")
		})
	}
	t.Run("undecodable challenge still counts as a rejection", func(t *testing.T) {
		sc, err := oauth2client.NewSASLClient("xoauth2", "a@example.com", "tok", "", 0)
		require.NoError(t, err)
		_, err = sc.Next([]byte(base64.StdEncoding.EncodeToString([]byte("not json"))))
		require.NoError(t, err)
		require.NotNil(t, sc.Rejection())
		assert.Equal(t, "unknown", sc.Rejection().Status)
	})
	_, err := oauth2client.NewSASLClient("PLAIN", "a@example.com", "tok", "", 0)
	assert.ErrorContains(t, err, "use XOAUTH2 or OAUTHBEARER")
}

func TestLoginError(t *testing.T) {
	proto := errors.New("imap: NO [AUTHENTICATIONFAILED] Authentication failed.")
	rejected := &oauth2client.LoginError{Account: "acct", Mechanism: "XOAUTH2", Err: proto}
	assert.ErrorIs(t, rejected, proto)
	assert.NotErrorIs(t, rejected, oauth2client.ErrTransient)
	assert.Contains(t, rejected.Error(), "the token was rejected")

	temp := &oauth2client.LoginError{Account: "acct", Mechanism: "OAUTHBEARER", Temporary: true, Err: proto}
	assert.ErrorIs(t, temp, oauth2client.ErrTransient)
	assert.Contains(t, temp.Error(), "temporary")
}

func TestTokenSourceAndConnectGrant(t *testing.T) {
	h := newHarness(t, oauth2client.HandlerConfig{})
	ctx := context.Background()
	var authorized []string
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: redirect, Store: h.store, Clock: h.clock,
		Hooks: oauth2client.Hooks{Authorized: func(_ context.Context, a string) { authorized = append(authorized, a) }}})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", h.provider))

	_, err = c.ConnectGrant(ctx, "corp", "acct", &oauth2client.Grant{})
	assert.ErrorContains(t, err, "access token")
	_, err = c.ConnectGrant(ctx, "nope", "acct", &oauth2client.Grant{AccessToken: "at"})
	assert.Error(t, err, "unknown connection")
	assert.Empty(t, authorized)

	exp := h.clock.Now().Add(time.Hour)
	tok, err := c.ConnectGrant(ctx, "corp", "acct", &oauth2client.Grant{AccessToken: "at-imported", RefreshToken: "rt-imported", Expiry: exp,
		Identity: oauth2client.Identity{Username: "imported@example.com"}})
	require.NoError(t, err)
	assert.Equal(t, "imported@example.com", tok.Username)
	assert.Equal(t, []string{"acct"}, authorized)
	rec, err := h.store.Load(ctx, "acct")
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("rt-imported"), rec.RefreshToken)

	ts := c.TokenSource(ctx, "acct")
	ot, err := ts.Token()
	require.NoError(t, err)
	assert.Equal(t, "at-imported", ot.AccessToken)
	assert.Equal(t, "Bearer", ot.TokenType)
	assert.Equal(t, exp, ot.Expiry)
	assert.Empty(t, ot.RefreshToken, "the refresh token stays inside the Client")
	_, err = c.TokenSource(ctx, "nobody").Token()
	assert.ErrorIs(t, err, oauth2client.ErrNotFound)

	c.RemoveConnection("corp")
	_, err = c.Connection("corp")
	assert.Error(t, err)
	assert.Equal(t, redirect, c.RedirectURL())
}

func TestSecretNeverPrints(t *testing.T) {
	s := oauth2client.Secret("super-secret-value")
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s, "record", &oauth2client.Record{Account: "a",
		Grant: oauth2client.Grant{AccessToken: s, RefreshToken: s}})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %#v %+v", s, s, s, s, s), logged.String(),
		fmt.Sprintf("%+v", oauth2client.Grant{AccessToken: s})} {
		assert.NotContains(t, out, "super-secret-value")
	}
	assert.Contains(t, logged.String(), oauth2client.Redacted)
	assert.False(t, s.IsZero())
	assert.True(t, oauth2client.Secret("").IsZero())
}

func TestSASLClientTokenIsThePresentedOne(t *testing.T) {
	sc, err := oauth2client.NewSASLClient(oauth2client.MechXOAUTH2, "alice@example.com", "tok-1", "", 0)
	require.NoError(t, err)
	assert.Equal(t, oauth2client.Secret("tok-1"), sc.Token())
	assert.Equal(t, oauth2client.Redacted, fmt.Sprint(sc.Token()), "it prints redacted")
}
