// Package auth is kgate's security core: who a caller is (HTTP Basic
// against a bcrypt users file, JWTs from POST /login, client certificates
// on the HTTPS listener, or anonymous), what each principal may do (one
// permission model for every API and for the embedded broker's Kafka
// port), revocable tokens kept in a compacted topic, and the reload of
// users and permissions that validates first and swaps atomically.
package auth

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth/oidc"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/gssapi"
	"github.com/kgate/kgate/internal/kafka"
)

// Options configure New.
type Options struct {
	Config config.Auth
	// Open runs in open development mode: everything is allowed.
	Open bool
	// DataDir is where a JWT key is generated when none is configured.
	DataDir string
	// Protected topics are reachable only by admin principals (kgate's
	// own tokens, usage and audit topics).
	Protected []string
	// Kafka holds the token store; nil disables login and bearer tokens.
	Kafka  *kafka.Client
	Audit  *audit.Log
	Logger *slog.Logger
	// OnReload is called with the new policy after a successful reload
	// (the embedded broker's ACLs follow it).
	OnReload func(context.Context, *Policy) error
}

// Service authenticates and authorizes requests. It is safe for
// concurrent use.
type Service struct {
	cfg       config.Auth
	open      bool
	protected []string
	audit     *audit.Log
	logger    *slog.Logger
	onReload  func(context.Context, *Policy) error

	policy atomic.Pointer[Policy]
	pw     *passwords
	jwt    *tokens          // nil without users
	oidc   *oidc.Verifier   // nil without auth.oidc
	krb    *gssapi.Acceptor // nil without auth.kerberos
	keys   *APIKeys         // nil without users or Kafka
	nodes  *NodeTrust       // nil: no node-to-node requests

	extMu    sync.Mutex
	ext      map[string]external // external principals on the Kafka port
	store    *TokenStore         // nil without users
	attempts *attempts
	trusted  []netip.Prefix

	reloadMu sync.Mutex // serializes reloads
	changes  *changes   // what may change a principal's standing
}

// New loads the users and permissions files (or the open policy), the JWT
// key and the token store.
func New(ctx context.Context, o Options) (*Service, error) {
	s := &Service{
		cfg: o.Config, open: o.Open, protected: o.Protected, audit: o.Audit, logger: o.Logger,
		onReload: o.OnReload,
		pw:       newPasswords(o.Config.PasswordCacheTTL.D(), o.Config.PasswordQueue),
		changes:  newChanges(),
		attempts: newAttempts(o.Config.FailuresPerSecond, o.Config.FailureBurst, o.Config.UserFailuresPerSecond, o.Config.UserFailureBurst,
			o.Config.Login.PerUserPerMinute, o.Config.Login.PerUserBurst),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	for _, p := range o.Config.TrustedProxies {
		pf, err := parseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("auth.trusted_proxies: %w", err)
		}
		s.trusted = append(s.trusted, pf)
	}
	pol, err := s.load()
	if err != nil {
		return nil, err
	}
	s.policy.Store(pol)
	if k := o.Config.Kerberos; k.Enabled() {
		if s.krb, err = gssapi.New(gssapi.Config{Keytab: k.Keytab, ServicePrincipal: k.ServicePrincipal, Rules: k.PrincipalToLocalRules}); err != nil {
			return nil, fmt.Errorf("auth.kerberos: %w", err)
		}
	}
	if len(o.Config.OIDC) > 0 {
		if s.oidc, err = oidc.New(oidc.Options{Issuers: o.Config.OIDC, Logger: s.logger,
			CheckName: ValidPrincipalName, CheckGroup: validGroupName}); err != nil {
			return nil, err
		}
	}
	if o.Config.Users != "" {
		key, err := loadSigningKey(o.Config.JWT.Algorithm, o.Config.JWT.KeyFile, o.DataDir, s.logger)
		if err != nil {
			return nil, err
		}
		s.jwt = newTokens(key, o.Config.JWT.Issuer, o.Config.JWT.Audience, o.Config.JWT.TTL.D(), o.Config.JWT.Leeway.D())
		if o.Kafka != nil {
			st, err := OpenTokenStore(ctx, o.Kafka, o.Config.Tokens.Topic, o.Config.Tokens.SegmentInterval.D(), s.logger, s.changes.bump)
			if err != nil {
				return nil, err
			}
			s.store = st
			if s.keys, err = OpenAPIKeys(ctx, o.Kafka, o.Config.APIKeys.Topic, o.Config.Tokens.SegmentInterval.D(), s.logger, s.changes.bump); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// load reads and validates the configured files into a new policy.
func (s *Service) load() (*Policy, error) {
	if s.open {
		return OpenPolicy(), nil
	}
	var users *Users
	var perms *Permissions
	var err error
	if s.cfg.Users != "" {
		if users, err = LoadUsers(s.cfg.Users); err != nil {
			return nil, err
		}
	}
	if s.cfg.Permissions != "" {
		if perms, err = LoadPermissions(s.cfg.Permissions); err != nil {
			return nil, err
		}
	}
	pol := NewPolicy(users, perms, s.protected)
	if users != nil {
		for _, n := range users.Names() {
			if pl := users.Lookup(n).Plan; pl != "" && !s.planExists(pl) {
				return nil, fmt.Errorf("users file %s: user %s: plan %q is not in auth.plans", s.cfg.Users, n, pl)
			}
		}
	}
	if err := pol.Validate(); err != nil {
		return nil, fmt.Errorf("users file %s and permissions file %s: %w", s.cfg.Users, s.cfg.Permissions, err)
	}
	return pol, nil
}

// Run follows the token store (and expires tokens) until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var wg sync.WaitGroup
	if s.store != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.store.Run(ctx)
		}()
	}
	if s.oidc != nil {
		wg.Go(func() { _ = s.oidc.Run(ctx) })
	}
	if s.keys != nil {
		wg.Go(func() { _ = s.keys.Run(ctx) })
	}
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.attempts.sweep(now)
		}
	}
}

