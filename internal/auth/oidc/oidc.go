// Package oidc checks the bearer tokens of external OpenID Connect /
// OAuth2 issuers: JWTs signed with the issuer's published keys (JWKS),
// found by discovery or configured, cached, and fetched again on rotation.
//
// Only keys fetched from the configured issuer's key URL are trusted: a
// token's own jku, x5u or jwk header is never followed. Each issuer is
// pinned to its algorithms (never none, never HMAC, whose "key" would be
// the public key). A token is checked for iss, aud, exp, nbf and iat with
// the issuer's clock skew, and its principal and groups are taken from
// the configured claims.
package oidc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kgate/kgate/internal/config"
)

// MaxTokenBytes bounds a token kgate decodes.
const MaxTokenBytes = 16 << 10

// maxDocumentBytes bounds a discovery document or key set.
const maxDocumentBytes = 1 << 20

// fetchTimeout bounds one fetch of a discovery document or key set.
const fetchTimeout = 10 * time.Second

// Identity is who a verified token says its bearer is.
type Identity struct {
	// Issuer is the token's iss (a configured issuer).
	Issuer string
	// Name is the principal: the issuer's prefix and the principal
	// claim.
	Name string
	// Groups are the kgate groups the token's groups claim maps to.
	Groups []string
	// Plan is the plan_claim's value ("" without one).
	Plan string
	// ID is the token's jti (may be empty); Expires its exp.
	ID      string
	Expires time.Time
}

// Error is a token that was refused; Reason says why (for audit and logs:
// it holds no part of the token). Expired says the token was genuine but
// past its expiry.
type Error struct {
	Reason  string
	Expired bool
}

func (e *Error) Error() string { return e.Reason }

func refuse(format string, args ...any) *Error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Verifier checks tokens of the configured issuers.
type Verifier struct {
	issuers map[string]*issuer
	order   []*issuer
	logger  *slog.Logger
	// checkName and checkGroup say whether a principal or group name is
	// valid for kgate (names the permissions file could hold).
	checkName  func(string) error
	checkGroup func(string) error

	// verified remembers verified tokens by their SHA-256 until they
	// expire: an RSA verification and the claims' JSON cost tens of
	// microseconds, a lookup nanoseconds. A hit still needs its key in
	// the issuer's current set, so a key the issuer withdraws ends its
	// tokens at the next fetch.
	mu       sync.Mutex
	verified map[[32]byte]verified
}

type verified struct {
	id  *Identity
	is  *issuer
	kid string
}

// maxVerified bounds the verified-token cache.
const maxVerified = 10000

