// Package dovecot runs a private Dovecot instance (IMAP and submission,
// XOAUTH2 and OAUTHBEARER through the oauth2 passdb) for the project's
// interop tests: a real, independent implementation of the mechanisms to
// check ours against. It touches no system service: the configuration,
// sockets, log and mail live in a short temporary directory, the ports
// are free loopback ports, and the instance is stopped by its PID when the
// test ends.
//
// Dovecot must be installed and the tests must run as root (the master
// process drops privileges to dovenull, dovecot and vmail):
//
//	apt-get install dovecot-core dovecot-imapd dovecot-submissiond
//	OAUTH2MAIL_REQUIRE_PEERS=1 go test -run Dovecot ./interop/
//
// Without dovecot on PATH, [Start] skips the test, unless
// OAUTH2MAIL_REQUIRE_PEERS=1, which turns its absence (or a failed start)
// into a test failure.
package dovecot

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/oauth2mail/oauth2mail/mailtest"
)

// EnvRequire is the environment variable that, set to 1, turns a missing
// or failing Dovecot into a test failure instead of a skip.
const EnvRequire = "OAUTH2MAIL_REQUIRE_PEERS"

// howTo tells a developer how to run the skipped tests.
const howTo = "install it (apt-get install dovecot-core dovecot-imapd dovecot-submissiond) and run as root with " + EnvRequire + "=1"

// StartTimeout bounds how long [Start] waits for Dovecot's ports.
const StartTimeout = 15 * time.Second

// Options configure [Start]. The zero value is not usable: Verifier is
// required.
type Options struct {
	// Verifier answers Dovecot's token introspection requests (RFC 7662,
	// a form POST with token=...), usually a mailtest.Ledger's
	// IntrospectionHandler. Its JSON must carry "active" and "email";
	// "email" must equal the SASL user. Required.
	Verifier http.Handler
	// Scope, if set, is the scope Dovecot requires in the introspection
	// answer (the oauth2 passdb's scope setting). Empty requires none.
	Scope string
}

// Server is a running Dovecot instance. Its fields are set by [Start] and
// must not be changed. It is safe for concurrent use.
type Server struct {
	// IMAPAddr serves IMAP with STARTTLS (as on port 143).
	IMAPAddr string
	// IMAPSAddr serves IMAP over implicit TLS (as on port 993).
	IMAPSAddr string
	// SubmissionAddr serves SMTP submission with STARTTLS (as on port
	// 587); Dovecot relays accepted messages to Sink.
	SubmissionAddr string
	// TLSConfig is a client TLS configuration that trusts the instance's
	// self-signed certificate (issued for 127.0.0.1 and localhost).
	TLSConfig *tls.Config
	// Sink captures the messages the submission service relays.
	Sink *Sink
	// Dir is the instance's directory (configuration, run, log, mail).
	Dir string

	cmd     *exec.Cmd
	exited  chan struct{}
	introsp *httptest.Server
	down    atomic.Bool
}

// Start writes a configuration into a fresh temporary directory, starts
// Dovecot with it and waits (at most [StartTimeout]) until its ports
// accept connections. The instance, its introspection endpoint and its
// sink are stopped by t.Cleanup.
//
// If dovecot is not on PATH or the test does not run as root, Start skips
// t, unless OAUTH2MAIL_REQUIRE_PEERS is 1, in which case it fails t. A
// failed start always fails t, with the tail of Dovecot's log.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("dovecot: not on PATH but %s=1: %s", EnvRequire, howTo)
		}
		t.Skipf("dovecot: not on PATH; to run these interop tests, %s", howTo)
	}
	if opts.Verifier == nil {
		t.Fatal("dovecot: Options.Verifier is nil")
	}
	if os.Geteuid() != 0 {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("dovecot: must run as root (the master drops privileges to its own users) with %s=1", EnvRequire)
		}
		t.Skipf("dovecot: not running as root; to run these interop tests, %s", howTo)
	}
	s, err := start(bin, opts)
	if s != nil {
		t.Cleanup(s.Stop)
	}
	if err != nil {
		tail := ""
		if s != nil {
			tail = s.logTail()
		}
		t.Fatalf("dovecot: %v%s", err, tail)
	}
	return s
}