// Policy returns the policy in force.
func (s *Service) Policy() *Policy { return s.policy.Load() }

// Tokens returns the token store, or nil.
func (s *Service) Tokens() *TokenStore { return s.store }

// ReloadResult summarizes a reload.
type ReloadResult struct {
	Users      int `json:"users"`
	Principals int `json:"principals"`
}

// Reload re-reads the users and permissions files. Both are validated
// before anything changes; on any error the policy in force stays and the
// error says why. by names who asked (a principal, or "SIGHUP").
func (s *Service) Reload(ctx context.Context, by string) (ReloadResult, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	pol, err := s.load()
	if err == nil && s.onReload != nil {
		err = s.onReload(ctx, pol)
	}
	if err != nil {
		s.audit.Write(ctx, audit.Record{Event: audit.ReloadFailed, Principal: by, Reason: err.Error()})
		return ReloadResult{}, fmt.Errorf("reload failed, the previous policy stays in force: %w", err)
	}
	s.policy.Store(pol)
	s.pw.forget(pol)
	s.changes.bump()
	if s.krb != nil {
		// A rotated service key: on failure the keys in hand stay.
		if err := s.krb.Reload(); err != nil {
			s.logger.Error("auth.kerberos keytab reload failed, the keys loaded before stay in use", "err", err)
		}
	}
	res := ReloadResult{Users: pol.users.Len(), Principals: len(pol.perms.entries)}
	s.audit.Write(ctx, audit.Record{Event: audit.Reload, Principal: by,
		Reason: fmt.Sprintf("%d users, %d permission entries", res.Users, res.Principals)})
	return res, nil
}

// Error is an authentication failure: the client sees a 401, or a 429
// (RetryAfter set) when the attempt was refused unchecked (Refusal says
// why in words for the client); Reason is for the audit log.
type Error struct {
	Reason     string
	Method     Method
	Name       string // the user named, if it is a known user
	RetryAfter time.Duration
	bearer     bool
	refusal    refusal
	expired    bool   // a token that expired
	tokenID    string // the API key's id, when the key was found
}

// TokenExpired reports whether the failure is a bearer token that
// expired (so a client may get a fresh one), not a bad one.
func (e *Error) TokenExpired() bool { return e.expired }

// Refusal is a sentence for the client saying why an attempt with
// RetryAfter was refused. It tells nothing about whether a user exists
// (the per-name limit counts unknown names too).
func (e *Error) Refusal() string {
	switch e.refusal {
	case refusedName:
		return "Too many failed authentications for this user name."
	case refusedBusy:
		return "Too many password checks in progress."
	case refusedLogins:
		return "Too many logins for this user."
	case refusedTokens:
		return "The user holds the most live tokens allowed."
	}
	return "Too many failed authentications from this address."
}

func (e *Error) Error() string { return "authentication failed: " + e.Reason }

