// Package scrub removes the secrets of a request from text built from the
// answer to it. Identity providers, proxies and web application firewalls
// echo requests in their error bodies (whole, cut, URL-encoded, as JSON,
// inside a base64 blob); any text copied from such an answer into an
// error, a log line or a stored record must go through a [Set] holding
// every secret the request carried.
//
// A Set is built per request. Its [Transport] adds what actually went over
// the wire (form and query parameters that carry credentials, the
// Authorization header), so a call site cannot forget a secret it sent:
// it only has to pass the answer's text through [Set.String].
//
// What is removed, for each secret s:
//   - s itself, its URL query and path escapes (upper- and lower-case hex),
//     its JSON string escape (with and without "\/"), and its standard and
//     URL-safe base64 encodings (padded or raw) at each of the three byte
//     alignments it can have inside a longer encoded blob;
//   - for secrets of [MinSecret] characters or more, every run of
//     [MinFragment] characters or more shared with any of those forms. An
//     echo cut to its first few hundred characters, or a secret split
//     across two lines, loses all of it but what cannot be told apart from
//     chance (fewer than MinFragment characters in a row).
//
// Secrets shorter than [MinWhole] characters are ignored: real tokens,
// codes and secrets are far longer, and removing every occurrence of a
// three-letter word would garble the text without protecting anything.
package scrub

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Placeholder replaces each removed run of text.
const Placeholder = "[redacted]"

// Lengths that decide what is removed.
const (
	// MinFragment is the shortest run of a secret (or of one of its
	// encoded forms) that is removed on its own. Eight characters of a
	// base64url secret are 48 bits: a shorter piece neither helps an
	// attacker guess the rest of a token of 16 characters or more (at
	// least 48 further bits) nor can be told apart from ordinary words,
	// hexadecimal IDs or URL pieces, which removing would garble.
	MinFragment = 8
	// MinSecret is the length from which fragments of a secret are
	// removed, not only the whole secret: twice MinFragment, so that a
	// removed fragment never leaves more than half of a secret visible
	// next to it.
	MinSecret = 2 * MinFragment
	// MinWhole is the shortest secret removed at all.
	MinWhole = 6
)

// Set holds the secrets of one request. The zero value is empty and
// ready; a nil *Set removes nothing. A Set is safe for concurrent use.
type Set struct {
	mu      sync.Mutex
	secrets map[string]struct{}
	index   *index // built lazily, reset by Add
}

// New returns a Set holding secrets.
func New(secrets ...string) *Set {
	s := &Set{}
	s.Add(secrets...)
	return s
}

// Add adds secrets to s. Empty and too short values are skipped.
func (s *Set) Add(secrets ...string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range secrets {
		if len(v) < MinWhole {
			continue
		}
		if s.secrets == nil {
			s.secrets = make(map[string]struct{})
		}
		if _, ok := s.secrets[v]; !ok {
			s.secrets[v] = struct{}{}
			s.index = nil
		}
	}
}

// Len returns the number of secrets held.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets)
}

// Secrets returns the secrets held, in no particular order.
func (s *Set) Secrets() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.secrets))
	for v := range s.secrets {
		out = append(out, v)
	}
	return out
}

// String returns text with every secret of s, in every form listed in the
// package documentation, replaced by [Placeholder].
func (s *Set) String(text string) string {
	if s == nil || text == "" {
		return text
	}
	s.mu.Lock()
	if s.index == nil && len(s.secrets) > 0 {
		s.index = build(s.secrets)
	}
	ix := s.index
	s.mu.Unlock()
	if ix == nil {
		return text
	}
	return ix.scrub(text)
}

// index is what String searches for: the k-grams of the long secrets'
// forms, and the short secrets' forms whole.
type index struct {
	grams map[string]struct{} // every MinFragment-long piece of a long secret's forms
	whole []string            // forms of secrets shorter than MinSecret, longest first
}

func build(secrets map[string]struct{}) *index {
	ix := &index{grams: make(map[string]struct{})}
	for v := range secrets {
		for _, f := range forms(v) {
			if len(v) < MinSecret {
				ix.whole = append(ix.whole, f)
				continue
			}
			for i := 0; i+MinFragment <= len(f); i++ {
				ix.grams[f[i:i+MinFragment]] = struct{}{}
			}
		}
	}
	// Longest first, so a form that contains another is removed whole.
	for i := 1; i < len(ix.whole); i++ {
		for j := i; j > 0 && len(ix.whole[j]) > len(ix.whole[j-1]); j-- {
			ix.whole[j], ix.whole[j-1] = ix.whole[j-1], ix.whole[j]
		}
	}
	return ix
}

