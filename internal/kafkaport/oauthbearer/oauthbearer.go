// Package oauthbearer is the server side of SASL OAUTHBEARER (RFC 7628)
// as Kafka clients speak it (KIP-255): the client's one message carries a
// bearer token, which a Verifier checks.
package oauthbearer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Mechanism is the SASL mechanism's name.
const Mechanism = "OAUTHBEARER"

// MaxMessage bounds the client's message (a token and its framing).
const MaxMessage = 64 << 10

// Identity is who a token names, and until when.
type Identity struct {
	User    string
	Expires time.Time
}

// Verifier checks a bearer token (kgate's own JWTs, and those of
// configured OpenID issuers). Its error's message is shown to the client:
// it must name the reason class, never the token.
type Verifier interface {
	VerifyBearer(ctx context.Context, token string) (Identity, error)
}

// Reason is the class of a failure, for the client's message and the
// audit trail.
type Reason string

// Reasons.
const (
	ReasonMalformed    Reason = "malformed OAUTHBEARER message"
	ReasonInvalidToken Reason = "invalid token"
	ReasonAuthzID      Reason = "authorization id is not the token's subject"
	ReasonState        Reason = "unexpected message after the exchange ended"
)

// Error is a failed exchange.
type Error struct {
	Reason Reason
	Err    error // the verifier's error for ReasonInvalidToken
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Reason) + ": " + e.Err.Error()
	}
	return string(e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// Session is one exchange on one connection.
type Session struct {
	v    Verifier
	done bool
	id   Identity
}

// Start begins an exchange checked by v.
func Start(v Verifier) *Session { return &Session{v: v} }

// Step takes the client's message and returns the server's reply (empty
// on success), done when the exchange is over. A failure ends the
// exchange at once with an *Error: Kafka brokers answer a bad token with
// an error JSON challenge that the client acknowledges before the
// failure, but every client also takes the failure itself, and ending at
// once costs no round trip and no state.
func (s *Session) Step(ctx context.Context, msg []byte) ([]byte, bool, error) {
	if s.done {
		return nil, true, &Error{Reason: ReasonState}
	}
	s.done = true
	authzid, token, err := Parse(msg)
	if err != nil {
		return nil, true, err
	}
	id, err := s.v.VerifyBearer(ctx, token)
	if err != nil {
		return nil, true, &Error{Reason: ReasonInvalidToken, Err: err}
	}
	if authzid != "" && authzid != id.User {
		return nil, true, &Error{Reason: ReasonAuthzID}
	}
	s.id = id
	return []byte{}, true, nil
}

// User is the token's user once the exchange succeeded.
func (s *Session) User() string { return s.id.User }

// Expires is when the token expires (zero: never).
func (s *Session) Expires() time.Time { return s.id.Expires }

// Parse splits a client's initial response, RFC 7628 section 3.1:
//
//	gs2-header = "n," ["a=" authzid] ","
//	message    = gs2-header %x01 *(key "=" value %x01) %x01
//
// with one pair "auth=Bearer TOKEN"; other pairs (KIP-342 extensions)
// are allowed and ignored. Channel binding ("p=", "y") is refused.
func Parse(msg []byte) (authzid, token string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", &Error{Reason: ReasonMalformed, Err: errors.New(why)}
	}
	if len(msg) > MaxMessage {
		return bad("message too long")
	}
	hdr, rest, ok := bytes.Cut(msg, []byte{1})
	if !ok {
		return bad("no key-value pairs")
	}
	// gs2-header: cbind flag, authzid, and the empty string after the
	// second comma.
	parts := strings.Split(string(hdr), ",")
	if len(parts) != 3 || parts[2] != "" {
		return bad("bad GS2 header")
	}
	switch parts[0] {
	case "n":
	case "y":
		return bad("channel binding is not supported")
	default:
		return bad("bad GS2 header")
	}
	if a := parts[1]; a != "" {
		if !strings.HasPrefix(a, "a=") {
			return bad("bad GS2 header")
		}
		authzid, err = saslname(a[2:])
		if err != nil {
			return "", "", err
		}
	}
	if !bytes.HasSuffix(rest, []byte{1}) {
		return bad("message not terminated")
	}
	rest = rest[:len(rest)-1]
	seen := map[string]bool{}
	for len(rest) > 0 {
		var kv []byte
		kv, rest, ok = bytes.Cut(rest, []byte{1})
		if !ok {
			return bad("key-value pair not terminated")
		}
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if !ok || len(k) == 0 {
			return bad("bad key-value pair")
		}
		for _, c := range k {
			if c < 'A' || c > 'Z' && c < 'a' || c > 'z' {
				return bad("bad key")
			}
		}
		if seen[string(k)] {
			return bad(fmt.Sprintf("key %q repeated", k))
		}
		seen[string(k)] = true
		for _, c := range v {
			if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
				return bad("bad value")
			}
		}
		if string(k) == "auth" {
			scheme, tok, ok := strings.Cut(string(v), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				return bad("auth is not a Bearer token")
			}
			token = strings.TrimLeft(tok, " ")
		}
	}
	if token == "" {
		return bad("no auth=Bearer token")
	}
	return authzid, token, nil
}

// saslname decodes RFC 5801's saslname (",", "=" escaped as "=2C", "=3D").
func saslname(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '=' && strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
			i += 2
		case c == '=' && strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
			i += 2
		case c == '=' || c == ',' || c == 0:
			return "", &Error{Reason: ReasonMalformed, Err: errors.New("bad authorization id")}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
