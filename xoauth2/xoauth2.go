package xoauth2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
)

// Mechanism is the SASL mechanism name.
const Mechanism = "XOAUTH2"

// MaxMessage is the largest initial response or error challenge accepted,
// in bytes. Real access tokens are a few kilobytes.
const MaxMessage = 64 << 10

// Errors. They are returned wrapped; test with [errors.Is].
var (
	// ErrMalformed: the client's initial response is not a well-formed
	// XOAUTH2 message.
	ErrMalformed = errors.New("xoauth2: malformed initial response")
	// ErrMalformedChallenge: the server's error challenge is not the
	// expected JSON object.
	ErrMalformedChallenge = errors.New("xoauth2: malformed error challenge")
	// ErrAuthFailed: the server rejected the credentials.
	ErrAuthFailed = errors.New("xoauth2: authentication failed")
	// ErrInvalidCredential: a username or token contains a byte that would
	// forge the message's structure (\x01).
	ErrInvalidCredential = errors.New("xoauth2: username or token contains a \\x01 byte")
)

// Error is the server's error challenge: a JSON object the server sends
// (base64-encoded on the wire) when it rejects the token. It never holds
// the token.
type Error struct {
	// Status is the HTTP-like status, e.g. "401" or "400".
	Status string `json:"status"`
	// Schemes lists the accepted schemes, e.g. "bearer".
	Schemes string `json:"schemes"`
	// Scope is the scope the server requires, e.g.
	// "https://mail.google.com/".
	Scope string `json:"scope"`
}

// Error describes the rejection.
func (e *Error) Error() string {
	return fmt.Sprintf("xoauth2: server rejected the token (status %s, schemes %s, scope %s)", e.Status, e.Schemes, e.Scope)
}

