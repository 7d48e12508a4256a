package kafkaport

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// scramSession is the server side of SCRAM-SHA-256 or SCRAM-SHA-512
// (RFC 5802) as Kafka's ScramSaslServer runs it: no channel binding, and
// the client-final nonce must end with the server's nonce (Kafka checks
// endsWith, and librdkafka 2.0.x, Debian's, repeats the client nonce in
// front of it; github.com/xdg-go/scram requires equality, which is why
// this is not built on it). It verifies against the users file's salted
// credentials, or kgate's own for its superuser.
//
// An unknown user, and a user without salted credentials for the
// mechanism, get a server-first message with a salt derived from a
// secret and the name (stable across restarts, like a real one) and fail
// at the final step like a wrong password, with the same message: the
// exchange does not tell which users exist. The message says how salted
// credentials are added, since that is the other cause of the failure;
// the audit record says which it was.
type scramSession struct {
	g    *Guard
	c    Conn
	mech string

	user        string
	gs2         string // the client-first's GS2 header
	bare        string // client-first-message-bare
	serverFirst string
	nonce       string // the server's nonce (the client's and its own)
	storedKey   []byte
	serverKey   []byte
	missing     string // why the credential is a stand-in ("" when real)
	step        int
}

func (g *Guard) newSCRAM(mech string) NewSession {
	return func(c Conn) Session { return &scramSession{g: g, c: c, mech: mech} }
}

// scramCredential is a salted SCRAM password.
type scramCredential struct {
	iterations   int
	salt, salted []byte
}

func (s *scramSession) hash() func() hash.Hash {
	if s.mech == SCRAMSHA512 {
		return sha512.New
	}
	return sha256.New
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (s *scramSession) User() string { return s.user }

func (s *scramSession) Step(_ context.Context, msg []byte) ([]byte, bool, error) {
	s.step++
	switch s.step {
	case 1:
		return s.first(string(msg))
	case 2:
		return s.final(string(msg))
	}
	return nil, false, BadCredentials(s.user, "SCRAM message after the exchange ended")
}

// first reads client-first-message = gs2-header client-first-message-bare,
// gs2-header = ("n" / "y") "," [ "a=" authzid ] ",".
func (s *scramSession) first(m string) ([]byte, bool, error) {
	malformed := func(why string) ([]byte, bool, error) {
		return nil, false, BadCredentials(s.user, "malformed SCRAM client-first message: "+why)
	}
	flag, rest, ok := strings.Cut(m, ",")
	if !ok || flag != "n" && flag != "y" {
		return malformed("channel binding is not supported")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return malformed("no GS2 header")
	}
	s.gs2, s.bare = flag+","+authz+",", bare
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") || len(attrs[1]) < 3 {
		return malformed("want n=user,r=nonce")
	}
	user, ok := decodeSASLName(attrs[0][2:])
	if !ok || user == "" {
		return malformed("bad user name encoding")
	}
	s.user = user
	for _, ext := range attrs[2:] {
		if strings.HasPrefix(ext, "tokenauth=") { // Kafka's delegation tokens
			return nil, false, &Failure{Class: ClassBadCredentials, User: user, Detail: "delegation tokens are not supported", Cause: "SCRAM tokenauth extension"}
		}
	}
	if authz != "" {
		a, ok := decodeSASLName(strings.TrimPrefix(authz, "a="))
		if !strings.HasPrefix(authz, "a=") || !ok || a != user {
			return nil, false, &Failure{Class: ClassBadCredentials, User: user,
				Detail: "the authorization id must be empty or the user name", Cause: "SCRAM authzid differs from the user"}
		}
	}
	if err := s.c.Claim(user); err != nil {
		return nil, false, err
	}
	c, missing := s.g.scramCredential(user, s.mech)
	s.missing = missing
	h := s.hash()
	if missing != "" { // a stand-in no password matches: random keys
		s.storedKey, s.serverKey = make([]byte, h().Size()), make([]byte, h().Size())
		_, _ = rand.Read(s.storedKey)
		_, _ = rand.Read(s.serverKey)
	} else {
		sum := h()
		sum.Write(mac(h, c.salted, "Client Key"))
		s.storedKey = sum.Sum(nil)
		s.serverKey = mac(h, c.salted, "Server Key")
	}
	var nonce [24]byte
	_, _ = rand.Read(nonce[:])
	// Hex: librdkafka garbles nonces holding some punctuation.
	s.nonce = attrs[1][2:] + hex.EncodeToString(nonce[:])
	s.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, base64.StdEncoding.EncodeToString(c.salt), c.iterations)
	return []byte(s.serverFirst), false, nil
}

