package kafkaport

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The broker (kfake) keeps SASL enabled: its ACLs use the connection's
// SASL user. Once the guard has authenticated a client as user U, it logs
// in to the broker on that same connection as U with SCRAM-SHA-512 and a
// password derived from kgate's broker secret, which the broker knows
// because kgate provisions it (auth.SyncBroker for the users file's
// users, Options' provision hook for others). The client never sees the
// derived password nor the broker's answers; the users file's own SCRAM
// credentials never reach the broker.

// Credentials derives the broker credentials of kgate's users. It is safe
// for concurrent use.
type Credentials struct {
	secret []byte

	// mu guards salted: derived SCRAM-SHA-512 credentials by user (PBKDF2
	// is slow on purpose; a reload re-provisions every user).
	mu     sync.Mutex
	salted map[string][]byte
}

// maxCachedCredentials bounds the cache (the users file's users, and
// users provisioned on demand).
const maxCachedCredentials = 100000

// NewCredentials derives from secret (kgate's broker secret).
func NewCredentials(secret []byte) *Credentials {
	return &Credentials{secret: append([]byte(nil), secret...), salted: map[string][]byte{}}
}

// Password is user's password on the broker:
// hex(HMAC-SHA256(secret, "kafka-port/"+user)).
func (c *Credentials) Password(user string) string {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("kafka-port/" + user))
	return hex.EncodeToString(m.Sum(nil))
}

// SCRAM512 is user's SCRAM-SHA-512 credential on the broker: Password
// salted with a salt derived the same way, so that provisioning it again
// changes nothing.
func (c *Credentials) SCRAM512(user string) (iterations int32, salt, saltedPassword []byte) {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("kafka-port-salt/" + user))
	salt = m.Sum(nil)[:24]
	c.mu.Lock()
	sp, ok := c.salted[user]
	c.mu.Unlock()
	if !ok {
		sp = saltPassword(SCRAMSHA512, c.Password(user), salt, defaultIterations)
		c.mu.Lock()
		if len(c.salted) < maxCachedCredentials {
			c.salted[user] = sp
		}
		c.mu.Unlock()
	}
	return defaultIterations, salt, sp
}

// brokerLogin is the guard's own SASL login to the broker on a client's
// connection: a SaslHandshake v1, then SaslAuthenticate v1 requests, with
// the guard's correlation ids. Each request is handed to the broker as if
// the client had sent it; the broker's responses come back through the
// connection's Write, which passes them here instead of to the client.
type brokerLogin struct {
	mech sasl.Mechanism
	sess sasl.Session
	fmt  *kmsg.RequestFormatter
	corr int32
	auth bool // the handshake was answered
}

func newBrokerLogin(mechanism, user, password string) (*brokerLogin, error) {
	var m sasl.Mechanism
	switch mechanism {
	case Plain:
		m = plain.Auth{User: user, Pass: password}.AsMechanism()
	case SCRAMSHA256:
		m = scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
	case SCRAMSHA512:
		m = scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
	default:
		return nil, fmt.Errorf("no broker login with SASL mechanism %q", mechanism)
	}
	return &brokerLogin{mech: m, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("kgate-kafka-port"))}, nil
}

// start returns the first request frame.
func (l *brokerLogin) start() []byte {
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version = 1
	req.Mechanism = l.mech.Name()
	return l.request(req)
}

func (l *brokerLogin) request(req kmsg.Request) []byte {
	l.corr++
	return l.fmt.AppendRequest(nil, req, l.corr)
}

// next takes the broker's response frame and returns the next request
// frame, or done once the broker accepted the login.
func (l *brokerLogin) next(ctx context.Context, frame []byte) (req []byte, done bool, err error) {
	if got := responseCorr(frame); got != l.corr {
		return nil, false, fmt.Errorf("broker answered correlation id %d, want %d", got, l.corr)
	}
	if !l.auth {
		resp := kmsg.NewPtrSASLHandshakeResponse()
		resp.Version = 1
		if err := readResponse(frame, resp); err != nil {
			return nil, false, fmt.Errorf("reading the broker's SaslHandshake response: %w", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, false, fmt.Errorf("broker SaslHandshake %s: %w", l.mech.Name(), err)
		}
		l.auth = true
		sess, first, err := l.mech.Authenticate(ctx, "kgate-embedded")
		if err != nil {
			return nil, false, err
		}
		l.sess = sess
		return l.authenticate(first), false, nil
	}
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = 1
	if err := readResponse(frame, resp); err != nil {
		return nil, false, fmt.Errorf("reading the broker's SaslAuthenticate response: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, false, fmt.Errorf("broker SaslAuthenticate: %w", err)
	}
	done, msg, err := l.sess.Challenge(resp.SASLAuthBytes)
	if err != nil {
		return nil, false, fmt.Errorf("broker SaslAuthenticate: %w", err)
	}
	if done {
		return nil, true, nil
	}
	return l.authenticate(msg), false, nil
}

func (l *brokerLogin) authenticate(msg []byte) []byte {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version = 1
	req.SASLAuthBytes = msg
	return l.request(req)
}