// ClientIP returns the caller's address: the connection's peer, or, when
// that is a trusted proxy, the last address in X-Forwarded-For that is not
// one.
func (s *Service) ClientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap()
	if len(s.trusted) == 0 || !inAny(ip, s.trusted) {
		return ip
	}
	xff := r.Header.Values("X-Forwarded-For")
	var hops []string
	for _, v := range xff {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return ip
		}
		a = a.Unmap()
		if !inAny(a, s.trusted) {
			return a
		}
		ip = a
	}
	return ip
}

// Authenticate identifies the caller of r: HTTP Basic or Bearer from the
// Authorization header, else a verified client certificate, else
// anonymous. In open development mode credentials are not checked. A
// request another replica forwarded (it carries the Kgate-Node headers)
// is its caller as that replica authenticated it, when the node secret's
// signature holds (TrustNodes), and an *Error otherwise.
func (s *Service) Authenticate(r *http.Request) (*Principal, error) {
	if fromNode(r) {
		return s.nodes.verify(r)
	}
	ip := s.ClientIP(r)
	if s.open {
		return &Principal{Name: Anonymous, Method: MethodOpen, ClientIP: ip}, nil
	}
	if bad := keyInURL(r); bad != "" {
		return nil, &Error{Reason: "an API key in the URL's query parameter " + strconv.Quote(bad) + " (keys are never accepted in URLs: send X-API-Key or Basic)", Method: MethodAPIKey}
	}
	hs := r.Header.Values("Authorization")
	if ks := r.Header.Values("X-API-Key"); len(ks) > 0 {
		if len(ks) > 1 || len(hs) > 0 {
			return nil, &Error{Reason: "several credentials (X-API-Key with another X-API-Key or Authorization)", Method: MethodHeader}
		}
		return s.apiKey(r.Context(), ip, "", strings.TrimSpace(ks[0]))
	}
	switch {
	case len(hs) > 1:
		return nil, &Error{Reason: "several Authorization headers", Method: MethodHeader}
	case len(hs) == 1:
		scheme, cred, _ := strings.Cut(strings.TrimSpace(hs[0]), " ")
		cred = strings.TrimSpace(cred)
		switch strings.ToLower(scheme) {
		case "basic":
			return s.basic(r.Context(), ip, cred)
		case "bearer":
			return s.bearer(r.Context(), ip, cred)
		case "negotiate":
			return s.negotiate(ip, cred)
		}
		return nil, &Error{Reason: "unsupported Authorization scheme", Method: MethodHeader}
	}
	if tok, ok := WebSocketToken(r); ok {
		return s.bearer(r.Context(), ip, tok)
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		name := CertificateName(r.TLS.VerifiedChains[0][0], s.cfg.HTTPS.PrincipalFrom)
		if name == "" {
			return nil, &Error{Reason: "client certificate has no " + s.cfg.HTTPS.PrincipalFrom, Method: MethodCertificate}
		}
		if err := s.Policy().CheckName(name); err != nil {
			// The reason names no principal: the certificate's name may
			// be anything its CA signed. The log has the details.
			reason := "client certificate " + s.cfg.HTTPS.PrincipalFrom + " refused: " + err.Error()
			if !errors.Is(err, errNameRule) {
				s.logger.Warn("client certificate name overlaps another principal", "err", err)
				reason = "client certificate " + s.cfg.HTTPS.PrincipalFrom + " overlaps another principal's names through a {user} template"
			}
			return nil, &Error{Reason: reason, Method: MethodCertificate}
		}
		return &Principal{Name: name, Method: MethodCertificate, ClientIP: ip}, nil
	}
	return &Principal{Name: Anonymous, Method: MethodAnonymous, ClientIP: ip}, nil
}

// CertificateName returns the principal name of a client certificate:
// its CN, or its first DNS, email or URI SAN.
func CertificateName(c *x509.Certificate, from string) string {
	switch from {
	case "san_dns":
		if len(c.DNSNames) > 0 {
			return c.DNSNames[0]
		}
	case "san_email":
		if len(c.EmailAddresses) > 0 {
			return c.EmailAddresses[0]
		}
	case "san_uri":
		if len(c.URIs) > 0 {
			return c.URIs[0].String()
		}
	default:
		return c.Subject.CommonName
	}
	return ""
}

// ParseBasic decodes the credentials of an HTTP Basic Authorization
// header's value (after "Basic ").
func ParseBasic(cred string) (user, password string, ok bool) {
	if cred == "" || len(cred) > 4096 {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(b), ":")
	if !ok || user == "" {
		return "", "", false
	}
	return user, password, true
}

