package xoauth2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// Mechanism is the SASL mechanism name, as sent in IMAP AUTHENTICATE and
// SMTP AUTH.
const Mechanism = "XOAUTH2"

// MaxMessage is the largest initial response or error challenge accepted,
// in bytes (64 KiB). Real access tokens are a few kilobytes.
const MaxMessage = 64 << 10

// Sentinel errors. They are returned wrapped with details; test them with
// [errors.Is]. No error of this package contains a token.
var (
	// ErrMalformedResponse reports that a client's initial response is not
	// a well-formed XOAUTH2 message (see [NewServer]).
	ErrMalformedResponse = errors.New("xoauth2: malformed initial response")
	// ErrMalformedChallenge reports that a server's error challenge is not
	// the JSON object XOAUTH2 defines (see [ParseChallenge]).
	ErrMalformedChallenge = errors.New("xoauth2: malformed error challenge")
	// ErrAuthFailed reports that the [Authenticator] rejected the
	// credentials; the server's final error wraps it and the
	// authenticator's own error.
	ErrAuthFailed = errors.New("xoauth2: authentication failed")
	// ErrInvalidCredential reports that a username or token given to
	// [NewClient] contains a \x01 byte, which would forge the message's
	// fields.
	ErrInvalidCredential = errors.New("xoauth2: username or token contains a \\x01 byte")
)

// Error is an XOAUTH2 error challenge: the JSON object a server sends
// (base64-encoded on the wire) when it rejects a token, for example
// {"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}.
//
// A status of "401" or "400" means the token itself is the problem
// (expired, revoked, wrong audience or scope): get a new one rather than
// retrying it. Error never holds the token.
//
// A client gets an Error from [ChallengeError]; an [Authenticator] returns
// one to choose the challenge [NewServer] sends.
type Error struct {
	// Status is the HTTP-like status, e.g. "401" or "400"; some servers
	// send an RFC 6750 code such as "invalid_token". A JSON number is
	// kept as its decimal text.
	Status string `json:"status"`
	// Schemes lists the accepted authentication schemes, e.g. "bearer".
	Schemes string `json:"schemes"`
	// Scope is the scope the server requires, e.g.
	// "https://mail.google.com/".
	Scope string `json:"scope"`
}

// Error formats the rejection as
// "xoauth2: server rejected the token (status 401, schemes bearer, scope mail)",
// leaving out empty fields.
func (e *Error) Error() string {
	const msg = "xoauth2: server rejected the token"
	if e == nil {
		return msg
	}
	var parts []string
	for _, f := range [...]struct{ name, value string }{{"status", e.Status}, {"schemes", e.Schemes}, {"scope", e.Scope}} {
		if f.value != "" {
			parts = append(parts, f.name+" "+f.value)
		}
	}
	if len(parts) == 0 {
		return msg
	}
	return msg + " (" + strings.Join(parts, ", ") + ")"
}