func start(bin string, opts Options) (*Server, error) {
	vmail, err := ensureUser("vmail")
	if err != nil {
		return nil, err
	}
	// Unix socket paths under base_dir must stay under ~100 bytes, and
	// every directory on the way must be world-traversable.
	dir, err := os.MkdirTemp("", "dc")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, exited: make(chan struct{})}
	if err := os.Chmod(dir, 0o755); err != nil { // #nosec G302 -- test harness: Dovecot's unprivileged processes must read the config
		return s, err
	}
	s.introsp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, "introspection unavailable", http.StatusServiceUnavailable)
			return
		}
		opts.Verifier.ServeHTTP(w, r)
	}))
	if s.Sink, err = newSink(); err != nil {
		return s, err
	}
	cert, err := mailtest.NewCertificate()
	if err != nil {
		return s, err
	}
	s.TLSConfig = cert.ClientConfig()
	ports, err := freePorts(3)
	if err != nil {
		return s, err
	}
	s.IMAPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	s.IMAPSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	s.SubmissionAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2]))
	for _, sub := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil { // #nosec G301 -- test harness: Dovecot's unprivileged processes must enter these directories
			return s, err
		}
	}
	if err := os.Chown(filepath.Join(dir, "mail"), vmail.uid, vmail.gid); err != nil {
		return s, err
	}
	_, sinkPort, _ := net.SplitHostPort(s.Sink.Addr)
	oauth := fmt.Sprintf(oauth2Conf, s.introsp.URL)
	if opts.Scope != "" {
		oauth += "scope = " + opts.Scope + "\n"
	}
	files := []struct {
		name string
		data []byte
	}{
		{"cert.pem", cert.CertPEM},
		{"key.pem", cert.KeyPEM},
		{"dovecot-oauth2.conf.ext", []byte(oauth)},
		{"dovecot.conf", []byte(fmt.Sprintf(mainConf, filepath.Base(dir), dir, vmail.uid, ports[0], ports[1], ports[2], sinkPort))},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return s, err
		}
	}
	out, err := os.Create(filepath.Join(dir, "dovecot.out")) // #nosec G304 -- test harness: a file in its own temp directory
	if err != nil {
		return s, err
	}
	defer out.Close()
	// -F keeps the master in the foreground: it is our child, so Stop
	// can wait for it, and it dies with the test binary (see
	// setParentDeathSignal).
	s.cmd = exec.Command(bin, "-F", "-c", filepath.Join(dir, "dovecot.conf")) // #nosec G204 -- test harness: the dovecot binary found on PATH, with our own temp config
	s.cmd.Stdout, s.cmd.Stderr = out, out
	setParentDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return s, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	for _, addr := range []string{s.IMAPAddr, s.IMAPSAddr, s.SubmissionAddr} {
		if err := s.waitPort(ctx, addr); err != nil {
			return s, err
		}
	}
	return s, nil
}

const mainConf = `instance_name = %[1]s
base_dir = %[2]s/run
state_dir = %[2]s/state
log_path = %[2]s/dovecot.log
protocols = imap submission
listen = 127.0.0.1
hostname = localhost
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
auth_failure_delay = 0
auth_cache_size = 0
first_valid_uid = %[3]d
ssl = yes
ssl_cert = <%[2]s/cert.pem
ssl_key = <%[2]s/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %[2]s/dovecot-oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=%[2]s/mail/%%u
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \Sent
    auto = create
  }
  mailbox Drafts {
    special_use = \Drafts
    auto = create
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    port = %[4]d
  }
  inet_listener imaps {
    port = %[5]d
    ssl = yes
  }
}
service submission-login {
  inet_listener submission {
    port = %[6]d
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
  }
}
submission_relay_host = 127.0.0.1
submission_relay_port = %[7]s
submission_relay_trusted = no
`