func (s *Service) basic(ctx context.Context, ip netip.Addr, cred string) (*Principal, error) {
	user, password, ok := ParseBasic(cred)
	if !ok {
		return nil, &Error{Reason: "malformed Basic credentials", Method: MethodBasic}
	}
	if LooksLikeAPIKey(password) {
		// Agents that send only Basic (fluent-bit, syslog-ng) carry a
		// key as the password of its user.
		return s.apiKey(ctx, ip, user, password)
	}
	u, err := s.checkPassword(ctx, ip, user, password)
	if err != nil {
		return nil, err
	}
	return &Principal{Name: user, Method: MethodBasic, ClientIP: ip, credential: fingerprint(u)}, nil
}

// checkPassword verifies user's password, refusing at once (429) an
// address or a user name that failed too often and a check that may not
// wait for a bcrypt, and returns the users-file entry the password was
// checked against.
func (s *Service) checkPassword(ctx context.Context, ip netip.Addr, user, password string) (*User, error) {
	pol := s.Policy()
	known := ""
	u := pol.users.Lookup(user)
	if u != nil {
		known = user
	}
	if e := s.RefuseAttempt(ip, user, MethodBasic); e != nil {
		e.Name = known
		return nil, e
	}
	ok, err := s.pw.checkAs(ctx, pol, user, password, s.attempts.class(ip, user, time.Now()))
	if errors.Is(err, errBusy) {
		s.attempts.crowded(ip, time.Now())
		return nil, &Error{Reason: errBusy.Error(), Method: MethodBasic, Name: known, RetryAfter: time.Second, refusal: refusedBusy}
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		s.AttemptFailed(ip, user)
		return nil, &Error{Reason: "wrong user name or password", Method: MethodBasic, Name: known}
	}
	s.AttemptSucceeded(ip, user)
	return u, nil
}

// RefuseAttempt returns the *Error (a 429 over HTTP, with RetryAfter) of
// an authentication from ip naming user (empty if none: a token) that
// must be refused without checking it: the address failed too often, or
// the name did (known or not) and this address has not succeeded as that
// user recently. Every door that checks credentials (HTTP, the Kafka
// port) asks it first and reports the outcome to AttemptFailed or
// AttemptSucceeded. The *Error names no user; the caller sets Name when
// the user is known.
func (s *Service) RefuseAttempt(ip netip.Addr, user string, m Method) *Error {
	why, wait := s.attempts.refuse(ip, user, time.Now())
	switch why {
	case refusedAddress:
		return &Error{Reason: "too many failed authentications from this address", Method: m, RetryAfter: wait, refusal: why, bearer: m == MethodBearer}
	case refusedName:
		return &Error{Reason: "too many failed authentications for this user", Method: m, RetryAfter: wait, refusal: why, bearer: m == MethodBearer}
	}
	return nil
}

// AttemptFailed records a failed authentication from ip naming user
// (empty: a bad token counts against the address only).
func (s *Service) AttemptFailed(ip netip.Addr, user string) { s.attempts.failed(ip, user, time.Now()) }

// AttemptSucceeded records that user proved its credentials from ip: that
// pair is spared the per-user limit and goes first to bcrypt for a day.
func (s *Service) AttemptSucceeded(ip netip.Addr, user string) {
	s.attempts.succeeded(ip, user, time.Now())
}

func (s *Service) bearer(ctx context.Context, ip netip.Addr, tok string) (*Principal, error) {
	if s.jwt == nil && s.oidc == nil {
		return nil, &Error{Reason: "bearer tokens are not enabled (no users file)", Method: MethodBearer, bearer: true}
	}
	if e := s.RefuseAttempt(ip, "", MethodBearer); e != nil {
		return nil, e
	}
	p, err := s.token(ctx, tok)
	if err != nil {
		s.AttemptFailed(ip, "")
		return nil, err
	}
	p.ClientIP = ip
	return p, nil
}