// ParseChallenge decodes a server's error challenge b (the bytes after
// base64 decoding, as go-imap and go-smtp hand them to [sasl.Client.Next]).
// It accepts a JSON object whose status is a string or a number; unknown
// members are ignored and missing ones left empty. Nil, empty, non-object
// or over [MaxMessage] input fails with an error wrapping
// [ErrMalformedChallenge].
func ParseChallenge(b []byte) (*Error, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformedChallenge, len(b), MaxMessage)
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformedChallenge)
	}
	var raw struct {
		Status  json.RawMessage `json:"status"`
		Schemes string          `json:"schemes"`
		Scope   string          `json:"scope"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedChallenge, err)
	}
	e := &Error{Schemes: raw.Schemes, Scope: raw.Scope}
	switch st := raw.Status; {
	case len(st) == 0 || string(st) == "null":
	case st[0] == '"':
		// json.Unmarshal has validated st: it is a JSON string.
		_ = json.Unmarshal(st, &e.Status)
	case st[0] == '-' || '0' <= st[0] && st[0] <= '9':
		e.Status = string(st) // a validated JSON number, kept as written
	default:
		return nil, fmt.Errorf("%w: status is neither a string nor a number", ErrMalformedChallenge)
	}
	return e, nil
}

// client is the [sasl.Client] returned by NewClient.
type client struct {
	username, token string
	challenge       *Error
	steps           int
}

// NewClient returns a [sasl.Client] that authenticates username with the
// OAuth 2.0 access token, for imapclient.Client.Authenticate or
// smtp.Client.Auth. Start and Next do no I/O: get the token first.
//
// Start returns [Mechanism] and the initial response
//
//	"user=" + username + "\x01auth=Bearer " + token + "\x01\x01"
//
// which is never nil. Start fails with [ErrInvalidCredential] if username
// or token contains \x01.
//
// Next is called only if the server rejects the token with an error
// challenge (a nil or empty challenge is handled the same way). It records
// the challenge for [ChallengeError] and returns the empty, non-nil
// response []byte{} the protocol requires, so the server ends the command
// with a failure (IMAP NO, SMTP 535) that Authenticate or Auth returns. It
// never returns nil: go-smtp would take (nil, nil) for success, and an
// error would make go-imap stop without answering the server. A second
// call fails with [sasl.ErrUnexpectedServerChallenge].
//
// The client serves one authentication exchange and is not safe for
// concurrent use.
func NewClient(username, token string) sasl.Client {
	return &client{username: username, token: token}
}

func (c *client) Start() (mech string, ir []byte, err error) {
	if strings.IndexByte(c.username, 1) >= 0 || strings.IndexByte(c.token, 1) >= 0 {
		return "", nil, ErrInvalidCredential
	}
	ir = make([]byte, 0, len("user=\x01auth=Bearer \x01\x01")+len(c.username)+len(c.token))
	ir = append(ir, "user="...)
	ir = append(ir, c.username...)
	ir = append(ir, "\x01auth=Bearer "...)
	ir = append(ir, c.token...)
	ir = append(ir, "\x01\x01"...)
	return Mechanism, ir, nil
}

func (c *client) Next(challenge []byte) (response []byte, err error) {
	c.steps++
	if c.steps > 1 {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	e, perr := ParseChallenge(challenge)
	if perr != nil {
		e = &Error{}
	}
	c.challenge = e
	return []byte{}, nil
}

// ChallengeError returns the error challenge the server sent to c, decoded,
// or nil if it sent none. c must come from [NewClient]; for any other
// [sasl.Client] it returns nil.
//
// Call it after imapclient.Client.Authenticate or smtp.Client.Auth failed,
// to combine their *imap.Error (NO) or *smtp.SMTPError (535) with the
// server's reason. A server may reject a token without a challenge
// (Exchange Online does), so nil does not mean success. If the challenge
// was not a valid JSON object, the result has empty fields.
func ChallengeError(c sasl.Client) *Error {
	if xc, ok := c.(*client); ok {
		return xc.challenge
	}
	return nil
}

// Authenticator verifies a username and an OAuth 2.0 access token for
// [NewServer]. It returns nil to accept the credentials and an error to
// reject them. If that error is or wraps an [*Error], its fields form the
// challenge sent to the client (use it to set Scope); otherwise the
// challenge is {"status":"401","schemes":"bearer","scope":""}.
type Authenticator func(username, token string) error

const (
	stateStart    = iota // nothing received yet
	stateWaitIR          // empty challenge sent, waiting for the message
	stateFailed          // error challenge sent, waiting for the client's answer
	stateFinished        // done, whatever the outcome
)

// server is the [sasl.Server] returned by NewServer.
type server struct {
	auth    Authenticator
	state   int
	failErr error
}

// NewServer returns a [sasl.Server] for XOAUTH2, e.g. for
// imapserver.SessionSASL or smtp.AuthSession, that hands the username and
// token to auth. It panics if auth is nil.
//
// Next parses the client's message strictly: it must be exactly
//
//	"user=" username 0x01 [key "=" value 0x01]... "auth=Bearer " token 0x01 0x01
//
// with a non-empty username of valid UTF-8 without control characters
// (no CR or LF that could split a log line or a protocol command), a
// non-empty token, "Bearer" in any case, optional fields such as host= or
// port= after the user (ignored), no NUL byte, and at most [MaxMessage]
// bytes. Otherwise Next ends the exchange
// (done) with an error wrapping [ErrMalformedResponse].
//
// A nil response means the client sent no initial response: Next returns
// a nil challenge and done false, which go-imap's and go-smtp's servers
// send as an empty continuation ("+ ", "334 "); the message is expected
// in the next call, where nil or empty is malformed. A non-nil empty
// first response is malformed too.
//
// When auth rejects the credentials, Next returns the JSON error
// challenge (see [Authenticator]) and done false. The client's answer to
// it, whatever it is (empty as the protocol says, nil, or anything else),
// ends the exchange: done true and an error wrapping both [ErrAuthFailed]
// and auth's error. Protocol servers should map that error to their own
// failure (IMAP NO [AUTHENTICATIONFAILED], SMTP 535). Any call after the
// end fails with [sasl.ErrUnexpectedClientResponse]. Next never panics,
// whatever the input.
//
// The server serves one authentication exchange and is not safe for
// concurrent use.
func NewServer(auth Authenticator) sasl.Server {
	if auth == nil {
		panic("xoauth2: NewServer requires a non-nil Authenticator")
	}
	return &server{auth: auth}
}

func (s *server) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.state {
	case stateStart:
		if response == nil {
			s.state = stateWaitIR
			return nil, false, nil
		}
	case stateWaitIR:
	case stateFailed:
		s.state = stateFinished
		return nil, true, s.failErr
	default:
		return nil, true, sasl.ErrUnexpectedClientResponse
	}
	s.state = stateFinished
	user, token, err := parse(response)
	if err != nil {
		return nil, true, err
	}
	aerr := s.auth(user, token)
	if aerr == nil {
		return nil, true, nil
	}
	e := &Error{Status: "401", Schemes: "bearer"}
	var xe *Error
	if errors.As(aerr, &xe) && xe != nil {
		e = xe
	}
	// Marshalling a struct of strings cannot fail.
	challenge, _ = json.Marshal(e)
	s.state = stateFailed
	s.failErr = fmt.Errorf("%w: %w", ErrAuthFailed, aerr)
	return challenge, false, nil
}

// parse splits an XOAUTH2 initial response into username and token (see
// NewServer for the grammar). Its errors wrap ErrMalformedResponse and
// never contain the token.
func parse(msg []byte) (username, token string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("%w: %s", ErrMalformedResponse, why)
	}
	switch {
	case len(msg) == 0:
		return bad("empty")
	case len(msg) > MaxMessage:
		return bad(fmt.Sprintf("%d bytes, more than %d", len(msg), MaxMessage))
	case bytes.IndexByte(msg, 0) >= 0:
		return bad("contains a NUL byte")
	case !bytes.HasPrefix(msg, []byte("user=")):
		return bad(`does not start with "user="`)
	case !bytes.HasSuffix(msg, []byte("\x01\x01")):
		return bad(`not terminated by "\x01\x01"`)
	}
	fields := bytes.Split(msg[:len(msg)-2], []byte{1})
	username = string(fields[0][len("user="):])
	if username == "" {
		return bad("empty user")
	}
	if !utf8.ValidString(username) {
		return bad("the user is not valid UTF-8")
	}
	if strings.IndexFunc(username, unicode.IsControl) >= 0 {
		return bad("the user contains a control character")
	}
	found := false
	for _, f := range fields[1:] {
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok || len(k) == 0 {
			return bad("a field is not key=value")
		}
		switch string(k) {
		case "user":
			return bad("two user fields")
		case "auth":
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
	}
	if !found {
		return bad("no auth field")
	}
	return username, token, nil
}
