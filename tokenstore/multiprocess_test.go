package tokenstore_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/mailtest"
	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// These tests run application instances as real processes (this test
// binary re-executed as TestHelperClientProcess) that share one database
// and one fake Entra ID with strict refresh-token rotation: presenting a
// rotated refresh token revokes the account's whole token family.

const (
	clientProcessEnv = "OAUTH2MAIL_TEST_CLIENT_PROCESS"
	mpRedirect       = "http://localhost:8080/oauth2/callback"
	mpAccounts       = 20
	mpRequests       = 200 // per round, split over the two processes
)

var mpScopes = []string{"openid", "offline_access", "https://outlook.office.com/IMAP.AccessAsUser.All"}

// childConfig tells a client process how to reach the database and the
// provider.
type childConfig struct {
	Driver       string        `json:"driver"` // "sqlite", "pgx" or "file"
	DSN          string        `json:"dsn"`    // for "file", the directory
	Table        string        `json:"table"`
	KeyFile      string        `json:"key_file"`
	AuthURL      string        `json:"auth_url"`
	TokenURL     string        `json:"token_url"`
	ClientID     string        `json:"client_id"`
	ClientSecret string        `json:"client_secret"`
	LockTTL      time.Duration `json:"lock_ttl"`
}

func (c childConfig) dialect() tokenstore.Dialect {
	if c.Driver == "pgx" {
		return tokenstore.PostgreSQL
	}
	return tokenstore.SQLite
}

// openStore opens the shared, encrypted store described by cfg (db is
// nil for the file store).
func openStore(db *sql.DB, cfg childConfig) (oauth2client.TokenStore, error) {
	var (
		s   oauth2client.TokenStore
		err error
	)
	if cfg.Driver == "file" {
		s, err = tokenstore.OpenFile(cfg.DSN)
	} else {
		s, err = tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: cfg.dialect(), Table: cfg.Table})
	}
	if err != nil {
		return nil, err
	}
	keys, err := tokenstore.LoadKeyFile(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	return tokenstore.NewEncrypted(s, tokenstore.EncryptionConfig{Keys: keys})
}

func newGeneric(cfg childConfig, hc *http.Client) (*provider.Generic, error) {
	// The parent talks to the fake over TLS and validates its id_tokens;
	// the children refresh through a plain-HTTP loopback proxy (the
	// explicit opt-in), where an id_token would need a signature the
	// fake does not make, so they take no identity from them.
	issuer, insecure := strings.TrimSuffix(cfg.TokenURL, "/oauth2/v2.0/token")+"/v2.0", false
	if !strings.HasPrefix(cfg.TokenURL, "https://") {
		issuer, insecure = "", true
	}
	return provider.NewGeneric(provider.GenericConfig{
		Name: "entra", AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, Issuer: issuer, AllowInsecureHTTP: insecure,
		ClientID: cfg.ClientID, ClientSecret: oauth2client.Secret(cfg.ClientSecret),
		Scopes: mpScopes, UsernameClaim: "preferred_username", HTTPClient: hc,
		Mail: oauth2client.MailService{
			IMAP: oauth2client.ServerAddr{Host: "outlook.office365.com", Port: 993},
			SMTP: oauth2client.ServerAddr{Host: "smtp.office365.com", Port: 587, Security: oauth2client.SecuritySTARTTLS},
		},
	})
}

