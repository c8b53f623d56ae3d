package mailauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPConn wraps the connection of a go-imap v2 client so that an empty
// answer to a SASL continuation goes out as an empty line, as RFC 9051
// §6.2.2 (and RFC 3501 §6.2.2) require. go-imap v2.0.0-beta.8 sends "="
// instead — the form of an empty initial response on the AUTHENTICATE
// command line (RFC 4959) — and Dovecot refuses it with "BAD Invalid
// base64 data in continued response" (emersion/go-imap#760). The empty
// answer is what an XOAUTH2 client owes the server's error challenge
// after a rejected token; through IMAPConn Dovecot then ends the command
// with "NO [AUTHENTICATIONFAILED]", like Gmail, Exchange Online and the
// test kit (mailtest). Only a line "=" sent while an AUTHENTICATE command
// is in progress is changed; every other byte passes through untouched.
//
// Wrap the connection under TLS, i.e. give imapclient.New the *tls.Conn
// wrapped: [DialIMAPTLS] and [DialIMAPStartTLS] do it for you.
// imapclient.NewStartTLS upgrades the connection itself, above any
// wrapper, so it cannot be combined with IMAPConn.
func IMAPConn(conn net.Conn) net.Conn { return &imapConn{Conn: conn, lineStart: true} }

// imapConn tracks, from what the client writes, whether an AUTHENTICATE
// command is in progress. go-imap flushes each SASL response on its own,
// so a response is one Write.
type imapConn struct {
	net.Conn
	mu           sync.Mutex
	lineStart    bool // the previous write ended a line
	authenticate bool // an AUTHENTICATE command is in progress
}

var (
	emptyEqual = []byte("=\r\n")
	emptyLine  = []byte("\r\n")
)

func (c *imapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lineStart && len(p) > 0 {
		switch {
		case isAuthenticate(p):
			c.authenticate = true
		case c.authenticate && bytes.Equal(p, emptyEqual):
			// The empty continuation answer: send the empty line.
			if _, err := c.Conn.Write(emptyLine); err != nil {
				return 0, err
			}
			return len(p), nil
		case bytes.IndexByte(p, ' ') >= 0:
			// A SASL response is one base64 word, "=" or "*": a line
			// with a space is the next command.
			c.authenticate = false
		}
	}
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.lineStart = bytes.HasSuffix(p[:n], emptyLine)
	}
	return n, err
}

// isAuthenticate reports whether p starts an AUTHENTICATE command: "tag
// AUTHENTICATE ...".
func isAuthenticate(p []byte) bool {
	_, rest, ok := bytes.Cut(p, []byte(" "))
	const verb = "AUTHENTICATE "
	return ok && len(rest) >= len(verb) && strings.EqualFold(string(rest[:len(verb)]), verb)
}

// DialIMAPTLS connects to an IMAP server with implicit TLS (port 993),
// like imapclient.DialTLS, with the connection wrapped by [IMAPConn].
// Exchange Online (outlook.office365.com:993) and Gmail
// (imap.gmail.com:993) are reached this way.
func DialIMAPTLS(ctx context.Context, address string, options *imapclient.Options) (*imapclient.Client, error) {
	if options == nil {
		options = &imapclient.Options{}
	}
	cfg, err := tlsConfigFor(address, options)
	if err != nil {
		return nil, err
	}
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"imap"}
	}
	conn, err := (&tls.Dialer{NetDialer: options.Dialer, Config: cfg}).DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("mailauth: dial IMAP %s: %w", address, err)
	}
	return imapclient.New(IMAPConn(conn), options), nil
}

// DialIMAPStartTLS connects to an IMAP server on its cleartext port
// (143), upgrades the connection with STARTTLS before anything else is
// said, and returns a client on the TLS connection wrapped by
// [IMAPConn]. It refuses a server that does not upgrade, and one that
// sends PREAUTH or more data before the TLS handshake. The client learns
// the server's capabilities anew over TLS (RFC 9051 §6.2.1).
func DialIMAPStartTLS(ctx context.Context, address string, options *imapclient.Options) (*imapclient.Client, error) {
	if options == nil {
		options = &imapclient.Options{}
	}
	cfg, err := tlsConfigFor(address, options)
	if err != nil {
		return nil, err
	}
	d := options.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("mailauth: dial IMAP %s: %w", address, err)
	}
	tconn, err := startTLS(ctx, conn, cfg)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("mailauth: IMAP STARTTLS with %s: %w", address, err)
	}
	// imapclient waits for a greeting: the server's was sent in
	// cleartext and is not repeated, so give it one without capabilities.
	return imapclient.New(&greeted{Conn: IMAPConn(tconn), greeting: []byte("* OK TLS established\r\n")}, options), nil
}

func tlsConfigFor(address string, options *imapclient.Options) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("mailauth: IMAP address %q is not host:port: %w", address, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if options.TLSConfig != nil {
		cfg = options.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg, nil
}

// errStartTLS is a server that did not take the STARTTLS command.
var errStartTLS = errors.New("the server did not accept STARTTLS; use DialIMAPTLS (port 993) if it offers implicit TLS")

func startTLS(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
		defer func() { _ = conn.SetDeadline(time.Time{}) }()
	}
	br := bufio.NewReaderSize(conn, 4096)
	greeting, err := br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("reading the greeting: %w", err)
	}
	if !strings.HasPrefix(strings.ToUpper(greeting), "* OK") {
		return nil, fmt.Errorf("%w (greeting %q)", errStartTLS, clip(greeting))
	}
	if _, err := conn.Write([]byte("S1 STARTTLS\r\n")); err != nil {
		return nil, err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("reading the STARTTLS answer: %w", err)
		}
		if strings.HasPrefix(line, "* ") {
			continue
		}
		if !strings.HasPrefix(strings.ToUpper(line), "S1 OK") {
			return nil, fmt.Errorf("%w (answer %q)", errStartTLS, clip(line))
		}
		break
	}
	if br.Buffered() > 0 {
		return nil, errors.New("the server sent data before the TLS handshake (a STARTTLS injection?)")
	}
	tconn := tls.Client(conn, cfg)
	if err := tconn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tconn, nil
}

func clip(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// greeted serves greeting before the connection's own data.
type greeted struct {
	net.Conn
	greeting []byte
}

func (g *greeted) Read(p []byte) (int, error) {
	if len(g.greeting) > 0 {
		n := copy(p, g.greeting)
		g.greeting = g.greeting[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}
