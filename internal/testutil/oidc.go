package testutil

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// OIDCProvider is a real OpenID provider on loopback: zitadel/oidc's
// OpenID Provider (pkg/op) with its example storage and login page,
// issuing JWT access tokens signed with RS256 keys that Rotate replaces.
//
// It knows the person "test-user@127.0.0.1" (password "verysecure"), a
// web client OIDCWebClient for the authorization code flow, a public
// (native) client OIDCConsoleClient for the same flow with PKCE from a
// browser (redirect URI /ui/ on any loopback port: kgate's console), and the
// device (service user) "sid1" with secret "verysecret" for the client
// credentials grant. Claims adds claims to the access tokens of a
// subject (the person's subject is "id1", the device's "sid1").
type OIDCProvider struct {
	// Issuer is the issuer URL, with its trailing slash (tokens' iss).
	Issuer string
	srv    *http.Server
	ln     net.Listener
	// keyFetches counts GETs of the key set, discoveryFetches of the
	// discovery document.
	keyFetches, discoveryFetches atomic.Int64

	mu     sync.Mutex
	keys   []*signingKey // keys[0] signs; the rest are published
	claims map[string]map[string]any
}

// The provider's web client, for the authorization code flow.
const (
	OIDCWebClient       = "kgate-web"
	OIDCWebClientSecret = "websecret"
	oidcRedirect        = "http://127.0.0.1:1/callback"
	// OIDCConsoleClient is a public client without a secret; a native
	// client's loopback redirect URI matches on any port (RFC 8252 7.3).
	OIDCConsoleClient = "kgate-console"
)

// StartOIDCProvider starts a provider on a loopback port for the test.
func StartOIDCProvider(t testing.TB) *OIDCProvider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &OIDCProvider{Issuer: "http://" + ln.Addr().String() + "/", ln: ln, claims: map[string]map[string]any{}}
	p.keys = []*signingKey{newSigningKey(t)}
	clients := map[string]*storage.Client{OIDCWebClient: storage.WebClient(OIDCWebClient, OIDCWebClientSecret, oidcRedirect),
		OIDCConsoleClient: storage.NativeClient(OIDCConsoleClient, "http://127.0.0.1/ui/")}
	st := &providerStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(p.Issuer), clients), p: p}
	router := exampleop.SetupServer(p.Issuer, st, nil, false, op.WithAllowInsecure())
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/keys":
			p.keyFetches.Add(1)
		case "/.well-known/openid-configuration":
			p.discoveryFetches.Add(1)
		}
		router.ServeHTTP(w, r)
	})
	p.srv = &http.Server{Handler: count, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(p.Close)
	return p
}

// KeyFetches is how many times the key set was fetched.
func (p *OIDCProvider) KeyFetches() int64 { return p.keyFetches.Load() }

// DiscoveryFetches is how many times the discovery document was fetched.
func (p *OIDCProvider) DiscoveryFetches() int64 { return p.discoveryFetches.Load() }

// Close stops the provider (its issuer is then unreachable).
func (p *OIDCProvider) Close() { _ = p.srv.Close() }

// Claims sets claims added to the access tokens of subject.
func (p *OIDCProvider) Claims(subject string, claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims[subject] = claims
}

// Rotate makes a new key the signing key; the old ones stay published
// unless drop is set.
func (p *OIDCProvider) Rotate(t testing.TB, drop bool) {
	t.Helper()
	k := newSigningKey(t)
	p.mu.Lock()
	defer p.mu.Unlock()
	if drop {
		p.keys = []*signingKey{k}
		return
	}
	p.keys = append([]*signingKey{k}, p.keys...)
}

// SigningKey is the private key signing now (for tests forging tokens
// with the right key but wrong claims).
func (p *OIDCProvider) SigningKey() (kid string, key *rsa.PrivateKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0].id, p.keys[0].key
}