// final reads client-final-message = "c=" cbind "," "r=" nonce ["," ext] "," "p=" proof.
func (s *scramSession) final(m string) ([]byte, bool, error) {
	bad := func(cause string) ([]byte, bool, error) {
		if s.missing != "" {
			cause = s.missing
		}
		return nil, false, &Failure{Class: ClassBadCredentials, User: s.user, Cause: cause,
			Detail: fmt.Sprintf("wrong user name or password, or no %s credentials for the user in the users file (add them with `kgate passwd --user NAME --scram`)", s.mech)}
	}
	i := strings.LastIndex(m, ",p=")
	if i < 0 {
		return bad("malformed SCRAM client-final message: no proof")
	}
	withoutProof, proof64 := m[:i], m[i+3:]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(s.gs2)) {
		return bad("malformed SCRAM client-final message: channel binding differs from the GS2 header")
	}
	if !strings.HasPrefix(attrs[1], "r=") || !strings.HasSuffix(attrs[1][2:], s.nonce) {
		return bad("SCRAM client-final nonce does not end with the server's")
	}
	proof, err := base64.StdEncoding.DecodeString(proof64)
	h := s.hash()
	if err != nil || len(proof) != h().Size() {
		return bad("malformed SCRAM client proof")
	}
	authMessage := s.bare + "," + s.serverFirst + "," + withoutProof
	sig := mac(h, s.storedKey, authMessage)
	for j := range proof {
		proof[j] ^= sig[j] // now the client key
	}
	sum := h()
	sum.Write(proof)
	if subtle.ConstantTimeCompare(sum.Sum(nil), s.storedKey) != 1 || s.missing != "" {
		return bad("wrong password")
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(h, s.serverKey, authMessage))), true, nil
}

// decodeSASLName undoes SCRAM's saslname escaping ("=2C" for ",", "=3D"
// for "="); any other "=" is malformed.
func decodeSASLName(n string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		switch {
		case n[i] == ',':
			return "", false
		case n[i] != '=':
			b.WriteByte(n[i])
		case strings.HasPrefix(n[i:], "=2C"):
			b.WriteByte(',')
			i += 2
		case strings.HasPrefix(n[i:], "=3D"):
			b.WriteByte('=')
			i += 2
		default:
			return "", false
		}
	}
	return b.String(), true
}

// scramCredential returns user's salted credential for mech: kgate's own
// for the superuser, the users file's otherwise. When there is none it
// returns a stand-in (a salt derived from the name) and why.
func (g *Guard) scramCredential(user, mech string) (scramCredential, string) {
	if user == g.o.Superuser {
		return g.superSCRAM[mech], ""
	}
	if pol := g.policy(); pol != nil {
		if iter, salt, salted, ok := pol.SCRAMCredential(user, mech); ok {
			return scramCredential{iterations: iter, salt: salt, salted: salted}, ""
		}
		if pol.KnownUser(user) {
			return g.standIn(user, mech), "no " + mech + " credentials in the users file"
		}
	}
	return g.standIn(user, mech), "unknown user"
}

// standIn is the credential shown for a user without one: the salt is
// derived from the guard's secret and the name, so that it is the same
// at every attempt and after restarts, like a real salt.
func (g *Guard) standIn(user, mech string) scramCredential {
	m := hmac.New(sha256.New, g.fakeKey[:])
	m.Write([]byte(mech + "\x00" + user))
	return scramCredential{iterations: defaultIterations, salt: m.Sum(nil)[:24]}
}

// defaultIterations is `kgate passwd --scram`'s default, so that a
// stand-in looks like most real credentials.
const defaultIterations = 4096

// saltPassword salts password as SCRAM does (PBKDF2 with HMAC of the
// mechanism's hash).
func saltPassword(mech, password string, salt []byte, iterations int) []byte {
	h, size := sha256.New, sha256.Size
	if mech == SCRAMSHA512 {
		h, size = sha512.New, sha512.Size
	}
	k, err := pbkdf2.Key(h, password, salt, iterations, size)
	if err != nil {
		panic(err) // only for parameters out of FIPS bounds, which these are not
	}
	return k
}