// token checks one of kgate's tokens: its signature and claims, that its
// user still exists with the password it was issued against, and that
// it was not revoked. It returns the principal (without a client
// address) or an *Error.
func (s *Service) token(ctx context.Context, tok string) (*Principal, error) {
	if p, err := s.external(ctx, tok); !errors.Is(err, oidc.ErrForeign) {
		return p, err
	}
	fail := func(reason, user string) *Error {
		return &Error{Reason: reason, Method: MethodBearer, Name: user, bearer: true}
	}
	if s.jwt == nil {
		return nil, fail("bearer tokens are not enabled (no users file)", "")
	}
	c, err := s.jwt.verify(tok)
	if err != nil {
		e := fail(err.Error(), "")
		e.expired = errors.Is(err, jwt.ErrTokenExpired)
		return nil, e
	}
	// Deleting a user from the users file ends its tokens (as KastleX);
	// changing its password, or deleting it and adding it again (a new
	// salt even for the same password), ends the tokens issued against
	// the old credential.
	u := s.Policy().users.Lookup(c.Subject)
	if u == nil {
		return nil, fail("token subject is not a user", "")
	}
	cred := fingerprint(u)
	if c.Credential == "" || subtle.ConstantTimeCompare([]byte(c.Credential), []byte(cred)) != 1 {
		return nil, fail("token was issued against another password of the user (changed, or the user was re-created)", c.Subject)
	}
	if s.store == nil {
		return nil, fail("no token store", "")
	}
	// Within the leeway the signature check lets an expired token
	// through; the store, which drops expired tokens, would then call
	// it revoked.
	if !time.Now().Before(c.ExpiresAt.Time) {
		e := fail("token expired", c.Subject)
		e.expired = true
		return nil, e
	}
	if err := s.store.Check(ctx, c.ID, c.Subject); err != nil {
		return nil, fail(err.Error(), c.Subject)
	}
	return &Principal{Name: c.Subject, Method: MethodBearer, TokenID: c.ID, Expires: c.ExpiresAt.Time, credential: c.Credential}, nil
}

// negotiate checks an HTTP Negotiate (SPNEGO) token with the service
// keytab and maps its Kerberos principal to a kgate principal (which,
// like a certificate's, needs no users-file entry; one gives it groups
// and limits).
func (s *Service) negotiate(ip netip.Addr, cred string) (*Principal, error) {
	if s.krb == nil {
		return nil, &Error{Reason: "Negotiate is not enabled (no auth.kerberos)", Method: MethodKerberos}
	}
	if e := s.RefuseAttempt(ip, "", MethodKerberos); e != nil {
		return nil, e
	}
	tok, err := base64.StdEncoding.DecodeString(cred)
	if err != nil || len(tok) == 0 {
		s.AttemptFailed(ip, "")
		return nil, &Error{Reason: "Negotiate token is not base64", Method: MethodKerberos}
	}
	n, err := s.krb.Negotiate(ip, tok)
	if err != nil {
		s.AttemptFailed(ip, "")
		e := &Error{Reason: "kerberos: " + err.Error(), Method: MethodKerberos}
		e.expired = gssapi.ReasonOf(err) == gssapi.ReasonExpired
		return nil, e
	}
	if err := s.Policy().CheckName(n.User); err != nil {
		s.AttemptFailed(ip, "")
		return nil, &Error{Reason: "kerberos principal " + n.Principal.String() + " maps to a refused name: " + err.Error(), Method: MethodKerberos}
	}
	s.AttemptSucceeded(ip, n.User)
	return &Principal{Name: n.User, Method: MethodKerberos, Expires: n.Expires, ClientIP: ip,
		Kerberos: n.Principal.String(), NegotiateReply: n.Reply}, nil
}

// keyInURL returns the name of a query parameter of r holding an API
// key, or "".
func keyInURL(r *http.Request) string {
	if !strings.Contains(r.URL.RawQuery, APIKeyPrefix) {
		return ""
	}
	for name, vs := range r.URL.Query() {
		for _, v := range vs {
			if LooksLikeAPIKey(v) || strings.HasPrefix(v, APIKeyPrefix) && len(v) > 20 {
				return name
			}
		}
	}
	return ""
}

// apiKey checks an API key (X-API-Key, or the password of Basic for
// user, who must then be the key's user). A key acts as its user with
// the key's plan.
func (s *Service) apiKey(ctx context.Context, ip netip.Addr, user, key string) (*Principal, error) {
	if s.keys == nil {
		return nil, &Error{Reason: ErrAPIKeysDisabled.Error() + " (no users file)", Method: MethodAPIKey}
	}
	if e := s.RefuseAttempt(ip, "", MethodAPIKey); e != nil {
		return nil, e
	}
	k, err := s.keys.Check(ctx, key, time.Now())
	if err != nil {
		s.AttemptFailed(ip, "")
		e := &Error{Reason: err.Error(), Method: MethodAPIKey}
		if k.ID != "" {
			e.Name, e.tokenID = k.User, k.ID
		}
		e.expired = errors.Is(err, ErrAPIKeyExpired)
		return nil, e
	}
	if user != "" && user != k.User {
		s.AttemptFailed(ip, "")
		return nil, &Error{Reason: "Basic user name is not the API key's user", Method: MethodAPIKey, tokenID: k.ID}
	}
	if err := s.Policy().CheckName(k.User); err != nil {
		return nil, &Error{Reason: "API key's user refused: " + err.Error(), Method: MethodAPIKey, tokenID: k.ID}
	}
	s.AttemptSucceeded(ip, k.User)
	return &Principal{Name: k.User, Method: MethodAPIKey, TokenID: k.ID, Expires: k.Expires, Plan: k.Plan, ClientIP: ip}, nil
}

