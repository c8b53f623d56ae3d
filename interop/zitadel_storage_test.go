package interop_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// This file is a minimal in-memory op.Storage for zitadel/oidc's
// OpenID Provider (package op, OpenID-certified), so that the library is
// tested against a server built by others. Sign-ins are approved at once
// for the user named by login_hint (there is no login page to drive);
// everything else — PKCE, client authentication, code and refresh token
// handling, JWT signing, discovery, introspection — is zitadel's.

// zClient is a registered client.
type zClient struct {
	id, secret string
	method     oidc.AuthMethod
	redirects  []string
	jwtTokens  bool             // JWT access tokens instead of opaque ones
	key        *jose.JSONWebKey // public key for private_key_jwt
	loginURL   func(id string) string
}

func (c *zClient) GetID() string                    { return c.id }
func (c *zClient) RedirectURIs() []string           { return c.redirects }
func (c *zClient) PostLogoutRedirectURIs() []string { return nil }
func (c *zClient) ApplicationType() op.ApplicationType {
	if c.method == oidc.AuthMethodNone {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}
func (c *zClient) AuthMethod() oidc.AuthMethod { return c.method }
func (c *zClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *zClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *zClient) LoginURL(id string) string { return c.loginURL(id) }
func (c *zClient) AccessTokenType() op.AccessTokenType {
	if c.jwtTokens {
		return op.AccessTokenTypeJWT
	}
	return op.AccessTokenTypeBearer
}
func (c *zClient) IDTokenLifetime() time.Duration { return time.Hour }
func (c *zClient) DevMode() bool                  { return true } // http://localhost redirect URIs
func (c *zClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *zClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *zClient) IsScopeAllowed(string) bool           { return true }
func (c *zClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *zClient) ClockSkew() time.Duration             { return 0 }

// zAuthRequest is a pending or approved authorization.
type zAuthRequest struct {
	id, clientID, redirectURI, state, nonce, subject string
	scopes                                           []string
	challenge                                        *oidc.CodeChallenge
	authTime                                         time.Time
	responseMode                                     oidc.ResponseMode
}

func (r *zAuthRequest) GetID() string                         { return r.id }
func (r *zAuthRequest) GetACR() string                        { return "" }
func (r *zAuthRequest) GetAMR() []string                      { return []string{"pwd"} }
func (r *zAuthRequest) GetAudience() []string                 { return []string{r.clientID} }
func (r *zAuthRequest) GetAuthTime() time.Time                { return r.authTime }
func (r *zAuthRequest) GetClientID() string                   { return r.clientID }
func (r *zAuthRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.challenge }
func (r *zAuthRequest) GetNonce() string                      { return r.nonce }
func (r *zAuthRequest) GetRedirectURI() string                { return r.redirectURI }
func (r *zAuthRequest) GetResponseType() oidc.ResponseType    { return oidc.ResponseTypeCode }
func (r *zAuthRequest) GetResponseMode() oidc.ResponseMode    { return r.responseMode }
func (r *zAuthRequest) GetScopes() []string                   { return r.scopes }
func (r *zAuthRequest) GetState() string                      { return r.state }
func (r *zAuthRequest) GetSubject() string                    { return r.subject }
func (r *zAuthRequest) Done() bool                            { return r.subject != "" }

// zRefresh is a live refresh token.
type zRefresh struct {
	token, clientID, subject string
	scopes                   []string
	authTime                 time.Time
}

func (r *zRefresh) GetAMR() []string            { return []string{"pwd"} }
func (r *zRefresh) GetAudience() []string       { return []string{r.clientID} }
func (r *zRefresh) GetAuthTime() time.Time      { return r.authTime }
func (r *zRefresh) GetClientID() string         { return r.clientID }
func (r *zRefresh) GetScopes() []string         { return r.scopes }
func (r *zRefresh) GetSubject() string          { return r.subject }
func (r *zRefresh) SetCurrentScopes(s []string) { r.scopes = s }

// zToken is an issued access token, by ID (the jti of a JWT).
type zToken struct {
	subject, clientID string
	scopes            []string
	expiry            time.Time
}

type zKey struct {
	priv *rsa.PrivateKey
	id   string
}

func (k zKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k zKey) Key() any                                    { return k.priv }
func (k zKey) ID() string                                  { return k.id }

type zPublicKey struct{ zKey }

func (k zPublicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k zPublicKey) Use() string                        { return "sig" }
func (k zPublicKey) Key() any                           { return &k.priv.PublicKey }

// zStorage implements op.Storage in memory.
type zStorage struct {
	mu       sync.Mutex
	key      zKey
	lifetime time.Duration // access token lifetime
	clients  map[string]*zClient
	users    map[string]string // subject -> email
	requests map[string]*zAuthRequest
	codes    map[string]string // code -> request ID
	tokens   map[string]*zToken
	refresh  map[string]*zRefresh
	// rotated counts refresh tokens replaced by a refresh.
	rotated atomic.Int64
}

var errNotFound = errors.New("zitadel storage: not found")

func newZStorage(key *rsa.PrivateKey, lifetime time.Duration, users map[string]string) *zStorage {
	return &zStorage{key: zKey{priv: key, id: "k1"}, lifetime: lifetime, clients: map[string]*zClient{}, users: users,
		requests: map[string]*zAuthRequest{}, codes: map[string]string{}, tokens: map[string]*zToken{}, refresh: map[string]*zRefresh{}}
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *zStorage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := &zAuthRequest{id: randomID(), clientID: r.ClientID, redirectURI: r.RedirectURI, state: r.State, nonce: r.Nonce,
		scopes: r.Scopes, authTime: time.Now(), responseMode: r.ResponseMode}
	if r.CodeChallenge != "" {
		req.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	for sub, email := range s.users { // auto-approve for the hinted user
		if strings.EqualFold(email, r.LoginHint) {
			req.subject = sub
		}
	}
	s.requests[req.id] = req
	return req, nil
}

func (s *zStorage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.requests[id]; ok {
		return r, nil
	}
	return nil, errNotFound
}

func (s *zStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errNotFound
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *zStorage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *zStorage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for c, rid := range s.codes {
		if rid == id {
			delete(s.codes, c)
		}
	}
	return nil
}

func (s *zStorage) newToken(req op.TokenRequest) (string, time.Time) {
	clientID := ""
	if c, ok := req.(interface{ GetClientID() string }); ok {
		clientID = c.GetClientID()
	}
	id := randomID()
	exp := time.Now().Add(s.lifetime) // zitadel turns it into expires_in against its own clock
	s.tokens[id] = &zToken{subject: req.GetSubject(), clientID: clientID, scopes: req.GetScopes(), expiry: exp}
	return id, exp
}

func (s *zStorage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, exp := s.newToken(req)
	return id, exp, nil
}

func (s *zStorage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if current != "" {
		if _, ok := s.refresh[current]; !ok {
			return "", "", time.Time{}, op.ErrInvalidRefreshToken
		}
		delete(s.refresh, current) // rotation: the old refresh token is spent
		s.rotated.Add(1)
	}
	id, exp := s.newToken(req)
	rt := &zRefresh{token: randomID(), subject: req.GetSubject(), scopes: req.GetScopes(), authTime: time.Now()}
	if c, ok := req.(interface{ GetClientID() string }); ok {
		rt.clientID = c.GetClientID()
	}
	s.refresh[rt.token] = rt
	return id, rt.token, exp, nil
}

func (s *zStorage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.refresh[token]; ok {
		cp := *r
		return &cp, nil
	}
	return nil, op.ErrInvalidRefreshToken
}

func (s *zStorage) TerminateSession(context.Context, string, string) error { return nil }

func (s *zStorage) RevokeToken(_ context.Context, token, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refresh, token)
	delete(s.tokens, token)
	return nil
}

func (s *zStorage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.refresh[token]; ok {
		return r.subject, token, nil
	}
	return "", "", op.ErrInvalidRefreshToken
}

func (s *zStorage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }
func (s *zStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}
func (s *zStorage) KeySet(context.Context) ([]op.Key, error) { return []op.Key{zPublicKey{s.key}}, nil }

func (s *zStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, errNotFound
}

func (s *zStorage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok || c.secret == "" || c.secret != secret {
		return errors.New("wrong client ID or secret")
	}
	return nil
}

func (s *zStorage) setUser(u *oidc.UserInfo, subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.Subject = subject
	u.Email, u.EmailVerified = s.users[subject], true
	u.PreferredUsername = s.users[subject]
}

func (s *zStorage) SetUserinfoFromScopes(_ context.Context, u *oidc.UserInfo, subject, _ string, _ []string) error {
	s.setUser(u, subject)
	return nil
}

func (s *zStorage) SetUserinfoFromToken(_ context.Context, u *oidc.UserInfo, _, subject, _ string) error {
	s.setUser(u, subject)
	return nil
}

func (s *zStorage) SetIntrospectionFromToken(_ context.Context, r *oidc.IntrospectionResponse, tokenID, subject, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tokenID]
	if !ok || t.subject != subject || time.Now().After(t.expiry) {
		return errNotFound
	}
	r.Subject, r.ClientID, r.Scope = subject, t.clientID, t.scopes
	r.Email, r.EmailVerified, r.Username = s.users[subject], true, s.users[subject]
	r.Expiration = oidc.FromTime(t.expiry)
	return nil
}

