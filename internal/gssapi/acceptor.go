package gssapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// DefaultClockSkew is the clock difference allowed between client, KDC
// and kgate when ClockSkew is 0 (MIT's and the JDK's default).
const DefaultClockSkew = 5 * time.Minute

// Config configures an Acceptor.
type Config struct {
	// Keytab is the path of the keytab holding the service principal's
	// keys (kadmin ktadd, or ktutil).
	Keytab string
	// ServicePrincipal is the service's principal with its realm, such
	// as kafka/localhost@KGATE.TEST; clients get tickets for
	// <sasl.kerberos.service.name>/<the host they connect to>.
	ServicePrincipal string
	// Rules are Kafka's sasl.kerberos.principal.to.local.rules, one
	// rule per item (see Mapper); empty means DEFAULT for the service
	// principal's realm.
	Rules []string
	// ClockSkew is the clock difference allowed (0: DefaultClockSkew).
	ClockSkew time.Duration
	// Now is the clock tickets and authenticators are checked against
	// (nil: time.Now). Tests set it.
	Now func() time.Time
}

// Acceptor verifies GSSAPI logins for one service principal. It is safe
// for concurrent use; Reload may run while sessions step.
type Acceptor struct {
	service Principal
	sname   types.PrincipalName
	mapper  *Mapper
	skew    time.Duration
	now     func() time.Time
	path    string

	keytab atomic.Pointer[keytab.Keytab]
	replay replayCache
}