func (ix *index) scrub(text string) string {
	hit := make([]bool, len(text))
	found := false
	if len(ix.grams) > 0 {
		for i := 0; i+MinFragment <= len(text); i++ {
			if _, ok := ix.grams[text[i:i+MinFragment]]; ok {
				for j := i; j < i+MinFragment; j++ {
					hit[j] = true
				}
				found = true
			}
		}
	}
	for _, f := range ix.whole {
		for off := 0; ; {
			i := strings.Index(text[off:], f)
			if i < 0 {
				break
			}
			for j := off + i; j < off+i+len(f); j++ {
				hit[j] = true
			}
			found = true
			off += i + 1
		}
	}
	if !found {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	for i := 0; i < len(text); {
		if !hit[i] {
			b.WriteByte(text[i])
			i++
			continue
		}
		b.WriteString(Placeholder)
		for i < len(text) && hit[i] {
			i++
		}
	}
	return b.String()
}

// forms returns the forms of v searched for: v, its URL escapes, its JSON
// escape and the alignment-independent cores of its base64 encodings.
func forms(v string) []string {
	out := []string{v}
	add := func(f string) {
		if len(f) < MinWhole || (len(v) >= MinSecret && len(f) < MinFragment) {
			return
		}
		for _, o := range out {
			if o == f {
				return
			}
		}
		out = append(out, f)
	}
	for _, e := range []string{url.QueryEscape(v), url.PathEscape(v)} {
		add(e)
		add(lowerHex(e))
	}
	if j, err := json.Marshal(v); err == nil {
		js := string(j[1 : len(j)-1])
		add(js)
		add(strings.ReplaceAll(js, "/", `\/`))
	}
	for o := range 3 {
		core := base64Core(v, o)
		add(core)
		add(strings.NewReplacer("+", "-", "/", "_").Replace(core))
	}
	return out
}

// base64Core returns the characters of the standard base64 encoding of v
// preceded by o bytes that depend on v alone: what any blob holding v at a
// byte offset ≡ o (mod 3) contains, whatever surrounds it.
func base64Core(v string, o int) string {
	buf := make([]byte, o+len(v))
	copy(buf[o:], v)
	enc := base64.StdEncoding.EncodeToString(buf)
	start := (8*o + 5) / 6        // first character whose 6 bits all lie in v
	end := (8 * (o + len(v))) / 6 // one past the last such character
	if end > len(enc) || start >= end {
		return ""
	}
	return enc[start:end]
}

// lowerHex turns the hex digits of %XX escapes into lower case.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if b[j] >= 'A' && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
			i += 2
		}
	}
	return string(b)
}

// Params are the form and query parameters whose values [Set.AddRequest]
// takes as secrets: credentials of the client (RFC 6749 §2.3, RFC 7523,
// RFC 7521), grants (§4.1.3, §6, RFC 8628), PKCE (RFC 7636) and tokens
// (RFC 7009, RFC 6750 §2.3).
var params = []string{
	"client_secret", "client_assertion", "assertion", "code", "code_verifier",
	"refresh_token", "access_token", "token", "id_token", "device_code", "password",
	"subject_token", "actor_token",
}

// maxRequestBody is the most bytes of a request body AddRequest reads.
const maxRequestBody = 1 << 20

// AddRequest adds the secrets r carries: the values of credential
// parameters in its query and (form-encoded) body, and its Authorization
// header (a Bearer token; a Basic header whole, and its decoded user and
// password). The body is read through GetBody when r has it, else read
// and put back, so r can still be sent.
func (s *Set) AddRequest(r *http.Request) {
	if s == nil || r == nil {
		return
	}
	if r.URL != nil {
		s.addValues(r.URL.Query())
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		s.Add(cred)
		if strings.EqualFold(scheme, "Basic") {
			if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
				user, pass, _ := strings.Cut(string(raw), ":")
				if u, err := url.QueryUnescape(pass); err == nil {
					s.Add(u)
				}
				s.Add(pass)
				_ = user // the client ID is not a secret
			}
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	var body []byte
	if r.GetBody != nil {
		rc, err := r.GetBody()
		if err != nil {
			return
		}
		body, _ = io.ReadAll(io.LimitReader(rc, maxRequestBody))
		_ = rc.Close()
	} else {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
		r.Body = readCloser{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		if err != nil {
			return
		}
		body = b
	}
	if q, err := url.ParseQuery(string(body)); err == nil {
		s.addValues(q)
	}
}

func (s *Set) addValues(q url.Values) {
	for _, p := range params {
		s.Add(q[p]...)
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

type ctxKey struct{}

// NewContext returns ctx carrying s, for a [Transport] below a library
// that takes a context but not an HTTP client per call (MSAL).
func NewContext(ctx context.Context, s *Set) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// FromContext returns the Set ctx carries, or nil.
func FromContext(ctx context.Context) *Set {
	s, _ := ctx.Value(ctxKey{}).(*Set)
	return s
}

// Transport is an [http.RoundTripper] that adds the secrets of every
// request it sends to a Set: Set when it is not nil, and the Set of the
// request's context ([NewContext]) too.
type Transport struct {
	// Base sends the requests. If nil, [http.DefaultTransport].
	Base http.RoundTripper
	// Set receives the secrets of every request, if not nil.
	Set *Set
}

// RoundTrip implements [http.RoundTripper].
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	cs := FromContext(r.Context())
	if t.Set != nil || cs != nil {
		if r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
			// AddRequest reads the body and puts it back: on a copy, since
			// a RoundTripper must not modify the request.
			r = r.Clone(r.Context())
		}
		probe := New()
		probe.AddRequest(r)
		t.Set.Add(probe.Secrets()...)
		cs.Add(probe.Secrets()...)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// Client returns a copy of hc whose transport is a [Transport] adding to
// s, for one call.
func Client(hc *http.Client, s *Set) *http.Client {
	c := *hc
	c.Transport = &Transport{Base: hc.Transport, Set: s}
	return &c
}
