package main

// The sign-in flow in a real browser: headless Chromium, driven through
// the DevTools protocol, against the -demo setup. The application and the
// fake provider are different sites (mail.app.test and login.idp.test,
// both mapped to loopback inside Chromium), both on https, so the browser
// applies its real cookie rules to the provider's answer: SameSite,
// Secure, cross-site redirects and cross-site POSTs.
//
// The suite needs Chromium (Debian's chromium package). Without it the
// tests skip, unless OAUTH2MAIL_REQUIRE_PEERS=1 makes that a failure. On
// failure every step's screenshot is written under
// $OAUTH2MAIL_ARTIFACTS/browser (or a new temporary folder, logged).

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

const (
	appHost = "mail.app.test"  // the application's site: app.test
	idpHost = "login.idp.test" // the provider's site: idp.test
	// stepTimeout bounds one step of a user (a click and the pages it
	// leads to); generous, for a busy 2-core machine.
	stepTimeout = 60 * time.Second
)

// browser is one Chromium process shared by the tests; each user gets a
// browser context of their own (own cookies, like another profile).
type browser struct{ ctx context.Context }

// chromiumPath finds the browser: $OAUTH2MAIL_CHROMIUM, else chromium
// (Debian) or Chrome on the PATH.
func chromiumPath() string {
	if p := os.Getenv("OAUTH2MAIL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("OAUTH2MAIL_REQUIRE_PEERS") == "1" {
			t.Fatal("Chromium not found and OAUTH2MAIL_REQUIRE_PEERS=1: install Debian's chromium package (apt-get install chromium) or set OAUTH2MAIL_CHROMIUM to the browser's path")
		}
		t.Skip("Chromium not found: the browser tests need Debian's chromium package (apt-get install chromium); OAUTH2MAIL_REQUIRE_PEERS=1 makes this a failure")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		// No network: nothing but the two test sites resolves.
		chromedp.Flag("host-resolver-rules", "MAP "+appHost+" 127.0.0.1, MAP "+idpHost+" 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		// Pages come back from history by a new load, which the
		// protocol's DOM tracking follows (a page restored from the
		// back/forward cache is not seen by the waits). One renderer
		// process for both sites of a tab: a third less CPU for the suite.
		// That changes which process draws a page, not which cookies the
		// network stack sends (the SameSite cases show they are withheld).
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,BackForwardCache,IsolateOrigins,site-per-process"),
		chromedp.Flag("disable-site-isolation-trials", true),
		// The sites use the fakes' self-signed certificates. The pages
		// are still https, so Secure cookies behave as in production.
		chromedp.IgnoreCertErrors,
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "starting %s", path)
	return &browser{ctx: ctx}
}

// site is one instance of the -demo application served over https at
// appHost, with its fake provider at idpHost.
type site struct {
	*demo
	url string
	log *syncBuffer
}

func startSite(t *testing.T, cfg demoConfig) *site {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	s := &site{url: fmt.Sprintf("https://%s:%d", appHost, srv.Listener.Addr().(*net.TCPAddr).Port), log: &syncBuffer{}}
	cfg.Base, cfg.BrowserHost, cfg.Log = s.url, idpHost, s.log
	d, err := newDemo(cfg)
	require.NoError(t, err)
	s.demo = d
	srv.Config.Handler = d.app.routes()
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		d.Close()
		if t.Failed() {
			t.Logf("application log:\n%s", s.log.String())
		}
	})
	return s
}

// accounts lists the stored accounts.
func (s *site) accounts(t *testing.T) []string {
	t.Helper()
	all, err := s.app.store.(oauth2client.Lister).List(t.Context())
	require.NoError(t, err)
	return all
}

// user is one person at one browser context. Every step ends with a
// screenshot; they are written to disk if the test fails.
type user struct {
	t     *testing.T
	ctx   context.Context
	name  string
	shots []shot
}

// shot is the screenshot taken at the end of a step.
type shot struct {
	step string
	png  []byte
}

func (b *browser) newUser(t *testing.T, name string) *user {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	u := &user{t: t, ctx: ctx, name: name}
	t.Cleanup(u.saveShots) // before cancel: cleanups run last-in first-out
	require.NoError(t, chromedp.Do(ctx), "opening a tab for %s", name)
	return u
}

// do runs one step: the actions, then a screenshot.
func (u *user) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	err := chromedp.Do(ctx, actions...)
	u.snap(step)
	require.NoError(u.t, err, "%s: %s", u.name, step)
}

// snap keeps a screenshot of the page (PNG encoded for speed: there is
// one per step).
func (u *user) snap(step string) {
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	img, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		r, err := cdp.Call(ctx, t, cdppage.CaptureScreenshot, cdppage.CaptureScreenshotParams{
			Format: cdppage.CaptureScreenshotFormatPng, OptimizeForSpeed: new(true)})
		return r.Data, err
	})
	if err == nil {
		u.shots = append(u.shots, shot{step, img})
	}
}

