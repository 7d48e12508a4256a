package kafkaport

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// SASL mechanism names, as Kafka spells them (case matters).
const (
	Plain       = "PLAIN"
	SCRAMSHA256 = "SCRAM-SHA-256"
	SCRAMSHA512 = "SCRAM-SHA-512"
)

// DefaultMechanisms are the mechanisms offered when Options.Enabled is
// nil, in the order a SaslHandshake lists them.
var DefaultMechanisms = []string{Plain, SCRAMSHA256, SCRAMSHA512}

// Session is the server side of one client's SASL exchange.
//
// Step takes the client's next message and returns the server's reply.
// done reports that the client has authenticated: reply (possibly empty)
// is then the last message, sent only once the guard has logged in to
// the broker on the client's behalf. An error ends the login; a
// *Failure says what the client is told and what is audited, any other
// error is reported as bad credentials. A session is used by one
// goroutine.
type Session interface {
	Step(ctx context.Context, msg []byte) (reply []byte, done bool, err error)
	// User is the kgate user the client authenticated as, once Step
	// returned done (before, the user it claims, or "").
	User() string
}

// Lasting is a Session whose credential may end before its connection
// does: a token that expires or is revoked, a ticket that expires. Once
// the client has authenticated, the guard closes the connection at
// Expires, and at every change of the policy (a reload, a revocation on
// any replica) when Stands returns an error, whose message is audited.
// Neither the guard nor the broker offers re-authentication (KIP-368):
// the client reconnects with a fresh credential.
type Lasting interface {
	// Expires is when the credential ends (zero: never).
	Expires() time.Time
	// Stands returns nil while the credential still holds at now.
	Stands(now time.Time) error
}

// Conn is what a session knows of its connection.
type Conn struct {
	// IP is the client's address.
	IP netip.Addr
	// Claim must be called by a session as soon as it knows which user
	// the client claims to be, before it checks the credentials: it
	// returns nil, or the *Failure to return from Step (too many failed
	// logins, an address the user may not connect from, a gateway not
	// yet admitting users). A session that never calls it is checked
	// when it is done.
	Claim func(user string) error
}

// NewSession starts a session of one mechanism for one login. It is the
// registration point for mechanisms outside this package (GSSAPI,
// OAUTHBEARER): see Options.Mechanisms.
type NewSession func(c Conn) Session

// Class is the kind of a login failure; the client's message names it.
type Class string

// Failure classes.
const (
	ClassUnknownMechanism Class = "unknown mechanism"
	ClassBadCredentials   Class = "bad credentials"
	ClassNotAllowed       Class = "not allowed from this address"
	ClassTooManyFailures  Class = "too many failures"
	ClassTokenExpired     Class = "token expired"
	ClassTooManyConns     Class = "too many connections"
	ClassUnavailable      Class = "unavailable"
	ClassQuota            Class = "quota exceeded"
)

// Failure is a refused login: the client gets SASL_AUTHENTICATION_FAILED
// with Message (over a SaslHandshake v0 exchange, which has no error
// field, the connection is closed), the log and the audit get Cause.
// Neither ever holds a secret.
type Failure struct {
	Class Class
	// Detail, for the client, follows the class in the message.
	Detail string
	// Cause, for the log and the audit record only, says precisely why
	// (say, "unknown user" where the client is told "bad credentials").
	Cause string
	// User is the user the client claimed, if known.
	User string
	// denied marks a refusal by policy (audited as denied); other
	// failures are audited as auth_failure, and bad credentials count
	// against the failure limits.
	denied bool
}

// Message is what the client is told.
func (f *Failure) Message() string {
	m := "SASL authentication failed: " + string(f.Class)
	if f.Detail != "" {
		m += ": " + f.Detail
	}
	return m
}

func (f *Failure) Error() string {
	if f.Cause != "" {
		return f.Message() + " (" + f.Cause + ")"
	}
	return f.Message()
}

// asFailure returns err as a *Failure; other errors are bad credentials
// whose cause is err (sessions must not put secrets in errors).
func asFailure(err error, user string) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		if f.User == "" {
			f.User = user
		}
		return f
	}
	return &Failure{Class: ClassBadCredentials, Cause: err.Error(), User: user}
}

// BadCredentials is the failure of a session whose client did not prove
// its identity; cause is for the log and audit only.
func BadCredentials(user, cause string) *Failure {
	return &Failure{Class: ClassBadCredentials, User: user, Cause: cause}
}

// TokenExpired is the failure of a session whose client presented an
// expired token or ticket.
func TokenExpired(user, cause string) *Failure {
	return &Failure{Class: ClassTokenExpired, User: user, Cause: cause}
}