// fingerprint identifies a token in output without printing it.
func fingerprint(s oauth2client.Secret) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// TestHelperClientProcess is an application instance, driven over
// stdin/stdout by the tests below. Commands, one per line:
//
//	burst <n> <account,account,...>  n concurrent Token calls, the i-th for
//	                                 account i mod len; answers one
//	                                 "token <account> <fingerprint>" line per
//	                                 distinct result, then "burst <ok> <failed> <first error>"
//	token <account>                  one Token call; "token ok <fingerprint>" or "token error <error>"
func TestHelperClientProcess(t *testing.T) {
	raw := os.Getenv(clientProcessEnv)
	if raw == "" {
		t.Skip("helper process for TestTwoProcesses")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "client process:", err)
		os.Exit(2)
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fail(err)
	}
	var db *sql.DB
	if cfg.Driver != "file" {
		var err error
		if db, err = sql.Open(cfg.Driver, cfg.DSN); err != nil {
			fail(err)
		}
	}
	store, err := openStore(db, cfg)
	if err != nil {
		fail(err)
	}
	p, err := newGeneric(cfg, nil)
	if err != nil {
		fail(err)
	}
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: mpRedirect, Store: store, LockTTL: cfg.LockTTL})
	if err != nil {
		fail(err)
	}
	if err := c.SetConnection("corp", p); err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		if err := out.Flush(); err != nil {
			fail(err)
		}
	}
	say("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		switch {
		case len(f) == 3 && f[0] == "burst":
			n, _ := strconv.Atoi(f[1])
			accounts := strings.Split(f[2], ",")
			type result struct {
				account, fp string
				err         error
			}
			results := make(chan result, n)
			start := make(chan struct{})
			for i := range n {
				go func() {
					<-start
					a := accounts[i%len(accounts)]
					tok, err := c.Token(ctx, a)
					r := result{account: a, err: err}
					if err == nil {
						r.fp = fingerprint(tok.AccessToken)
					}
					results <- r
				}()
			}
			close(start)
			seen := map[[2]string]bool{}
			ok, failed, first := 0, 0, "-"
			for range n {
				r := <-results
				if r.err != nil {
					failed++
					if first == "-" {
						first = strings.ReplaceAll(r.err.Error(), "\n", " ")
					}
					continue
				}
				ok++
				if k := [2]string{r.account, r.fp}; !seen[k] {
					seen[k] = true
					say("token %s %s", r.account, r.fp)
				}
			}
			say("burst %d %d %s", ok, failed, first)
		case len(f) == 2 && f[0] == "token":
			tok, err := c.Token(ctx, f[1])
			if err != nil {
				say("token error %s", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				say("token ok %s", fingerprint(tok.AccessToken))
			}
		default:
			say("unknown command")
		}
		cancel()
	}
	os.Exit(0)
}

// child is a running client process.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startChild starts a client process and waits until it is ready. The
// process is killed at the end of the test; its stderr is logged.
func startChild(t *testing.T, cfg childConfig) *child {
	t.Helper()
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), clientProcessEnv+"="+string(b))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, in: in, lines: make(chan string, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		if s := stderr.String(); s != "" && t.Failed() {
			t.Logf("client process %d stderr:\n%s", cmd.Process.Pid, s)
		}
	})
	require.Equal(t, "ready", c.read(t))
	return c
}

// read returns the child's next output line, failing the test if none
// comes within a minute (a hung child) or the child exited.
func (c *child) read(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		require.True(t, ok, "client process %d exited", c.cmd.Process.Pid)
		return l
	case <-time.After(time.Minute):
		require.FailNow(t, "client process did not answer within a minute")
	}
	return ""
}

func (c *child) send(t *testing.T, line string) {
	t.Helper()
	_, err := io.WriteString(c.in, line+"\n")
	require.NoError(t, err)
}

// mpFixture is the shared fake provider and database of one test.
type mpFixture struct {
	az    *mailtest.Azure
	cfg   childConfig
	db    *sql.DB
	store oauth2client.TokenStore // the parent's view, encrypted like the children's
	users map[string]string       // account -> mail address

	mu        sync.Mutex
	owner     map[string]string // refresh token -> account, for the current round
	refreshes map[string][]time.Time
	strays    int // refreshes with a refresh token of no account's current record
	gate      func(r *http.Request, account string) *mailtest.AzureError
}