func (u *user) text(sel string) string {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		u.snap("no " + sel)
	}
	require.NoError(u.t, err, "%s: text of %s", u.name, sel)
	return strings.TrimSpace(s)
}

func (u *user) location() *url.URL {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(u.t, err)
	l, err := url.Parse(s)
	require.NoError(u.t, err)
	return l
}

func (u *user) present(sel string) bool {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	require.NoError(u.t, err)
	return n > 0
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// saveShots writes the screenshots of a failed test, numbered by step.
func (u *user) saveShots() {
	if !u.t.Failed() || len(u.shots) == 0 {
		return
	}
	root := os.Getenv("OAUTH2MAIL_ARTIFACTS")
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "oauth2mail-artifacts-"); err != nil {
			u.t.Logf("screenshots not saved: %v", err)
			return
		}
	}
	dir := filepath.Join(root, "browser", unsafeName.ReplaceAllString(u.t.Name(), "_"), unsafeName.ReplaceAllString(u.name, "_"))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		u.t.Logf("screenshots not saved: %v", err)
		return
	}
	for i, s := range u.shots {
		name := filepath.Join(dir, fmt.Sprintf("%02d-%s.png", i+1, unsafeName.ReplaceAllString(s.step, "_")))
		if err := os.WriteFile(name, s.png, 0o600); err != nil {
			u.t.Logf("screenshot not saved: %v", err)
		}
	}
	u.t.Logf("screenshots of %s's steps: %s", u.name, dir)
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Steps shared by the tests.

// openHome opens the application's start page.
func (u *user) openHome(s *site) {
	u.t.Helper()
	u.do("home", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.CSS("#connect")))
}

// startConnect presses "Connect a mailbox" and waits for the provider's
// sign-in page, on the provider's site.
func (u *user) startConnect() {
	u.t.Helper()
	u.do("connect: the provider's sign-in page", chromedp.Click(chromedp.CSS("#connect button")), chromedp.WaitVisible(chromedp.CSS("#continue")))
	loc := u.location()
	require.Equal(u.t, idpHost, loc.Hostname(), "the provider is another site")
}

// signIn presses Continue on the provider's page and waits for the
// application's answer: the mailbox row, or an error.
func (u *user) signIn() {
	u.t.Helper()
	u.do("continue: back at the application", chromedp.Click(chromedp.CSS("#continue")), chromedp.WaitVisible(chromedp.CSS("#mb-work, #error")))
	assert.Equal(u.t, appHost, u.location().Hostname())
}