// Options configure New.
type Options struct {
	Issuers []config.OIDCIssuer
	Logger  *slog.Logger
	// CheckName and CheckGroup validate the principal and group names
	// tokens yield (nil: any non-empty name).
	CheckName  func(string) error
	CheckGroup func(string) error
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// New builds a verifier; it fetches no keys until Run or the first token.
func New(o Options) (*Verifier, error) {
	v := &Verifier{issuers: map[string]*issuer{}, logger: o.Logger, checkName: o.CheckName, checkGroup: o.CheckGroup,
		verified: map[[32]byte]verified{}}
	if v.logger == nil {
		v.logger = slog.New(slog.DiscardHandler)
	}
	if v.checkName == nil {
		v.checkName = func(string) error { return nil }
	}
	if v.checkGroup == nil {
		v.checkGroup = func(string) error { return nil }
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	for _, c := range o.Issuers {
		c = c.WithDefaults()
		if err := v.checkName(c.Prefix + "x"); c.Prefix != "" && err != nil {
			return nil, fmt.Errorf("auth.oidc %s: prefix %q: %w", c.Issuer, c.Prefix, err)
		}
		for from, to := range c.Groups {
			if err := v.checkGroup(to); err != nil {
				return nil, fmt.Errorf("auth.oidc %s: groups %q: %q: %w", c.Issuer, from, to, err)
			}
		}
		client, err := httpClient(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("auth.oidc %s: %w", c.Issuer, err)
		}
		algs := make([]jose.SignatureAlgorithm, 0, len(c.Algorithms))
		for _, a := range c.Algorithms {
			algs = append(algs, jose.SignatureAlgorithm(a))
		}
		is := &issuer{cfg: c, algs: algs, client: client, logger: v.logger.With("issuer", c.Issuer), now: now}
		v.issuers[c.Issuer] = is
		v.order = append(v.order, is)
	}
	return v, nil
}

func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // an issuer is reached directly, as configured
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{
		Transport: tr,
		Timeout:   fetchTimeout,
		// A redirect could lead the key fetch anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// Run fetches every issuer's keys, then again every refresh interval,
// until ctx ends. A failed fetch keeps the keys in hand and is retried
// with backoff.
func (v *Verifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, is := range v.order {
		wg.Go(func() { is.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Handles reports whether tok claims to be from one of the configured
// issuers (its unverified iss; Verify checks everything).
func (v *Verifier) Handles(tok string) bool {
	if v == nil || len(v.issuers) == 0 {
		return false
	}
	iss, ok := peekIssuer(tok)
	return ok && v.issuers[iss] != nil
}

// peekIssuer reads the iss claim of a compact JWS without verifying it.
func peekIssuer(tok string) (string, bool) {
	if len(tok) > MaxTokenBytes {
		return "", false
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Iss == "" {
		return "", false
	}
	return c.Iss, true
}

// ErrForeign is Verify's answer to a token that does not claim to be of
// a configured issuer (kgate's own, say): someone else's to check.
var ErrForeign = errors.New("not a token of a configured issuer")

// Verify checks tok and returns its identity, ErrForeign, or an *Error. A token with
// a key id the issuer's cached keys lack triggers a fetch of the keys
// (up to unknownKidBurst in a row, then one per min_refresh_interval;
// concurrent ones share it); a token whose key is cached never waits for
// the issuer.
func (v *Verifier) Verify(ctx context.Context, tok string) (*Identity, error) {
	if v == nil || len(tok) > MaxTokenBytes {
		return nil, ErrForeign
	}
	sum := sha256.Sum256([]byte(tok))
	v.mu.Lock()
	hit, ok := v.verified[sum]
	v.mu.Unlock()
	if ok {
		if hit.is.now().Before(hit.id.Expires.Add(hit.is.cfg.ClockSkew.D())) && hit.is.hasKey(hit.kid) {
			return hit.id.clone(), nil
		}
		v.mu.Lock()
		delete(v.verified, sum)
		v.mu.Unlock()
	}
	iss, ok := peekIssuer(tok)
	if !ok {
		return nil, ErrForeign
	}
	is := v.issuers[iss]
	if is == nil {
		return nil, ErrForeign
	}
	jws, err := jose.ParseSigned(tok, is.algs)
	if err != nil {
		return nil, refuse("malformed token or algorithm not allowed for this issuer (allowed: %s): %v", strings.Join(is.cfg.Algorithms, ", "), err)
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse("token must have exactly one signature")
	}
	h := jws.Signatures[0].Header
	payload, err := is.verify(ctx, jws, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	id, err := v.claims(is, payload)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if len(v.verified) >= maxVerified {
		// Drop about half, whichever the map yields first.
		n := 0
		for k := range v.verified {
			delete(v.verified, k)
			if n++; n >= maxVerified/2 {
				break
			}
		}
	}
	v.verified[sum] = verified{id: id, is: is, kid: h.KeyID}
	v.mu.Unlock()
	return id.clone(), nil
}

func (id *Identity) clone() *Identity {
	c := *id
	c.Groups = slices.Clone(id.Groups)
	return &c
}

// claims checks a verified payload's registered claims and maps the
// principal and groups.
func (v *Verifier) claims(is *issuer, payload []byte) (*Identity, error) {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var c map[string]any
	if err := d.Decode(&c); err != nil {
		return nil, refuse("claims are not a JSON object")
	}
	if s, _ := c["iss"].(string); s != is.cfg.Issuer {
		return nil, refuse("wrong issuer")
	}
	if !audienceMatches(c["aud"], is.cfg.Audiences) {
		return nil, refuse("wrong audience (want one of %s)", strings.Join(is.cfg.Audiences, ", "))
	}
	now := is.now()
	skew := is.cfg.ClockSkew.D()
	exp, ok := numericDate(c["exp"])
	if !ok {
		return nil, refuse("token has no exp")
	}
	if !now.Before(exp.Add(skew)) {
		return nil, &Error{Reason: "token expired", Expired: true}
	}
	if nbf, ok := numericDate(c["nbf"]); ok && now.Add(skew).Before(nbf) {
		return nil, refuse("token not valid yet (nbf)")
	}
	if _, present := c["nbf"]; present {
		if _, ok := numericDate(c["nbf"]); !ok {
			return nil, refuse("nbf is not a number")
		}
	}
	if iat, ok := numericDate(c["iat"]); ok && now.Add(skew).Before(iat) {
		return nil, refuse("token issued in the future (iat)")
	}
	raw, _ := lookup(c, is.cfg.PrincipalClaim).(string)
	if raw == "" {
		return nil, refuse("claim %s is missing or not a string", is.cfg.PrincipalClaim)
	}
	name := is.cfg.Prefix + raw
	if err := v.checkName(name); err != nil {
		return nil, refuse("claim %s is not a valid principal name: %v", is.cfg.PrincipalClaim, err)
	}
	id := &Identity{Issuer: is.cfg.Issuer, Name: name, Expires: exp}
	id.ID, _ = c["jti"].(string)
	if is.cfg.PlanClaim != "" {
		id.Plan, _ = lookup(c, is.cfg.PlanClaim).(string)
	}
	if is.cfg.GroupsClaim != "" {
		id.Groups = v.groups(is, lookup(c, is.cfg.GroupsClaim))
	}
	return id, nil
}

// groups maps a groups claim (a list of strings or one space-separated
// string) to kgate groups; names kgate cannot hold are dropped.
func (v *Verifier) groups(is *issuer, claim any) []string {
	var names []string
	switch g := claim.(type) {
	case string:
		names = strings.Fields(g)
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok {
				names = append(names, s)
			}
		}
	}
	var out []string
	for _, n := range names {
		if is.cfg.Groups != nil {
			to, ok := is.cfg.Groups[n]
			if !ok {
				continue
			}
			n = to
		}
		if v.checkGroup(n) != nil || slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// lookup follows a dotted path through nested objects.
func lookup(c map[string]any, path string) any {
	var cur any = c
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func audienceMatches(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(want, a)
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

// Status is an issuer's key state, for readiness and metrics.
type Status struct {
	Issuer string
	// Keys is the number of keys in hand; Fetched when they were last
	// fetched (zero: never).
	Keys    int
	Fetched time.Time
	// Err is the last fetch's failure ("" when it succeeded).
	Err string
	// Failures counts failed fetches since start.
	Failures int64
}

// Statuses reports every issuer's key state, in configuration order.
func (v *Verifier) Statuses() []Status {
	if v == nil {
		return nil
	}
	out := make([]Status, 0, len(v.order))
	for _, is := range v.order {
		out = append(out, is.status())
	}
	return out
}

// fetchJSON GETs u into dst: 200, JSON, at most maxDocumentBytes.
func fetchJSON(ctx context.Context, client *http.Client, u string, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocumentBytes))
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("GET %s: longer than %d bytes", u, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

var errNoKeys = errors.New("the issuer's keys have not been fetched yet")
