package mailauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// ErrPlaintext is returned (wrapped) by the dialers for a server whose
// Security is [oauth2client.SecurityNone] on a host that is not a
// loopback address: a plain connection would send the bearer token in
// clear over the network.
var ErrPlaintext = errors.New("mailauth: a plain (Security \"none\") connection is allowed to loopback hosts only")

// ContextDialer opens network connections; *net.Dialer implements it, and
// so do the SOCKS dialers of golang.org/x/net/proxy.
type ContextDialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// DialOptions configure [DialIMAP], [DialSMTP], [ConnectIMAP] and
// [ConnectSMTP]. The zero value (or a nil pointer) dials with a
// net.Dialer and verifies the server's certificate against the system
// roots.
type DialOptions struct {
	// TLSConfig is used for implicit TLS and STARTTLS. It is cloned; an
	// empty ServerName is set to the server's host. Nil uses the system
	// roots.
	TLSConfig *tls.Config
	// Dialer opens the TCP connection (a proxy, a bound source address).
	// Nil uses a zero net.Dialer; the context bounds the dial either way.
	Dialer ContextDialer
	// Server, if its Host is set, replaces the server the account's
	// connection names in its [oauth2client.MailService] (IMAP for the
	// IMAP dialers, SMTP for the SMTP ones).
	Server oauth2client.ServerAddr
	// SASL are the login options ([IMAP], [SMTP]). Host and Port, used by
	// OAUTHBEARER, default to the server dialed.
	SASL *oauth2client.SASLOptions
	// IMAP are go-imap's client options (unilateral data handlers, a
	// debug writer: see its warning about credentials). Its TLSConfig
	// and Dialer are ignored: set the fields above.
	IMAP *imapclient.Options
}

// DialIMAP connects to the IMAP server of account's connection (its
// [oauth2client.MailService], or opts.Server), secures the connection as
// the server's Security says (implicit TLS, STARTTLS, or none for a
// loopback test server) and authenticates as account with [IMAP]. The
// token is obtained before dialing, so an account that needs
// re-authorization costs no connection.
//
// ctx bounds all of it: the dial, the TLS handshake, the greeting and the
// authentication (go-imap's own Dial helpers take no context). When ctx
// ends first, the connection is closed and the error wraps ctx.Err(). The
// returned client is no longer tied to ctx; close it when done.
func DialIMAP(ctx context.Context, oc *oauth2client.Client, account string, opts *DialOptions) (*imapclient.Client, error) {
	o := dialOptions(opts)
	server, err := accountServer(ctx, oc, account, o, func(ms oauth2client.MailService) oauth2client.ServerAddr { return ms.IMAP }, "IMAP")
	if err != nil {
		return nil, err
	}
	c, stop, err := connectIMAP(ctx, server, o)
	if err != nil {
		return nil, err
	}
	err = IMAP(ctx, oc, c, account, saslFor(o, server))
	return finish(ctx, c, stop, err, "IMAP", server)
}

// DialSMTP connects to the mail submission server of account's
// connection (its [oauth2client.MailService], or opts.Server), secures
// the connection as the server's Security says and authenticates as
// account with [SMTP], which keeps long tokens off the AUTH command line.
// ctx bounds the dial, the TLS handshake, the greeting, EHLO and the
// authentication, as for [DialIMAP]. Close or Quit the client when done.
func DialSMTP(ctx context.Context, oc *oauth2client.Client, account string, opts *DialOptions) (*smtp.Client, error) {
	o := dialOptions(opts)
	server, err := accountServer(ctx, oc, account, o, func(ms oauth2client.MailService) oauth2client.ServerAddr { return ms.SMTP }, "SMTP")
	if err != nil {
		return nil, err
	}
	c, stop, err := connectSMTP(ctx, server, o)
	if err != nil {
		return nil, err
	}
	err = SMTP(ctx, oc, c, account, saslFor(o, server))
	return finish(ctx, c, stop, err, "SMTP", server)
}