// TestBrowser drives the example in Chromium. One browser process serves
// every case; each user is a browser context of their own.
func TestBrowser(t *testing.T) {
	b := startBrowser(t)

	// Each provider: cancel at the provider's page, sign in, send a test
	// message, disconnect.
	for _, tt := range []struct{ provider, email string }{
		{"azure", "alice@contoso.example"},
		{"google", "bob@gmail.example"},
	} {
		t.Run(tt.provider+"/connect, send, disconnect", func(t *testing.T) {
			t.Parallel()
			s := startSite(t, demoConfig{Provider: tt.provider})
			u := b.newUser(t, "user")
			u.openHome(s)
			assert.False(t, u.present("#mb-work"))

			// The user first cancels at the provider's page.
			u.startConnect()
			u.do("cancel", chromedp.Click(chromedp.CSS("#cancel")), chromedp.WaitVisible(chromedp.CSS("#error")))
			assert.Equal(t, appHost, u.location().Hostname())
			assert.Equal(t, "The sign-in was cancelled or access was not granted. You can start again.", u.text("#error"))
			assert.Empty(t, s.accounts(t))
			assert.Contains(t, s.log.String(), "access_denied")

			// Then starts again from the error page, and signs in.
			u.startConnect()
			assert.Contains(t, u.text("#user"), tt.email)
			u.signIn()
			require.False(t, u.present("#error"), "the sign-in failed: %s", s.log.String())
			assert.Equal(t, "connected", u.text("#mb-work .state"))
			assert.Equal(t, tt.email, u.text("#mb-work .username"))
			require.Len(t, s.accounts(t), 1)

			u.do("send a test message", chromedp.Click(chromedp.CSS("#send-work")), chromedp.WaitVisible(chromedp.CSS("#notice, #error")))
			require.True(t, u.present("#notice"), "the test message was not sent: %s", s.log.String())
			assert.Contains(t, u.text("#notice"), "A test message was sent from "+tt.email)
			msgs := s.smtp.Messages()
			require.Len(t, msgs, 1)
			assert.Equal(t, tt.email, msgs[0].User, "logged in with the mailbox's token")
			assert.Equal(t, []string{tt.email}, msgs[0].To)

			u.do("disconnect", chromedp.Click(chromedp.CSS("#disconnect-work")), chromedp.WaitNotPresent(chromedp.CSS("#mb-work")))
			assert.Empty(t, s.accounts(t))
		})
	}

	t.Run("another user cannot finish the first one's sign-in", func(t *testing.T) {
		t.Parallel()
		s := startSite(t, demoConfig{})
		first := b.newUser(t, "first")
		first.openHome(s)
		first.startConnect()
		authURL := first.location().String()

		// The second user, signed in to the application in their own
		// browser, is sent the first one's sign-in link (login CSRF).
		second := b.newUser(t, "second")
		second.openHome(s)
		second.do("open the first user's sign-in", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("#continue")))
		second.signIn()
		require.True(t, second.present("#error"))
		assert.Contains(t, second.text("#error"), "started in another browser session")
		second.openHome(s)
		assert.False(t, second.present("#mb-work"))
		assert.Empty(t, s.accounts(t))
		assert.Contains(t, s.log.String(), oauth2client.ErrSessionMismatch.Error())
	})

	t.Run("the back button after a completed sign-in replays a used state", func(t *testing.T) {
		t.Parallel()
		s := startSite(t, demoConfig{})
		u := b.newUser(t, "user")
		u.openHome(s)
		u.startConnect()
		u.signIn()
		require.Equal(t, "connected", u.text("#mb-work .state"))

		u.do("back to the provider's page", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("#continue")))
		assert.Equal(t, idpHost, u.location().Hostname())
		u.signIn()
		require.True(t, u.present("#error"))
		assert.Contains(t, u.text("#error"), "This sign-in link was already used")
		assert.Contains(t, s.log.String(), oauth2client.ErrStateReplayed.Error())

		u.openHome(s)
		assert.Equal(t, "connected", u.text("#mb-work .state"), "the replay leaves the connected mailbox alone")
	})

	t.Run("the user waited too long at the provider", func(t *testing.T) {
		t.Parallel()
		clock := mailtest.NewClock(time.Now())
		s := startSite(t, demoConfig{Clock: clock})
		u := b.newUser(t, "user")
		u.openHome(s)
		u.startConnect()
		clock.Advance(oauth2client.DefaultStateTTL + time.Minute)
		u.signIn()
		require.True(t, u.present("#error"))
		assert.Contains(t, u.text("#error"), "The sign-in took too long and has expired")
		assert.Empty(t, s.accounts(t))
	})

	// Which session cookie works with which response mode. The provider's
	// answer comes from its page, another site: browsers send SameSite=Lax
	// cookies with its redirect (GET) but not with its form_post (POST);
	// Strict cookies with neither; None; Secure cookies with both. The
	// refused cases are the point: they pass only because Chromium
	// withholds the cookie.
	for _, tt := range []struct {
		name     string
		sameSite http.SameSite
		mode     string
		works    bool
		advice   string // in the log when refused
	}{
		// Lax with query: the flows above.
		{"None with query", http.SameSiteNoneMode, "query", true, ""},
		{"Strict with query is refused", http.SameSiteStrictMode, "query", false, "make the session cookie SameSite=Lax"},
		{"Lax with form_post is refused", http.SameSiteLaxMode, "form_post", false, "make the session cookie SameSite=None; Secure"},
		{"Strict with form_post is refused", http.SameSiteStrictMode, "form_post", false, "make the session cookie SameSite=None; Secure"},
		{"None with form_post", http.SameSiteNoneMode, "form_post", true, ""},
		// Browsers treat a cookie without the attribute as Lax, but
		// Chromium still sends it with a cross-site POST in the two
		// minutes after it was set ("Lax+POST"): this quick sign-in works,
		// a user who takes longer is refused. Never rely on it.
		{"no attribute with form_post, while the cookie is fresh", http.SameSiteDefaultMode, "form_post", true, ""},
	} {
		t.Run("cookie/"+tt.name, func(t *testing.T) {
			t.Parallel()
			s := startSite(t, demoConfig{SameSite: tt.sameSite, ResponseMode: tt.mode})
			u := b.newUser(t, "user")
			u.openHome(s)
			u.startConnect()
			u.signIn()
			if tt.works {
				require.False(t, u.present("#error"), "the sign-in failed: %s", s.log.String())
				assert.Equal(t, "connected", u.text("#mb-work .state"))
				assert.Len(t, s.accounts(t), 1)
				return
			}
			require.True(t, u.present("#error"), "the sign-in went through: the browser sent the cookie")
			assert.Contains(t, u.text("#error"), "This browser did not send its session with the sign-in response")
			assert.Empty(t, s.accounts(t))
			log := s.log.String()
			assert.Contains(t, log, "the callback request carried no browser session")
			assert.Contains(t, log, tt.advice)
		})
	}
}