// APIKeys is the API key store (nil without a users file or Kafka).
func (s *Service) APIKeys() *APIKeys { return s.keys }

// CreateAPIKey makes a key for desc.User on behalf of by, audited. ttl 0
// makes a key without expiry (refused when auth.api_keys.max_ttl is
// set). It returns the key (shown once) and its description.
func (s *Service) CreateAPIKey(ctx context.Context, by *Principal, desc APIKey, ttl time.Duration) (string, APIKey, error) {
	if s.keys == nil {
		return "", APIKey{}, ErrAPIKeysDisabled
	}
	if err := ValidPrincipalName(desc.User); err != nil {
		return "", APIKey{}, &KeyRequestError{Reason: "user: " + err.Error()}
	}
	if max := s.cfg.APIKeys.MaxTTL.D(); max > 0 && (ttl <= 0 || ttl > max) {
		return "", APIKey{}, &KeyRequestError{Reason: fmt.Sprintf("expires must be set and at most %s (auth.api_keys.max_ttl)", max)}
	}
	if desc.Plan != "" && !s.planExists(desc.Plan) {
		return "", APIKey{}, &KeyRequestError{Reason: fmt.Sprintf("no plan %q in auth.plans", desc.Plan)}
	}
	if len(desc.Description) > 256 {
		return "", APIKey{}, &KeyRequestError{Reason: "description longer than 256 bytes"}
	}
	now := time.Now()
	live := 0
	for _, k := range s.keys.List(desc.User) {
		if keyStanding(k, now) == nil {
			live++
		}
	}
	if live >= s.cfg.APIKeys.MaxPerUser {
		return "", APIKey{}, &KeyRequestError{Reason: fmt.Sprintf("%s holds %d live keys, the most allowed (auth.api_keys.max_per_user); revoke one first", desc.User, live)}
	}
	if ttl > 0 {
		desc.Expires = now.Add(ttl).UTC().Truncate(time.Second)
	}
	desc.CreatedBy = by.Name
	key, k, err := s.keys.Create(ctx, desc)
	if err != nil {
		return "", APIKey{}, err
	}
	s.audit.Write(ctx, audit.Record{Event: audit.APIKeyCreate, Principal: by.Name, AuthMethod: string(by.Method), ClientIP: addrString(by.ClientIP),
		Target: k.User, TokenID: k.ID, Reason: "plan " + strconv.Quote(k.Plan)})
	return key, k, nil
}

// RevokeAPIKey revokes the key id on behalf of by, audited; found is
// false when no live key has this id.
func (s *Service) RevokeAPIKey(ctx context.Context, by *Principal, id string) (bool, error) {
	if s.keys == nil {
		return false, ErrAPIKeysDisabled
	}
	k, found, err := s.keys.Revoke(ctx, id, by.Name)
	if err != nil || !found {
		return false, err
	}
	s.audit.Write(ctx, audit.Record{Event: audit.Revoke, Principal: by.Name, AuthMethod: string(by.Method), ClientIP: addrString(by.ClientIP),
		Target: k.User, TokenID: k.ID, Reason: "API key"})
	return true, nil
}

// planExists reports whether auth.plans defines name.
func (s *Service) planExists(name string) bool {
	_, ok := s.cfg.Plans[name]
	return ok
}

// KeyRequestError is a refused API key request (for the client).
type KeyRequestError struct{ Reason string }

func (e *KeyRequestError) Error() string { return e.Reason }

// Negotiates reports whether HTTP offers Negotiate (auth.kerberos).
func (s *Service) Negotiates() bool { return s.krb != nil }