// DeviceToken is an access token for the device sid1 (client
// credentials grant).
func (p *OIDCProvider) DeviceToken(t testing.TB) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}
	return p.token(t, "sid1", "verysecret", form)
}

// PersonToken logs the person in through the authorization code flow:
// the provider's login page, then the code exchanged by the web client.
func (p *OIDCProvider) PersonToken(t testing.TB, username, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var doc struct {
		Authorize string `json:"authorization_endpoint"`
	}
	resp, err := http.Get(p.Issuer + ".well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc.Authorize == "" {
		t.Fatalf("discovery: %v", err)
	}
	auth := doc.Authorize + "?" + url.Values{"client_id": {OIDCWebClient}, "redirect_uri": {oidcRedirect},
		"response_type": {"code"}, "scope": {"openid profile"}, "state": {"st4te"}}.Encode()
	loc := redirect(t, c, http.MethodGet, auth, nil)
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	id := u.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("authorize redirected to %q, want the login page", loc)
	}
	next := redirect(t, c, http.MethodPost, p.resolve(t, "/login/username"),
		url.Values{"id": {id}, "username": {username}, "password": {password}})
	for !strings.HasPrefix(next, oidcRedirect) {
		next = redirect(t, c, http.MethodGet, p.resolve(t, next), nil)
	}
	cb, err := url.Parse(next)
	if err != nil || cb.Query().Get("code") == "" || cb.Query().Get("state") != "st4te" {
		t.Fatalf("callback %q: want a code and the state", next)
	}
	return p.token(t, OIDCWebClient, OIDCWebClientSecret, url.Values{"grant_type": {"authorization_code"},
		"code": {cb.Query().Get("code")}, "redirect_uri": {oidcRedirect}})
}

func (p *OIDCProvider) resolve(t testing.TB, ref string) string {
	base, _ := url.Parse(p.Issuer)
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return base.ResolveReference(r).String()
}

// redirect sends a request and returns the redirect's Location.
func redirect(t testing.TB, c *http.Client, method, u string, form url.Values) string {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || loc == "" {
		t.Fatalf("%s %s: %s, want a redirect", method, u, resp.Status)
	}
	return loc
}

// token posts to the token endpoint as client and returns the access
// token.
func (p *OIDCProvider) token(t testing.TB, client, secret string, form url.Values) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.Issuer+"oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(client), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("token endpoint (%s): %s %v %s %s", form.Get("grant_type"), resp.Status, err, out.Error, out.Description)
	}
	return out.AccessToken
}

// providerStorage is the example storage with JWT access tokens, the
// provider's rotating keys and per-subject claims.
type providerStorage struct {
	*storage.Storage
	p *OIDCProvider
}

// jwtClient makes a client's access tokens JWTs (the example's are
// opaque), which a resource server checks with the published keys.
type jwtClient struct{ op.Client }

func (jwtClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }

func (s *providerStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return jwtClient{c}, nil
}

func (s *providerStorage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := s.Storage.ClientCredentials(ctx, id, secret)
	if err != nil {
		return nil, err
	}
	return jwtClient{c}, nil
}

func (s *providerStorage) GetPrivateClaimsFromRequest(_ context.Context, r op.TokenRequest, _ []string) (map[string]any, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	out := map[string]any{}
	for k, v := range s.p.claims[r.GetSubject()] {
		out[k] = v
	}
	return out, nil
}

func (s *providerStorage) SigningKey(context.Context) (op.SigningKey, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.keys[0], nil
}

func (s *providerStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *providerStorage) KeySet(context.Context) ([]op.Key, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	out := make([]op.Key, 0, len(s.p.keys))
	for _, k := range s.p.keys {
		out = append(out, publicKey{k})
	}
	return out, nil
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func newSigningKey(t testing.TB) *signingKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &signingKey{id: fmt.Sprintf("key-%x", b), key: key}
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (k publicKey) ID() string                         { return k.k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.k.key.PublicKey }