func newMPFixture(t *testing.T, driver, dsn string, db *sql.DB, table string) *mpFixture {
	t.Helper()
	f := &mpFixture{db: db, users: map[string]string{}, owner: map[string]string{}, refreshes: map[string][]time.Time{}}
	var users []mailtest.AzureUser
	for i := range mpAccounts {
		a := fmt.Sprintf("acct-%02d", i)
		f.users[a] = fmt.Sprintf("user%02d@contoso.example", i)
		users = append(users, mailtest.AzureUser{Email: f.users[a]})
	}
	az, err := mailtest.NewAzure(mailtest.AzureOptions{RedirectURIs: []string{mpRedirect}, Users: users,
		StrictRotation: true, Fail: f.onTokenRequest})
	require.NoError(t, err)
	t.Cleanup(az.Close)
	f.az = az

	// The children reach the fake through a plain-HTTP proxy, so that
	// they need not trust its test certificate.
	target, err := url.Parse(az.URL())
	require.NoError(t, err)
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: az.Client().Transport,
		// A killed child's request is dropped: no log line for it.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) },
	})
	t.Cleanup(proxy.Close)

	keyFile := filepath.Join(t.TempDir(), "tokens.key")
	_, err = tokenstore.LoadOrCreateKeyFile(keyFile)
	require.NoError(t, err)
	f.cfg = childConfig{Driver: driver, DSN: dsn, Table: table, KeyFile: keyFile,
		AuthURL:  proxy.URL + "/" + az.Tenant() + "/oauth2/v2.0/authorize",
		TokenURL: proxy.URL + "/" + az.Tenant() + "/oauth2/v2.0/token",
		ClientID: az.ClientID(), ClientSecret: az.ClientSecret(), LockTTL: 10 * time.Second}
	if db != nil {
		sqlStore, err := tokenstore.NewSQL(tokenstore.SQLConfig{DB: db, Dialect: f.cfg.dialect(), Table: table})
		require.NoError(t, err)
		require.NoError(t, sqlStore.Migrate(context.Background()))
	}
	f.store, err = openStore(db, f.cfg)
	require.NoError(t, err)
	f.connectAll(t)
	return f
}

// onTokenRequest is the fake's Fail hook: it counts refreshes per
// account and lets a test hold one back.
func (f *mpFixture) onTokenRequest(r *http.Request) *mailtest.AzureError {
	if r.PostForm.Get("grant_type") != "refresh_token" {
		return nil
	}
	f.mu.Lock()
	account, ok := f.owner[r.PostForm.Get("refresh_token")]
	if ok {
		f.refreshes[account] = append(f.refreshes[account], time.Now())
	} else {
		f.strays++
	}
	gate := f.gate
	f.mu.Unlock()
	if gate != nil && ok {
		return gate(r, account)
	}
	return nil
}

// connectAll authorizes every account through the parent's own Client:
// consent at the fake, then the callback handler.
func (f *mpFixture) connectAll(t *testing.T) {
	t.Helper()
	direct := f.cfg
	direct.AuthURL = f.az.URL() + "/" + f.az.Tenant() + "/oauth2/v2.0/authorize"
	direct.TokenURL = f.az.URL() + "/" + f.az.Tenant() + "/oauth2/v2.0/token"
	p, err := newGeneric(direct, f.az.Client())
	require.NoError(t, err)
	c, err := oauth2client.New(oauth2client.Config{RedirectURL: mpRedirect, Store: f.store})
	require.NoError(t, err)
	require.NoError(t, c.SetConnection("corp", p))
	h := c.Handler(oauth2client.HandlerConfig{})
	ctx := context.Background()
	for account, email := range f.users {
		authURL, err := c.StartAuthorization(ctx, "corp", account, &oauth2client.AuthOptions{LoginHint: email})
		require.NoError(t, err)
		cb, err := f.az.AuthorizeAs(ctx, authURL, email)
		require.NoError(t, err)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, cb, nil))
		require.Equal(t, http.StatusOK, w.Code, "callback of %s", account)
	}
}

// expire makes the stored access tokens of accounts expired, as time
// passing would, and starts counting refreshes afresh.
func (f *mpFixture) expire(t *testing.T, accounts ...string) {
	t.Helper()
	ctx := context.Background()
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.owner)
	clear(f.refreshes)
	f.strays = 0
	for _, a := range accounts {
		rec, err := f.store.Load(ctx, a)
		require.NoError(t, err)
		require.NotEmpty(t, rec.RefreshToken)
		rec.Expiry = time.Now().Add(-time.Minute)
		require.NoError(t, f.store.(oauth2client.CompareAndSwapper).CompareAndSwap(ctx, rec))
		f.owner[string(rec.RefreshToken)] = a
	}
}

func (f *mpFixture) accounts() []string {
	var as []string
	for i := range mpAccounts {
		as = append(as, fmt.Sprintf("acct-%02d", i))
	}
	return as
}