const oauth2Conf = `introspection_mode = post
introspection_url = %s/introspect
username_attribute = email
active_attribute = active
active_value = true
timeout_msecs = 5000
`

// SetIntrospectionDown makes the introspection endpoint answer 503 (down
// true) or serve Options.Verifier again (down false), so tests can see how
// Dovecot reports that it cannot verify tokens.
func (s *Server) SetIntrospectionDown(down bool) { s.down.Store(down) }

// Log returns Dovecot's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "dovecot.log"))
	o, _ := os.ReadFile(filepath.Join(s.Dir, "dovecot.out"))
	return string(o) + string(b)
}

func (s *Server) logTail() string {
	l := s.Log()
	if len(l) > 3000 {
		l = l[len(l)-3000:]
	}
	if l == "" {
		return ""
	}
	return "\n--- dovecot log (tail) ---\n" + l
}

// Stop stops Dovecot by the PID in its run/master.pid (or, before it
// wrote one, the PID it was started with), waits for it to exit, stops
// the introspection endpoint and the sink and removes the directory. It
// is idempotent; [Start] registers it with t.Cleanup.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		pid := s.cmd.Process.Pid
		if b, err := os.ReadFile(filepath.Join(s.Dir, "run", "master.pid")); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 1 {
				pid = p
			}
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if s.introsp != nil {
		s.introsp.Close()
	}
	if s.Sink != nil {
		s.Sink.close()
	}
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

type account struct{ uid, gid int }

// ensureUser looks up name, creating it as a system user if missing.
func ensureUser(name string) (account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput() // #nosec G204 -- test harness: a fixed command; name is a constant system user
		if err != nil {
			return account{}, fmt.Errorf("creating the %s user: %v: %s", name, err, out)
		}
		if u, err = user.Lookup(name); err != nil {
			return account{}, err
		}
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return account{}, err
	}
	gid, err := strconv.Atoi(u.Gid)
	return account{uid, gid}, err
}

// freePorts returns n distinct free loopback ports. Another process could
// take one before Dovecot binds it; Start then fails with the log.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitPort dials addr until it answers, Dovecot exits, or ctx ends.
// Dovecot opens its listeners in the master after reading the
// configuration, so polling an external process is the only signal.
func (s *Server) waitPort(ctx context.Context, addr string) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-s.exited:
			return fmt.Errorf("dovecot exited before listening on %s (%v)", addr, s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("%s not listening after %v: %w", addr, StartTimeout, err)
		case <-tick.C:
		}
	}
}

// Sink is the SMTP relay host Dovecot's submission service delivers to:
// it accepts every message and keeps it. It is safe for concurrent use.
type Sink struct {
	// Addr is the host:port it listens on.
	Addr string

	srv  *smtp.Server
	done chan struct{}
	mu   sync.Mutex
	msgs []mailtest.Message
	got  chan struct{}
}

func newSink() (*Sink, error) {
	k := &Sink{done: make(chan struct{}), got: make(chan struct{}, 1)}
	k.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }))
	k.srv.Domain = "sink.localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k.Addr = ln.Addr().String()
	go func() {
		defer close(k.done)
		_ = k.srv.Serve(ln)
	}()
	return k, nil
}

// Messages returns the messages relayed so far, in order (User is empty:
// the relay does not authenticate).
func (k *Sink) Messages() []mailtest.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]mailtest.Message(nil), k.msgs...)
}

// Received returns a channel that receives a value after a message
// arrives. It has a buffer of one.
func (k *Sink) Received() <-chan struct{} { return k.got }

func (k *Sink) close() {
	_ = k.srv.Close()
	<-k.done
}

type sinkSession struct {
	k    *Sink
	from string
	to   []string
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	ss.k.mu.Lock()
	ss.k.msgs = append(ss.k.msgs, mailtest.Message{From: ss.from, To: ss.to, Data: b.Bytes()})
	ss.k.mu.Unlock()
	select {
	case ss.k.got <- struct{}{}:
	default:
	}
	return nil
}

func (ss *sinkSession) Reset() { ss.from, ss.to = "", nil }

func (ss *sinkSession) Logout() error { return nil }