// GetPrivateClaimsFromScopes gives JWT access tokens claims the size of
// an Entra token's (group and role lists): together they pass 1 KB.
func (s *zStorage) GetPrivateClaimsFromScopes(_ context.Context, subject, _ string, _ []string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	groups := make([]string, 12)
	for i := range groups {
		groups[i] = "3f6c2b9e-8d4a-4c1f-9e7b-" + strings.Repeat(string(rune('a'+i)), 12)
	}
	return map[string]any{"email": s.users[subject], "groups": groups, "roles": []string{"Mail.ReadWrite", "Mail.Send"}}, nil
}

func (s *zStorage) GetKeyByIDAndClientID(_ context.Context, _, clientID string) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[clientID]; ok && c.key != nil {
		return c.key, nil
	}
	return nil, errNotFound
}

func (s *zStorage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (s *zStorage) Health(context.Context) error { return nil }

// wire records how each token request authenticated and, like servers
// such as Ory Hydra (and unlike zitadel's op, which accepts the secret
// either way), refuses a request whose method is not the one the client
// is registered for, naming both.
type wire struct {
	next    http.Handler
	storage *zStorage
	mu      sync.Mutex
	methods map[string][]string // grant_type -> methods used, in order
}

func (w *wire) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/token") {
		w.next.ServeHTTP(rw, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	used, clientID := "none", form.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok {
		used, clientID = string(oidc.AuthMethodBasic), id
	} else if form.Has("client_secret") {
		used = string(oidc.AuthMethodPost)
	} else if form.Has("client_assertion") {
		used = string(oidc.AuthMethodPrivateKeyJWT)
	}
	w.mu.Lock()
	w.methods[form.Get("grant_type")] = append(w.methods[form.Get("grant_type")], used)
	w.mu.Unlock()
	if c, err := w.storage.GetClientByClientID(r.Context(), clientID); err == nil && string(c.AuthMethod()) != used && used != string(oidc.AuthMethodPrivateKeyJWT) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(rw).Encode(map[string]string{"error": "invalid_client",
			"error_description": "The OAuth 2.0 Client supports client authentication method '" + string(c.AuthMethod()) + "', but method '" + used + "' was requested."})
		return
	}
	w.next.ServeHTTP(rw, r)
}

// used returns the methods the token requests of grant used.
func (w *wire) used(grant string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.methods[grant])
}

// count returns how many token requests of grant were made.
func (w *wire) count(grant string) int { return len(w.used(grant)) }