// checkAllWork checks that each account's stored tokens are good: the
// access token is valid at the fake, and the refresh token family was not
// revoked (one more refresh, from the parent, succeeds).
func (f *mpFixture) checkAllWork(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	p, err := newGeneric(childConfig{AuthURL: f.az.URL() + "/x", TokenURL: f.az.URL() + "/" + f.az.Tenant() + "/oauth2/v2.0/token",
		ClientID: f.az.ClientID(), ClientSecret: f.az.ClientSecret()}, f.az.Client())
	require.NoError(t, err)
	for _, a := range f.accounts() {
		rec, err := f.store.Load(ctx, a)
		require.NoError(t, err)
		_, err = f.az.Ledger().Check(f.users[a], string(rec.AccessToken))
		assert.NoError(t, err, "access token of %s", a)
		g, err := p.Refresh(ctx, &rec.Grant)
		if assert.NoError(t, err, "refresh token family of %s", a) {
			_, err = f.az.Ledger().Check(f.users[a], string(g.AccessToken))
			assert.NoError(t, err)
		}
	}
}

func TestTwoProcesses(t *testing.T) {
	dialects := []struct {
		name string
		open func(t *testing.T) (driver, dsn string, db *sql.DB, table string)
	}{
		{"SQLite", func(t *testing.T) (string, string, *sql.DB, string) {
			dsn := "file:" + filepath.Join(t.TempDir(), "tokens.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
			db, err := sql.Open("sqlite", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			return "sqlite", dsn, db, tokenstore.DefaultTable
		}},
		{"File", func(t *testing.T) (string, string, *sql.DB, string) {
			return "file", filepath.Join(t.TempDir(), "tokens"), nil, ""
		}},
		{"PostgreSQL", func(t *testing.T) (string, string, *sql.DB, string) {
			db := openPostgres(t)
			return "pgx", os.Getenv("OAUTH2MAIL_TEST_POSTGRES"), db, uniqueTable(t, db)
		}},
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Run("ConcurrentRefresh", func(t *testing.T) {
				driver, dsn, db, table := d.open(t)
				testConcurrentRefresh(t, newMPFixture(t, driver, dsn, db, table))
			})
			t.Run("KilledLeaseHolder", func(t *testing.T) {
				driver, dsn, db, table := d.open(t)
				testKilledLeaseHolder(t, newMPFixture(t, driver, dsn, db, table))
			})
		})
	}
}

// testConcurrentRefresh: two rounds of expiry, each with 200 concurrent
// token requests over 20 accounts from two processes.
func testConcurrentRefresh(t *testing.T, f *mpFixture) {
	accounts := f.accounts()
	for round := 1; round <= 2; round++ {
		f.expire(t, accounts...)
		before := f.az.TokenRequests("refresh_token")
		a, b := startChild(t, f.cfg), startChild(t, f.cfg)
		cmd := fmt.Sprintf("burst %d %s", mpRequests/2, strings.Join(accounts, ","))
		a.send(t, cmd)
		b.send(t, cmd)

		tokens := map[string]map[string]bool{} // account -> fingerprints handed out
		for _, c := range []*child{a, b} {
			for {
				l := strings.Fields(c.read(t))
				require.NotEmpty(t, l)
				if l[0] == "token" {
					require.Len(t, l, 3)
					if tokens[l[1]] == nil {
						tokens[l[1]] = map[string]bool{}
					}
					tokens[l[1]][l[2]] = true
					continue
				}
				require.Equal(t, "burst", l[0])
				assert.Equal(t, []string{strconv.Itoa(mpRequests / 2), "0", "-"}, l[1:4], "round %d: ok, failed, first error: %v", round, l)
				break
			}
		}

		f.mu.Lock()
		for _, acct := range accounts {
			assert.Len(t, f.refreshes[acct], 1, "round %d: refreshes of %s", round, acct)
			assert.Len(t, tokens[acct], 1, "round %d: both processes hand out the one new token of %s", round, acct)
		}
		assert.Zero(t, f.strays, "round %d: refreshes with an already-rotated token", round)
		f.mu.Unlock()
		assert.Equal(t, mpAccounts, f.az.TokenRequests("refresh_token")-before, "round %d: refresh requests", round)
	}
	f.checkAllWork(t)
}