// external checks a token of an auth.oidc issuer: its signature with the
// issuer's keys, its claims, and that its principal name may
// authenticate (as a client certificate's: Policy.CheckName). It returns
// oidc.ErrForeign for a token of no such issuer.
func (s *Service) external(ctx context.Context, tok string) (*Principal, error) {
	id, err := s.oidc.Verify(ctx, tok)
	if errors.Is(err, oidc.ErrForeign) {
		return nil, err
	}
	if err != nil {
		e := &Error{Reason: err.Error(), Method: MethodOIDC, bearer: true}
		var oe *oidc.Error
		e.expired = errors.As(err, &oe) && oe.Expired
		return nil, e
	}
	if err := s.Policy().CheckName(id.Name); err != nil {
		// The reason names no principal: the name may be anything.
		return nil, &Error{Reason: "token's principal name refused: " + err.Error(), Method: MethodOIDC, bearer: true}
	}
	if id.Plan != "" && !s.planExists(id.Plan) {
		return nil, &Error{Reason: fmt.Sprintf("token's plan %q is not in auth.plans", id.Plan), Method: MethodOIDC, bearer: true}
	}
	return &Principal{Name: id.Name, Method: MethodOIDC, TokenID: id.ID, Expires: id.Expires, Issuer: id.Issuer, Groups: id.Groups, Plan: id.Plan}, nil
}

// OIDC is the verifier of auth.oidc's issuers (nil without them): its
// Run fetches their keys, its Statuses report them.
func (s *Service) OIDC() *oidc.Verifier { return s.oidc }

// ErrLoginDisabled is returned by Login when there is no users file or no
// token store.
var ErrLoginDisabled = errors.New("login is not enabled")

// Login checks a user's password and issues a token recorded in the token
// store. It returns the token and its claims. A user logs in at most
// auth.login.per_user_per_minute times a minute (beyond, an *Error with
// RetryAfter: asked only after the password checked out, so it tells
// nothing to whoever lacks it) and holds at most auth.tokens.max_per_user
// live tokens: beyond, the oldest are revoked (when_full: revoke_oldest,
// so forgotten tokens never lock a user out) or the login is refused
// until the oldest expires (refuse).
func (s *Service) Login(ctx context.Context, ip netip.Addr, user, password string) (string, *Claims, error) {
	if s.jwt == nil || s.store == nil {
		return "", nil, ErrLoginDisabled
	}
	refuse := func(e *Error) (string, *Claims, error) {
		s.audit.Write(ctx, audit.Record{Event: audit.LoginFailure, Principal: orUnknown(e.Name), AuthMethod: string(MethodPassword),
			ClientIP: ip.String(), Reason: e.Reason})
		return "", nil, e
	}
	u, err := s.checkPassword(ctx, ip, user, password)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return refuse(ae)
		}
		return "", nil, err
	}
	now := time.Now()
	tc := s.cfg.Tokens
	if tc.WhenFull == "refuse" {
		if live := s.store.List(user); len(live) >= tc.MaxPerUser {
			return refuse(&Error{Reason: fmt.Sprintf("the user holds %d live tokens, the most allowed (auth.tokens.max_per_user)", len(live)),
				Method: MethodPassword, Name: user, RetryAfter: max(time.Until(live[0].ExpiresAt), time.Second), refusal: refusedTokens})
		}
	}
	if ok, wait := s.attempts.login(user, now); !ok {
		return refuse(&Error{Reason: "too many logins for this user (auth.login.per_user_per_minute)", Method: MethodPassword, Name: user,
			RetryAfter: wait, refusal: refusedLogins})
	}
	tok, c, err := s.jwt.issueFor(user, fingerprint(u), now)
	if err != nil {
		return "", nil, err
	}
	if err := s.store.Add(ctx, c, now); err != nil {
		return "", nil, err
	}
	s.audit.Write(ctx, audit.Record{Event: audit.Login, Principal: user, AuthMethod: string(MethodPassword), ClientIP: ip.String(), TokenID: c.ID})
	if tc.WhenFull != "refuse" {
		ids, err := s.store.Trim(ctx, user, tc.MaxPerUser)
		if err != nil {
			s.logger.Warn("revoking a user's oldest tokens", "principal", user, "err", err)
		}
		for _, id := range ids {
			s.audit.Write(ctx, audit.Record{Event: audit.Revoke, Principal: user, AuthMethod: string(MethodPassword), ClientIP: ip.String(),
				Target: user, TokenID: id, Reason: fmt.Sprintf("the oldest token beyond auth.tokens.max_per_user (%d)", tc.MaxPerUser)})
		}
	}
	return tok, c, nil
}

// RevokeUser revokes every token of user.
func (s *Service) RevokeUser(ctx context.Context, by *Principal, user string) (int, error) {
	if s.store == nil {
		return 0, ErrLoginDisabled
	}
	n, err := s.store.RevokeUser(ctx, user)
	if err != nil {
		return 0, err
	}
	s.audit.Write(ctx, audit.Record{Event: audit.Revoke, Principal: by.Name, AuthMethod: string(by.Method), ClientIP: addrString(by.ClientIP), Target: user, Reason: fmt.Sprintf("all tokens of the user (%d live)", n)})
	return n, nil
}