// ConnectIMAP connects to server and waits for its greeting (and
// completes STARTTLS) without logging in, under ctx like [DialIMAP]. Use
// it to probe a server, or to log in later with [IMAP].
func ConnectIMAP(ctx context.Context, server oauth2client.ServerAddr, opts *DialOptions) (*imapclient.Client, error) {
	c, stop, err := connectIMAP(ctx, server, dialOptions(opts))
	if err != nil {
		return nil, err
	}
	return finish(ctx, c, stop, nil, "IMAP", server)
}

// ConnectSMTP connects to server, completes STARTTLS where its Security
// asks for it and sends EHLO, without logging in, under ctx like
// [DialSMTP].
func ConnectSMTP(ctx context.Context, server oauth2client.ServerAddr, opts *DialOptions) (*smtp.Client, error) {
	c, stop, err := connectSMTP(ctx, server, dialOptions(opts))
	if err != nil {
		return nil, err
	}
	return finish(ctx, c, stop, nil, "SMTP", server)
}

func dialOptions(opts *DialOptions) DialOptions {
	if opts == nil {
		return DialOptions{}
	}
	return *opts
}

// accountServer returns the server to dial for account: opts.Server, or
// the one its connection's mail service names. It obtains the token
// first, so that an account without one fails before any dial.
func accountServer(ctx context.Context, oc *oauth2client.Client, account string, o DialOptions,
	pick func(oauth2client.MailService) oauth2client.ServerAddr, proto string) (oauth2client.ServerAddr, error) {
	tok, err := oc.Token(ctx, account)
	if err != nil {
		return oauth2client.ServerAddr{}, err
	}
	if o.Server.Host != "" {
		return o.Server, nil
	}
	p, err := oc.Connection(tok.Connection)
	if err != nil {
		return oauth2client.ServerAddr{}, err
	}
	server := pick(p.Mail())
	if server.Host == "" {
		return server, fmt.Errorf("mailauth: connection %q names no %s server: set its %s settings or DialOptions.Server", tok.Connection, proto, proto)
	}
	return server, nil
}

func saslFor(o DialOptions, server oauth2client.ServerAddr) *oauth2client.SASLOptions {
	var s oauth2client.SASLOptions
	if o.SASL != nil {
		s = *o.SASL
	}
	if s.Host == "" {
		s.Host, s.Port = server.Host, server.Port
	}
	return &s
}

// defaultPort is the well-known port of proto under sec.
func defaultPort(proto string, sec oauth2client.Security) int {
	switch {
	case proto == "IMAP" && sec == oauth2client.SecurityTLS:
		return 993
	case proto == "IMAP":
		return 143
	case sec == oauth2client.SecurityTLS:
		return 465
	}
	return 587
}

// isLoopback reports whether host names this machine without a network
// in between.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// dial opens the TCP connection to server and, for implicit TLS, does the
// handshake, all under ctx. It returns the address dialed and the TLS
// configuration for STARTTLS.
func dial(ctx context.Context, server oauth2client.ServerAddr, o DialOptions, proto string, alpn []string) (net.Conn, *tls.Config, string, error) {
	port := server.Port
	if port == 0 {
		port = defaultPort(proto, server.Security)
	}
	addr := net.JoinHostPort(server.Host, strconv.Itoa(port))
	switch server.Security {
	case oauth2client.SecurityTLS, oauth2client.SecuritySTARTTLS:
	case oauth2client.SecurityNone:
		if !isLoopback(server.Host) {
			return nil, nil, addr, fmt.Errorf("mailauth: %s server %s: %w: use Security \"tls\" or \"starttls\"", proto, addr, ErrPlaintext)
		}
	default:
		return nil, nil, addr, fmt.Errorf("mailauth: %s server %s: unknown Security %d: use tls, starttls or none", proto, addr, int(server.Security))
	}
	var cfg *tls.Config
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = strings.Trim(server.Host, "[]")
	}
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, addr, dialErr(ctx, proto, addr, "connecting", err)
	}
	if server.Security != oauth2client.SecurityTLS {
		return conn, cfg, addr, nil
	}
	if cfg.NextProtos == nil {
		cfg.NextProtos = alpn
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, nil, addr, dialErr(ctx, proto, addr, "TLS handshake", err)
	}
	return tc, cfg, addr, nil
}