// testKilledLeaseHolder: process A takes the refresh lease of an account
// and is killed (SIGKILL) while its refresh is in flight; process B waits
// until the lease lapses, then refreshes the account.
func testKilledLeaseHolder(t *testing.T, f *mpFixture) {
	const account = "acct-07"
	ttl := 2 * time.Second
	f.cfg.LockTTL = ttl
	f.expire(t, account)

	inFlight := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var once sync.Once
	f.mu.Lock()
	f.gate = func(r *http.Request, _ string) *mailtest.AzureError {
		held := false
		once.Do(func() { held = true })
		if !held {
			return nil
		}
		inFlight <- struct{}{}
		select { // until the test ends or the dead client's request is dropped
		case <-release:
		case <-r.Context().Done():
		}
		return &mailtest.AzureError{Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable"}
	}
	f.mu.Unlock()

	a, b := startChild(t, f.cfg), startChild(t, f.cfg)
	a.send(t, "token "+account)
	select {
	case <-inFlight:
	case <-time.After(time.Minute):
		require.FailNow(t, "process A never asked the provider")
	}
	require.NoError(t, a.cmd.Process.Kill()) // SIGKILL: the lease row stays
	killed := time.Now()

	b.send(t, "token "+account)
	l := strings.Fields(b.read(t))
	require.Equal(t, []string{"token", "ok"}, l[:2], "process B: %v", l)
	took := time.Since(killed)

	f.mu.Lock()
	times := f.refreshes[account]
	strays := f.strays
	f.mu.Unlock()
	require.Len(t, times, 2, "A's refresh, then B's")
	assert.GreaterOrEqual(t, times[1].Sub(times[0]), ttl-300*time.Millisecond, "B refreshed before A's lease lapsed")
	assert.Less(t, took, 30*time.Second)
	assert.Zero(t, strays)

	rec, err := f.store.Load(context.Background(), account)
	require.NoError(t, err)
	assert.Equal(t, l[2], fingerprint(rec.AccessToken), "B stored what it handed out")
	f.checkAllWork(t)
}

const casProcessEnv = "OAUTH2MAIL_TEST_CAS_PROCESS"

// TestHelperCASProcess increments a counter kept in one account's record
// with compare-and-swap, reloading after each conflict, and prints
// "done <conflicts>".
func TestHelperCASProcess(t *testing.T) {
	dir := os.Getenv(casProcessEnv)
	if dir == "" {
		t.Skip("helper process for TestFileSharedByProcesses")
	}
	s, err := tokenstore.OpenFile(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	fmt.Println("ready")
	bufio.NewScanner(os.Stdin).Scan() // "go"
	conflicts := 0
	for done := 0; done < casIncrements; {
		rec, err := s.Load(ctx, "counter")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		n, _ := strconv.Atoi(rec.Connection)
		rec.Connection = strconv.Itoa(n + 1)
		switch err := s.CompareAndSwap(ctx, rec); {
		case err == nil:
			done++
		case errors.Is(err, oauth2client.ErrConflict):
			conflicts++
		default:
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	fmt.Println("done", conflicts)
	os.Exit(0)
}

const casIncrements = 300

// TestFileSharedByProcesses has two processes increment one record with
// compare-and-swap through their own File on one directory: no increment
// is lost.
func TestFileSharedByProcesses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	s, err := tokenstore.OpenFile(dir)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Save(ctx, &oauth2client.Record{Account: "counter", Connection: "0"}))

	type proc struct {
		cmd   *exec.Cmd
		in    io.WriteCloser
		lines *bufio.Scanner
	}
	var procs []proc
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCASProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), casProcessEnv+"="+dir)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		p := proc{cmd, in, bufio.NewScanner(out)}
		require.True(t, p.lines.Scan())
		require.Equal(t, "ready", p.lines.Text())
		procs = append(procs, p)
	}
	for _, p := range procs {
		_, err := io.WriteString(p.in, "go\n")
		require.NoError(t, err)
	}
	conflicts := 0
	for _, p := range procs {
		require.True(t, p.lines.Scan(), "the process died")
		var n int
		_, err := fmt.Sscanf(p.lines.Text(), "done %d", &n)
		require.NoError(t, err)
		conflicts += n
		require.NoError(t, p.cmd.Wait())
	}
	rec, err := s.Load(ctx, "counter")
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(2*casIncrements), rec.Connection, "increments lost")
	assert.Equal(t, int64(2*casIncrements+1), rec.Version)
	t.Logf("%d conflicts", conflicts)
	tmps, err := filepath.Glob(filepath.Join(dir, ".rec-*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, tmps)
}