// RevokeID revokes one token; found is false when no live token has id.
func (s *Service) RevokeID(ctx context.Context, by *Principal, id string) (bool, error) {
	if s.store == nil {
		return false, ErrLoginDisabled
	}
	sub, found, err := s.store.RevokeID(ctx, id)
	if err != nil || !found {
		return found, err
	}
	s.audit.Write(ctx, audit.Record{Event: audit.Revoke, Principal: by.Name, AuthMethod: string(by.Method), ClientIP: addrString(by.ClientIP), Target: sub, TokenID: id, Reason: "one token"})
	return true, nil
}

// Authorize checks an action on a resource a handler found in a request
// body (the topics of a subscription, say) for the principal of ctx, and
// audits a refusal. It returns nil or a *Denial.
func (s *Service) Authorize(ctx context.Context, action Action, resource string) error {
	p := FromContext(ctx)
	if p == nil {
		p = &Principal{Name: Anonymous, Method: MethodAnonymous}
	}
	d := s.Policy().Decide(p, action, resource)
	if d.Allowed {
		return nil
	}
	return s.Deny(ctx, p, "", action, resource, d)
}

// Deny audits a refused decision and returns it as a *Denial; route names
// the route that asked (empty inside a handler).
func (s *Service) Deny(ctx context.Context, p *Principal, route string, action Action, resource string, d Decision) *Denial {
	s.audit.Write(ctx, audit.Record{Event: audit.Denied, Principal: p.Name, AuthMethod: string(p.Method), ClientIP: addrString(p.ClientIP),
		Route: route, Action: string(action), Resource: truncate(resource, 256), Reason: d.Reason})
	return &Denial{Principal: p, Action: action, Resource: resource, Decision: d}
}

// Denial is a refused authorization: who, what, on what, and the
// decision's reason (for logs, not for the client). Each API maps it to
// its wire: a caller that did not authenticate is asked to (401), an
// authenticated one is refused (403).
type Denial struct {
	Principal *Principal
	Action    Action
	Resource  string
	Decision  Decision
}

func (d *Denial) Error() string {
	return fmt.Sprintf("%s may not %s %q: %s", d.Principal.Name, d.Action, truncate(d.Resource, 256), d.Decision.Reason)
}

// Message is the refusal in words for the client (the reason stays
// private).
func (d *Denial) Message() string {
	if !d.Principal.Authenticated() {
		return "Authentication required."
	}
	scope, _ := d.Action.Scope()
	if scope == ScopeCluster || d.Resource == "" {
		return fmt.Sprintf("Not authorized: %s.", d.Action)
	}
	return fmt.Sprintf("Not authorized: %s on %s %q.", d.Action, scope, truncate(d.Resource, 256))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func orUnknown(name string) string {
	if name == "" {
		return audit.UnknownPrincipal
	}
	return name
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// Bearer reports whether the failure concerns a bearer token (the
// challenge then says invalid_token).
func (e *Error) Bearer() bool { return e.bearer }

// AuditFailure audits an authentication failure on route (action) from ip.
func (s *Service) AuditFailure(ctx context.Context, e *Error, ip netip.Addr, route string, action Action) {
	s.audit.Write(ctx, audit.Record{Event: audit.AuthFailure, Principal: orUnknown(e.Name), AuthMethod: string(e.Method),
		ClientIP: addrString(ip), Route: route, Action: string(action), Reason: e.Reason, TokenID: e.tokenID})
}

// WebSocketTokenPrefix marks a bearer token offered as a WebSocket
// subprotocol: browsers cannot set Authorization on a WebSocket, so a
// page offers ["kgate.v1", "kgate.bearer.<token>"] (Sec-WebSocket-Protocol
// is a header: the token never travels in the URL). kgate answers
// "kgate.v1" and never echoes the token.
const WebSocketTokenPrefix = "kgate.bearer."

// WebSocketToken returns the bearer token a WebSocket handshake offers as
// a subprotocol (and ok), when it has no other credentials.
func WebSocketToken(r *http.Request) (string, bool) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return "", false
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if tok, ok := strings.CutPrefix(strings.TrimSpace(p), WebSocketTokenPrefix); ok && tok != "" {
				return tok, true
			}
		}
	}
	return "", false
}
