package kafkaport

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
)

// plainSession is PLAIN (RFC 4616): one message, authzid NUL authcid NUL
// passwd, checked against the users file's bcrypt hashes (through the
// policy's CheckPassword, which caches successes and pays a dummy bcrypt
// for unknown users, as HTTP Basic does), or against kgate's own
// password for its superuser.
type plainSession struct {
	g       *Guard
	c       Conn
	allowed bool // PLAIN may be used on this connection
	user    string
	done    bool
}

func (g *Guard) newPlain(c Conn) Session {
	return &plainSession{g: g, c: c, allowed: g.plainAllowed(c.IP)}
}

// errPlainMalformed is a PLAIN message that is not authzid NUL authcid
// NUL passwd with authzid empty or authcid.
var errPlainMalformed = errors.New("malformed PLAIN message")

// parsePlain splits a PLAIN message. kgate does not act on behalf of
// other users: authzid must be empty or the authcid itself.
func parsePlain(msg []byte) (user, password string, err error) {
	parts := bytes.SplitN(msg, []byte{0}, 3)
	if len(parts) != 3 || len(parts[1]) == 0 || bytes.IndexByte(parts[2], 0) >= 0 {
		return "", "", errPlainMalformed
	}
	if len(parts[0]) != 0 && !bytes.Equal(parts[0], parts[1]) {
		return string(parts[1]), "", &Failure{Class: ClassBadCredentials, User: string(parts[1]),
			Detail: "the authorization id must be empty or the user name", Cause: "PLAIN authzid differs from the user"}
	}
	return string(parts[1]), string(parts[2]), nil
}

func (s *plainSession) User() string { return s.user }

func (s *plainSession) Step(ctx context.Context, msg []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, errors.New("PLAIN takes one message")
	}
	s.done = true
	if !s.allowed {
		return nil, false, &Failure{Class: ClassNotAllowed, denied: true,
			Detail: "PLAIN sends the password in the clear and is offered on loopback connections only; use SCRAM-SHA-512, configure broker.tls, or set broker.sasl.plain_over_plaintext: true",
			Cause:  "PLAIN from a non-loopback address while broker.sasl.plain_over_plaintext is false"}
	}
	user, password, err := parsePlain(msg)
	if err != nil {
		return nil, false, err
	}
	s.user = user
	if err := s.c.Claim(user); err != nil {
		return nil, false, err
	}
	if user == s.g.o.Superuser {
		if subtle.ConstantTimeCompare([]byte(password), []byte(s.g.o.SuperuserPassword)) != 1 {
			return nil, false, BadCredentials(user, "wrong password for kgate's own user")
		}
		return []byte{}, true, nil
	}
	pol := s.g.policy()
	if pol == nil { // Claim refuses everyone but the superuser then
		return nil, false, &Failure{Class: ClassUnavailable, Detail: "the gateway is starting; retry", User: user}
	}
	ok, err := pol.CheckPassword(ctx, s.c.IP, user, password)
	if err != nil {
		return nil, false, &Failure{Class: ClassUnavailable, Detail: "the gateway is busy checking passwords; retry", User: user, Cause: err.Error()}
	}
	if !ok {
		return nil, false, BadCredentials(user, "wrong user name or password")
	}
	return []byte{}, true, nil
}
