package scrub_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/internal/scrub"
)

const secret = "1//0gAbc-def_GHIjkl+mno/PQRstu=vwxYZ0123456789~secret"

func TestStringRemovesEveryForm(t *testing.T) {
	s := scrub.New(secret)
	js, err := json.Marshal(secret)
	require.NoError(t, err)
	for _, tc := range []struct{ name, text string }{
		{"whole", "invalid refresh token " + secret + " given"},
		{"prefix", "token=" + secret[:20] + "…"},
		{"suffix", "…" + secret[len(secret)-12:] + " end"},
		{"query escape", "body: refresh_token=" + url.QueryEscape(secret) + "&grant_type=refresh_token"},
		{"query escape lower-case hex", strings.ToLower(url.QueryEscape(secret))},
		{"path escape", "/revoke/" + url.PathEscape(secret)},
		{"json", `{"echo":` + string(js) + `}`},
		{"json with escaped slashes", strings.ReplaceAll(string(js), "/", `\/`)},
		{"base64 std", base64.StdEncoding.EncodeToString([]byte(secret))},
		{"base64 url raw", base64.RawURLEncoding.EncodeToString([]byte(secret))},
		{"base64 of a whole body, offset 1", base64.StdEncoding.EncodeToString([]byte("x" + secret + "tail"))},
		{"base64 of a whole body, offset 2", base64.URLEncoding.EncodeToString([]byte("xy" + secret + "t"))},
		{"basic header", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("client-id:"+secret))},
		{"split over two lines", secret[:25] + "\n" + secret[25:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.String(tc.text)
			assert.Contains(t, got, scrub.Placeholder)
			assertNoFragment(t, got, secret)
		})
	}
}

func TestStringKeepsOtherText(t *testing.T) {
	s := scrub.New(secret, "short1")
	text := "azure: refresh: invalid_grant AADSTS70008: The refresh token has expired (fix: connect again)"
	assert.Equal(t, text, s.String(text))
	assert.Equal(t, "code [redacted] was used", s.String("code short1 was used"), "a short secret is removed whole")
	assert.Equal(t, "shor and hort1", s.String("shor and hort1"), "pieces of a short secret are left")
	assert.Equal(t, "x abc y", scrub.New("abc").String("x abc y"), "secrets under MinWhole are ignored")
	var nilSet *scrub.Set
	assert.Equal(t, text, nilSet.String(text))
}

func TestAddRequest(t *testing.T) {
	form := url.Values{"client_secret": {"the-client-secret"}, "code": {"the-authorization-code"},
		"code_verifier": {"the-pkce-verifier-value"}, "grant_type": {"authorization_code"}, "client_id": {"app-id-1234"}}
	r, err := http.NewRequest(http.MethodPost, "https://idp.example/token?access_token=query-token-1", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	r.SetBasicAuth("app-id-1234", "basic-password-1")
	s := scrub.New()
	s.AddRequest(r)
	assert.ElementsMatch(t, []string{"the-client-secret", "the-authorization-code", "the-pkce-verifier-value",
		"query-token-1", "basic-password-1", base64.StdEncoding.EncodeToString([]byte("app-id-1234:basic-password-1"))}, s.Secrets())

	// A body without GetBody is read and put back.
	r2, err := http.NewRequest(http.MethodPost, "https://idp.example/token", nil)
	require.NoError(t, err)
	r2.Body = readCloser{strings.NewReader("refresh_token=rt-value-123")}
	s2 := scrub.New()
	s2.AddRequest(r2)
	assert.Equal(t, []string{"rt-value-123"}, s2.Secrets())
	body, err := io.ReadAll(r2.Body)
	require.NoError(t, err)
	assert.Equal(t, "refresh_token=rt-value-123", string(body))
}

// FuzzString embeds a random secret, in a random form, at a random place
// in random text, and checks that no MinFragment-long piece of it (in
// that form) survives.
func FuzzString(f *testing.F) {
	f.Add(uint64(1), uint8(0), "prefix ", " suffix")
	f.Add(uint64(7), uint8(3), "Response: {\"error\":\"invalid_grant\",\"echo\":\"", "\"}")
	f.Add(uint64(42), uint8(5), "raw message was: ", "")
	f.Fuzz(func(t *testing.T, seed uint64, form uint8, before, after string) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
		sec := make([]byte, 16+rng.IntN(300))
		for i := range sec {
			sec[i] = alphabet[rng.IntN(len(alphabet))]
		}
		v := string(sec)
		var enc string
		switch form % 6 {
		case 0:
			enc = v
		case 1:
			enc = url.QueryEscape(v)
		case 2:
			enc = url.PathEscape(v)
		case 3:
			b, _ := json.Marshal(v)
			enc = string(b)
		case 4:
			enc = base64.StdEncoding.EncodeToString([]byte(before + v + after))
		case 5:
			enc = base64.RawURLEncoding.EncodeToString([]byte(v))
		}
		got := scrub.New(v).String(before + enc + after)
		assertNoFragment(t, got, v)
	})
}

// assertNoFragment fails if text holds MinFragment characters in a row of
// secret, clear or in any encoded form.
func assertNoFragment(t *testing.T, text, secret string) {
	t.Helper()
	js, _ := json.Marshal(secret)
	for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), string(js[1 : len(js)-1])} {
		for i := 0; i+scrub.MinFragment <= len(form); i++ {
			if strings.Contains(text, form[i:i+scrub.MinFragment]) {
				t.Fatalf("%q survives in %q", form[i:i+scrub.MinFragment], text)
			}
		}
	}
	for o := range 3 {
		for _, e := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			enc := e.EncodeToString(append(make([]byte, o), secret...))
			start, end := (8*o+5)/6, (8*(o+len(secret)))/6
			core := enc[start:end]
			for i := 0; i+scrub.MinFragment <= len(core); i++ {
				if strings.Contains(text, core[i:i+scrub.MinFragment]) {
					t.Fatalf("base64 piece %q survives in %q", core[i:i+scrub.MinFragment], text)
				}
			}
		}
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