// dialErr describes a failed step, preferring ctx's error when ctx ended:
// a closed connection is then the consequence, not the cause.
func dialErr(ctx context.Context, proto, addr, step string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("mailauth: %s server %s: %s: %w", proto, addr, step, ctx.Err())
	}
	return fmt.Errorf("mailauth: %s server %s: %s: %w", proto, addr, step, err)
}

// watch closes conn when ctx ends, until the returned stop is called;
// stop reports false if ctx ended first (conn is then closed).
func watch(ctx context.Context, conn net.Conn) func() bool {
	return context.AfterFunc(ctx, func() { _ = conn.Close() })
}

func connectIMAP(ctx context.Context, server oauth2client.ServerAddr, o DialOptions) (*imapclient.Client, func() bool, error) {
	conn, cfg, addr, err := dial(ctx, server, o, "IMAP", []string{"imap"})
	if err != nil {
		return nil, nil, err
	}
	stop := watch(ctx, conn)
	var iopts imapclient.Options
	if o.IMAP != nil {
		iopts = *o.IMAP
	}
	iopts.TLSConfig, iopts.Dialer = cfg, nil
	// The client talks through IMAPConn, so that a rejected token's error
	// challenge is answered with the empty line Dovecot accepts (see
	// IMAPConn); STARTTLS is therefore done here, below the wrapper.
	var c *imapclient.Client
	if server.Security == oauth2client.SecuritySTARTTLS {
		var tconn net.Conn
		if tconn, err = startTLS(ctx, conn, cfg); err == nil {
			c = imapclient.New(&greeted{Conn: IMAPConn(tconn), greeting: []byte("* OK TLS established\r\n")}, &iopts)
		}
	} else {
		c = imapclient.New(IMAPConn(conn), &iopts)
	}
	if c != nil {
		if err = c.WaitGreeting(); err != nil {
			_ = c.Close()
		}
	}
	if err != nil {
		stop()
		_ = conn.Close()
		return nil, nil, dialErr(ctx, "IMAP", addr, "greeting", err)
	}
	return c, stop, nil
}

func connectSMTP(ctx context.Context, server oauth2client.ServerAddr, o DialOptions) (*smtp.Client, func() bool, error) {
	conn, cfg, addr, err := dial(ctx, server, o, "SMTP", nil)
	if err != nil {
		return nil, nil, err
	}
	stop := watch(ctx, conn)
	var c *smtp.Client
	if server.Security == oauth2client.SecuritySTARTTLS {
		c, err = smtp.NewClientStartTLS(conn, cfg)
	} else {
		c = smtp.NewClient(conn)
	}
	if err == nil {
		// Greeting, EHLO and, after STARTTLS, the TLS handshake happen
		// here, while ctx can still interrupt them.
		if err = c.Hello("localhost"); err != nil {
			_ = c.Close()
		}
	}
	if err != nil {
		stop()
		_ = conn.Close()
		return nil, nil, dialErr(ctx, "SMTP", addr, "greeting", err)
	}
	return c, stop, nil
}

// finish detaches a client from ctx after the login err: if ctx ended
// first, the connection is closed and the error wraps ctx.Err().
func finish[C interface{ Close() error }](ctx context.Context, c C, stop func() bool, err error, proto string, server oauth2client.ServerAddr) (C, error) {
	var zero C
	if !stop() {
		_ = c.Close()
		return zero, fmt.Errorf("mailauth: %s server %s: %w", proto, server.Host, ctx.Err())
	}
	if err != nil {
		_ = c.Close()
		return zero, err
	}
	return c, nil
}
