package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenLen bounds a bearer token before any parsing.
const maxTokenLen = 8 << 10

// tokens issues and verifies kgate's JWTs. Verification pins the
// algorithm, the key id, the issuer and the audience, and requires exp,
// iat, sub and jti. It is safe for concurrent use.
type tokens struct {
	key      *signingKey
	issuer   string
	audience string
	ttl      time.Duration
	leeway   time.Duration
	parser   *jwt.Parser

	// verified remembers tokens whose signature and claims checked out,
	// keyed by the token's SHA-256, until they expire: an ES512
	// verification costs milliseconds, a lookup nanoseconds. The claims
	// of a signed token cannot change; revocation is checked on every
	// request by the token store, not here.
	mu       sync.Mutex
	verified map[[32]byte]*Claims
}

// maxVerified bounds the verified-token cache.
const maxVerified = 10000

// Claims are the claims kgate puts in a token.
type Claims struct {
	jwt.RegisteredClaims
	// Credential is the fingerprint of the password the token was
	// issued against (a private claim): a password change, or the user
	// deleted and added again, ends the token.
	Credential string `json:"cred,omitempty"`
}

func newTokens(key *signingKey, issuer, audience string, ttl, leeway time.Duration) *tokens {
	return &tokens{
		key: key, issuer: issuer, audience: audience, ttl: ttl, leeway: leeway,
		verified: map[[32]byte]*Claims{},
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{key.method.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
		),
	}
}

// issue signs a new token for sub bound to no credential (bearer refuses
// it; tests of the token format use it).
func (t *tokens) issue(sub string, now time.Time) (string, *Claims, error) {
	return t.issueFor(sub, "", now)
}

// issueFor signs a new token for sub bound to the credential cred.
func (t *tokens) issueFor(sub, cred string, now time.Time) (string, *Claims, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", nil, err
	}
	c := &Claims{jwt.RegisteredClaims{
		Issuer:    t.issuer,
		Subject:   sub,
		Audience:  jwt.ClaimStrings{t.audience},
		ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
	}, cred}
	tok := jwt.NewWithClaims(t.key.method, c)
	tok.Header["kid"] = t.key.kid
	s, err := tok.SignedString(t.key.sign)
	if err != nil {
		return "", nil, fmt.Errorf("signing token: %w", err)
	}
	return s, c, nil
}

// errBadToken is every verification failure; the cause is logged, the
// client hears only that the token is not valid.
var errBadToken = errors.New("invalid token")

// verify checks a token's signature and claims.
func (t *tokens) verify(s string) (*Claims, error) {
	if len(s) > maxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", errBadToken, maxTokenLen)
	}
	sum := sha256.Sum256([]byte(s))
	t.mu.Lock()
	c, ok := t.verified[sum]
	t.mu.Unlock()
	if ok {
		if time.Now().Before(c.ExpiresAt.Add(t.leeway)) {
			return c, nil
		}
		t.mu.Lock()
		delete(t.verified, sum)
		t.mu.Unlock()
	}
	c, err := t.verifySignature(s)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		// Drop about half, whichever the map yields first.
		n := 0
		for k := range t.verified {
			delete(t.verified, k)
			if n++; n >= maxVerified/2 {
				break
			}
		}
	}
	t.verified[sum] = c
	t.mu.Unlock()
	return c, nil
}

// verifySignature parses s and checks its signature and claims.
func (t *tokens) verifySignature(s string) (*Claims, error) {
	c := &Claims{}
	_, err := t.parser.ParseWithClaims(s, c, func(tok *jwt.Token) (any, error) {
		if tok.Method.Alg() != t.key.method.Alg() {
			return nil, fmt.Errorf("algorithm %q is not accepted", tok.Method.Alg())
		}
		if kid, ok := tok.Header["kid"]; ok && kid != t.key.kid {
			return nil, errors.New("unknown key id")
		}
		return t.key.verify, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadToken, err)
	}
	if c.Subject == "" || c.ID == "" || c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: sub, jti and iat are required", errBadToken)
	}
	return c, nil
}