// ParseChallenge decodes a server's error challenge (already
// base64-decoded). The status may be a JSON string or number.
func ParseChallenge(b []byte) (*Error, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformedChallenge)
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformedChallenge, len(b), MaxMessage)
	}
	var raw struct {
		Status  json.RawMessage `json:"status"`
		Schemes string          `json:"schemes"`
		Scope   string          `json:"scope"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedChallenge, err)
	}
	e := &Error{Schemes: raw.Schemes, Scope: raw.Scope}
	switch {
	case len(raw.Status) == 0 || string(raw.Status) == "null":
	case raw.Status[0] == '"':
		if err := json.Unmarshal(raw.Status, &e.Status); err != nil {
			return nil, fmt.Errorf("%w: status: %v", ErrMalformedChallenge, err)
		}
	default:
		var n json.Number
		if err := json.Unmarshal(raw.Status, &n); err != nil {
			return nil, fmt.Errorf("%w: status is neither a string nor a number", ErrMalformedChallenge)
		}
		e.Status = n.String()
	}
	return e, nil
}

// Client is the client side of XOAUTH2. Create it with [NewClient]. A
// Client serves one authentication exchange and is not safe for
// concurrent use.
type Client struct {
	username, token string
	err             *Error
	steps           int
}

var _ sasl.Client = (*Client)(nil)

// NewClient returns a client that authenticates username with the OAuth
// 2.0 bearer token. After a failed exchange, [Client.Err] holds the
// server's decoded error challenge.
func NewClient(username, token string) *Client {
	return &Client{username: username, token: token}
}

// Start returns the mechanism name and the initial response
//
//	"user=" username "\x01auth=Bearer " token "\x01\x01"
//
// which is never nil. It fails with [ErrInvalidCredential] if username or
// token contains \x01.
func (c *Client) Start() (mech string, ir []byte, err error) {
	if strings.IndexByte(c.username, 1) >= 0 || strings.IndexByte(c.token, 1) >= 0 {
		return "", nil, ErrInvalidCredential
	}
	ir = make([]byte, 0, len(c.username)+len(c.token)+22)
	ir = append(ir, "user="...)
	ir = append(ir, c.username...)
	ir = append(ir, "\x01auth=Bearer "...)
	ir = append(ir, c.token...)
	ir = append(ir, "\x01\x01"...)
	return Mechanism, ir, nil
}

// Next handles a server challenge. XOAUTH2 servers send a challenge only
// to report an error: Next decodes it (see [Client.Err]) and returns the
// empty, non-nil response the protocol requires, after which the server
// ends the command with a failure (IMAP NO, SMTP 535). A nil response
// would make some clients (go-smtp) stop without answering. A second
// challenge fails with [sasl.ErrUnexpectedServerChallenge].
func (c *Client) Next(challenge []byte) (response []byte, err error) {
	c.steps++
	if c.steps > 1 {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	if e, perr := ParseChallenge(challenge); perr == nil {
		c.err = e
	} else {
		c.err = &Error{Status: "unknown"}
	}
	return []byte{}, nil
}

// Err returns the server's decoded error challenge, or nil if the server
// sent none. A server may reject a token without a challenge (Exchange
// Online does); the protocol's own error (IMAP NO, SMTP 535) says so.
func (c *Client) Err() *Error { return c.err }

// Authenticator verifies a username and bearer token for [NewServer]. It
// returns nil to accept. To reject, it returns an error; if that error is
// (or wraps) an [*Error], its fields form the challenge sent to the
// client, otherwise the challenge is {"status":"401","schemes":"bearer"}.
type Authenticator func(username, token string) error

// Server is the server side of XOAUTH2. Create it with [NewServer]. A
// Server serves one authentication exchange and is not safe for
// concurrent use.
type Server struct {
	auth    Authenticator
	state   int // 0: start, 1: waiting for the initial response, 2: failed, waiting for the client's acknowledgement, 3: done
	failErr error
}

var _ sasl.Server = (*Server)(nil)

// NewServer returns a server that parses the client's initial response
// and hands username and token to auth.
func NewServer(auth Authenticator) *Server { return &Server{auth: auth} }

// Next implements [sasl.Server].
//
// A nil response means the client sent no initial response: Next returns
// an empty challenge and expects the message next. A malformed message
// fails at once with [ErrMalformed] (done). When auth rejects the
// credentials, Next returns the JSON error challenge (not done); the
// client's answer to it, whatever it is (empty, nil, or anything), ends
// the exchange with an error wrapping both [ErrAuthFailed] and the
// authenticator's error. Next never panics, whatever the input.
func (s *Server) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.state {
	case 0:
		if response == nil {
			s.state = 1
			return []byte{}, false, nil
		}
	case 1:
	case 2:
		s.state = 3
		return nil, true, s.failErr
	default:
		return nil, true, sasl.ErrUnexpectedClientResponse
	}
	user, token, err := Parse(response)
	if err != nil {
		s.state = 3
		return nil, true, err
	}
	if aerr := s.auth(user, token); aerr != nil {
		e := &Error{Status: "401", Schemes: "bearer"}
		var xe *Error
		if errors.As(aerr, &xe) {
			e = xe
		}
		b, merr := json.Marshal(e)
		if merr != nil {
			s.state = 3
			return nil, true, fmt.Errorf("%w: %w", ErrAuthFailed, aerr)
		}
		s.state = 2
		s.failErr = fmt.Errorf("%w: %w", ErrAuthFailed, aerr)
		return b, false, nil
	}
	s.state = 3
	return nil, true, nil
}

// Parse splits an XOAUTH2 initial response into username and token. It
// accepts exactly
//
//	"user=" username 0x01 [key "=" value 0x01]... "auth=Bearer " token 0x01 0x01
//
// with "Bearer" compared case-insensitively, non-empty username and
// token, no NUL byte, and at most [MaxMessage] bytes. Errors wrap
// [ErrMalformed] and never contain the token.
func Parse(msg []byte) (username, token string, err error) {
	bad := func(why string) (string, string, error) { return "", "", fmt.Errorf("%w: %s", ErrMalformed, why) }
	switch {
	case len(msg) == 0:
		return bad("empty")
	case len(msg) > MaxMessage:
		return bad("too long")
	case bytes.IndexByte(msg, 0) >= 0:
		return bad("contains a NUL byte")
	case !bytes.HasPrefix(msg, []byte("user=")):
		return bad(`does not start with "user="`)
	case !bytes.HasSuffix(msg, []byte("\x01\x01")):
		return bad("not terminated by \\x01\\x01")
	}
	fields := bytes.Split(msg[:len(msg)-2], []byte{1})
	username = string(fields[0][len("user="):])
	if username == "" {
		return bad("empty user")
	}
	found := false
	for _, f := range fields[1:] {
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok || len(k) == 0 {
			return bad("a field is not key=value")
		}
		if string(k) != "auth" {
			continue
		}
		if found {
			return bad("two auth fields")
		}
		scheme, tok, ok := bytes.Cut(v, []byte(" "))
		if !ok || !strings.EqualFold(string(scheme), "Bearer") {
			return bad("auth is not a Bearer token")
		}
		if len(tok) == 0 {
			return bad("empty token")
		}
		token, found = string(tok), true
	}
	if !found {
		return bad("no auth field")
	}
	return username, token, nil
}