// New loads the keytab and parses the rules. It fails when the service
// principal is malformed, the keytab cannot be read or holds no key of
// the service principal, or a rule is invalid.
func New(c Config) (*Acceptor, error) {
	svc, err := ParsePrincipal(c.ServicePrincipal)
	if err != nil {
		return nil, fmt.Errorf("service principal: %w", err)
	}
	m, err := NewMapper(svc.Realm, c.Rules)
	if err != nil {
		return nil, fmt.Errorf("principal-to-local rules: %w", err)
	}
	a := &Acceptor{
		service: svc,
		sname:   types.PrincipalName{NameType: 1, NameString: svc.Components},
		mapper:  m,
		skew:    c.ClockSkew,
		now:     c.Now,
		path:    c.Keytab,
	}
	if a.skew <= 0 {
		a.skew = DefaultClockSkew
	}
	if a.now == nil {
		a.now = time.Now
	}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the keytab again (after a key rotation). On an error the
// keys loaded before stay in use.
func (a *Acceptor) Reload() error {
	kt, err := keytab.Load(a.path)
	if err != nil {
		return fmt.Errorf("loading keytab %s: %w", a.path, err)
	}
	has := false
	for _, e := range kt.Entries {
		has = has || e.Principal.Realm == a.service.Realm && slices.Equal(e.Principal.Components, a.service.Components)
	}
	if !has {
		return fmt.Errorf("keytab %s holds no key of %s", a.path, a.service)
	}
	a.keytab.Store(kt)
	return nil
}

// ServicePrincipal returns the service principal the acceptor verifies
// tickets for.
func (a *Acceptor) ServicePrincipal() Principal { return a.service }

// Start begins the exchange of one connection from remote (the client's
// address, checked against tickets bound to addresses; the zero Addr
// refuses those).
func (a *Acceptor) Start(remote netip.Addr) *Session {
	return &Session{a: a, remote: remote}
}

// Session is one connection's GSSAPI exchange. It is not safe for
// concurrent use: the guard steps it from the connection's goroutine.
type Session struct {
	a      *Acceptor
	remote netip.Addr
	step   step

	key       types.EncryptionKey // protects the wrap tokens
	seq       uint32              // the acceptor's sequence number
	principal Principal
	user      string
	expires   time.Time
}

type step int

const (
	stepInitial  step = iota // awaiting the initial context token
	stepAfterRep             // AP-REP sent, awaiting an empty message
	stepAnswer               // offer sent, awaiting the answer
	stepDone
	stepFailed
)

// Step processes the client's next message and returns what to send
// back. done is true once the client is authenticated (User, Principal
// and Expires are then set); reply is then empty and, with Kafka's
// SaslAuthenticate, goes out as an empty auth_bytes. An error refuses
// the login (an *Error) and ends the session: later steps fail too.
func (s *Session) Step(ctx context.Context, msg []byte) (reply []byte, done bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	defer func() {
		// gokrb5's decoders are not written for hostile input; a panic
		// in them is a refusal of this login, not of the process.
		if p := recover(); p != nil {
			reply, done, err = nil, false, refuse(ReasonBadToken, "malformed token")
		}
		if err != nil {
			s.step = stepFailed
		}
	}()
	switch s.step {
	case stepInitial:
		reply, e := s.initial(msg)
		if e != nil {
			return nil, false, e
		}
		return reply, false, nil
	case stepAfterRep:
		if len(msg) != 0 {
			return nil, false, refuse(ReasonBadToken, "expected an empty message after the AP-REP, got %d bytes", len(msg))
		}
		offer, err := newOffer(s.key, s.seq)
		if err != nil {
			return nil, false, &Error{Reason: ReasonBadToken, Err: err}
		}
		s.step = stepAnswer
		return offer, false, nil
	case stepAnswer:
		if e := s.answer(msg); e != nil {
			return nil, false, e
		}
		s.step = stepDone
		return nil, true, nil
	default:
		return nil, false, refuse(ReasonState, "the exchange is over")
	}
}

// User returns the kgate user the principal maps to, once done.
func (s *Session) User() string {
	if s.step != stepDone {
		return ""
	}
	return s.user
}

// Principal returns the client's full Kerberos principal, such as
// alice@KGATE.TEST, once done.
func (s *Session) Principal() string {
	if s.step != stepDone {
		return ""
	}
	return s.principal.String()
}

// Expires returns the end time of the client's ticket, once done: the
// guard closes the connection then (or asks for re-authentication).
func (s *Session) Expires() time.Time {
	if s.step != stepDone {
		return time.Time{}
	}
	return s.expires
}

func (s *Session) initial(msg []byte) ([]byte, *Error) {
	tk, e := s.a.verifyInitial(s.remote, msg)
	if e != nil {
		return nil, e
	}
	// RFC 4121 section 2: with no acceptor subkey (we assert none), the
	// initiator's subkey protects the wrap tokens, else the session key.
	s.key = tk.sessionKey
	if len(tk.auth.SubKey.KeyValue) > 0 {
		if _, err := crypto.GetEtype(tk.auth.SubKey.KeyType); err != nil {
			return nil, refuse(ReasonBadToken, "authenticator subkey of unsupported type %d", tk.auth.SubKey.KeyType)
		}
		s.key = tk.auth.SubKey
	}
	s.principal, s.user, s.expires = tk.client, tk.user, tk.expires

	if !tk.mutual {
		// Without an AP-REP the acceptor's sequence numbers start at the
		// initiator's (RFC 1964 section 1.2.1.1 as MIT does it).
		s.seq = uint32(tk.auth.SeqNumber)
		offer, err := newOffer(s.key, s.seq)
		if err != nil {
			return nil, &Error{Reason: ReasonBadToken, Err: err}
		}
		s.step = stepAnswer
		return offer, nil
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s.seq = binary.BigEndian.Uint32(b[:]) & 0x3fffffff
	rep, err := newAPRep(tk.auth, tk.sessionKey, s.seq)
	if err != nil {
		return nil, &Error{Reason: ReasonBadToken, Err: err}
	}
	s.step = stepAfterRep
	return rep, nil
}

// ticket is a verified initial context token.
type ticket struct {
	auth       types.Authenticator
	sessionKey types.EncryptionKey // the ticket's
	client     Principal
	user       string
	expires    time.Time
	mutual     bool // the client asked for an AP-REP
}

// verifyInitial checks an initial context token (an RFC 2743 framed
// KRB_AP_REQ) from remote: the ticket with the keytab, its times and
// addresses, the authenticator with the session key, the mapping of the
// client to a kgate user, and that the authenticator was not seen
// before.
func (a *Acceptor) verifyInitial(remote netip.Addr, msg []byte) (*ticket, *Error) {
	if len(msg) > maxInitialToken {
		return nil, refuse(ReasonBadToken, "initial token of %d bytes (at most %d)", len(msg), maxInitialToken)
	}
	inner, err := parseInitialToken(msg)
	if err != nil {
		return nil, &Error{Reason: ReasonBadToken, Err: err}
	}
	req, e := parseAPReq(inner)
	if e != nil {
		return nil, e
	}
	tkt := &req.Ticket
	if tkt.Realm != a.service.Realm || !slices.Equal(tkt.SName.NameString, a.service.Components) {
		return nil, refuse(ReasonWrongService, "ticket is for %s, not %s", Principal{Components: tkt.SName.NameString, Realm: tkt.Realm}, a.service)
	}
	if types.IsFlagSet(&req.APOptions, flags.APOptionUseSessionKey) {
		return nil, refuse(ReasonBadToken, "user-to-user tickets are not supported")
	}
	key, _, err := a.keytab.Load().GetEncryptionKey(a.sname, a.service.Realm, tkt.EncPart.KVNO, tkt.EncPart.EType)
	if err != nil {
		return nil, refuse(ReasonNoKey, "keytab holds no key of %s with version %d and encryption type %d", a.service, tkt.EncPart.KVNO, tkt.EncPart.EType)
	}
	if err := tkt.Decrypt(key); err != nil {
		return nil, refuse(ReasonNoKey, "ticket does not decrypt with the keytab's key of version %d", tkt.EncPart.KVNO)
	}
	enc := &tkt.DecryptedEncPart
	now := a.now().UTC()
	start := enc.StartTime
	if start.IsZero() {
		start = enc.AuthTime // RFC 4120 section 5.3: no starttime, valid from authtime
	}
	if start.Sub(now) > a.skew || types.IsFlagSet(&enc.Flags, flags.Invalid) {
		return nil, refuse(ReasonNotYetValid, "ticket is valid from %s", start.Format(time.RFC3339))
	}
	if now.Sub(enc.EndTime) > a.skew {
		return nil, refuse(ReasonExpired, "ticket expired at %s", enc.EndTime.Format(time.RFC3339))
	}
	if len(enc.CAddr) > 0 {
		if !remote.IsValid() || !types.HostAddressesContains(enc.CAddr, types.HostAddressFromNetIP(net.IP(remote.Unmap().AsSlice()))) {
			return nil, refuse(ReasonAddress, "ticket is bound to addresses %s is not one of", remote)
		}
	}
	if err := req.DecryptAuthenticator(enc.Key); err != nil {
		return nil, refuse(ReasonIntegrity, "authenticator does not decrypt with the ticket's session key")
	}
	auth := req.Authenticator
	if auth.CRealm != enc.CRealm || !slices.Equal(auth.CName.NameString, enc.CName.NameString) {
		return nil, refuse(ReasonBadToken, "authenticator names another client than the ticket")
	}
	ct := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := now.Sub(ct); d > a.skew || -d > a.skew {
		return nil, refuse(ReasonClockSkew, "authenticator time %s is more than %s from ours", ct.Format(time.RFC3339), a.skew)
	}
	gf, err := gssFlags(auth)
	if err != nil {
		return nil, &Error{Reason: ReasonBadToken, Err: err}
	}
	client := Principal{Components: slices.Clone(enc.CName.NameString), Realm: enc.CRealm}
	if len(client.Components) == 0 || slices.Contains(client.Components, "") || client.Realm == "" {
		return nil, refuse(ReasonBadToken, "ticket names no client")
	}
	user, err := a.mapper.Map(client)
	if err != nil {
		if errors.Is(err, ErrNoRule) && client.Realm != a.service.Realm {
			return nil, &Error{Reason: ReasonForeignRealm, Err: err}
		}
		return nil, &Error{Reason: ReasonNoMapping, Err: err}
	}
	// Last, so that a refused token does not take a place in the cache.
	if a.replay.seen(req.EncryptedAuthenticator.Cipher, ct.Add(a.skew), now) {
		return nil, refuse(ReasonReplay, "authenticator of %s seen before", client)
	}
	return &ticket{auth: auth, sessionKey: enc.Key, client: client, user: user, expires: enc.EndTime,
		mutual: gf&flagMutual != 0 || types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired)}, nil
}

// answer checks the client's choice of security layer and its
// authorization id.
func (s *Session) answer(msg []byte) *Error {
	payload, e := openAnswer(msg, s.key)
	if e != nil {
		return e
	}
	if len(payload) < 4 {
		return refuse(ReasonBadToken, "security-layer answer of %d bytes, want at least 4", len(payload))
	}
	if payload[0] != layerNone {
		return refuse(ReasonSecurityLayer, "client chose security layers %#02x; only 1 (none) is offered", payload[0])
	}
	authz := payload[4:]
	if len(authz) > maxAuthzID || !utf8.Valid(authz) {
		return refuse(ReasonSecurityLayer, "authorization id is not a principal name")
	}
	if z := string(authz); z != "" && z != s.principal.String() && z != s.user {
		return refuse(ReasonSecurityLayer, "%s asked to act as %q", s.principal, z)
	}
	return nil
}

// replayCache remembers authenticators (by a hash of their ciphertext)
// until the clock skew has passed them, when the authenticator's own
// time check refuses them anyway. It is bounded: beyond maxReplay
// entries the oldest are forgotten early.
type replayCache struct {
	mu    sync.Mutex
	seenM map[[32]byte]struct{}
	queue []replayEntry // in insertion order; expiries roughly ascending
}

type replayEntry struct {
	sum     [32]byte
	expires time.Time
}

const maxReplay = 1 << 18

// seen reports whether cipher was seen before, and remembers it until
// expires.
func (c *replayCache) seen(cipher []byte, expires, now time.Time) bool {
	sum := sha256.Sum256(cipher)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seenM == nil {
		c.seenM = make(map[[32]byte]struct{})
	}
	for len(c.queue) > 0 && (c.queue[0].expires.Before(now) || len(c.queue) >= maxReplay) {
		delete(c.seenM, c.queue[0].sum)
		c.queue = c.queue[1:]
	}
	if _, ok := c.seenM[sum]; ok {
		return true
	}
	c.seenM[sum] = struct{}{}
	c.queue = append(c.queue, replayEntry{sum: sum, expires: expires})
	return false
}
