package auth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/ratelimit"
)

// ClientAllowed reports whether user may connect from ip: every entry that
// applies to the user (its own, its groups', "*") and lists cidrs must
// contain ip. Users without such entries may connect from anywhere.
func (p *Policy) ClientAllowed(user string, ip netip.Addr) bool {
	if p.open {
		return true
	}
	var groups []string
	if u := p.users.Lookup(user); u != nil {
		groups = u.Groups
	}
	for _, e := range p.perms.applicable(user, groups, true) {
		if e.cidrs != nil && !inAny(ip, e.cidrs) {
			return false
		}
	}
	return true
}

// KafkaGuardOptions configure NewKafkaGuard.
type KafkaGuardOptions struct {
	// Superuser is kgate's own user on the broker: admitted before the
	// policy is known, never checked against it nor counted against the
	// connection caps (the broker still verifies its password, and the
	// failure limits apply to it as to anyone unless
	// SuperuserUnguessable).
	Superuser string
	// SuperuserUnguessable exempts the superuser from the failure limits
	// (its failures are still audited): set when kgate generated its
	// password (256 random bits), so that nobody sharing kgate's address
	// can lock kgate out of its own broker by failing as it.
	SuperuserUnguessable bool
	// FailuresPerSecond and FailureBurst bound failed logins per client
	// address (auth.failures_per_second, as over HTTP).
	FailuresPerSecond float64
	FailureBurst      int
	// UserFailuresPerSecond and UserFailureBurst bound failed logins per
	// known user from any address. A user's logins from an address it
	// logged in from lately are exempt from both this and the address's
	// limit, and bounded instead by the same per-address rate for that
	// pair alone: guessing from elsewhere cannot lock a user out of the
	// places it works from.
	UserFailuresPerSecond float64
	UserFailureBurst      int
	// MaxConnections bounds the node's authenticated client connections
	// and MaxConnectionsPerUser one user's. Unauthenticated connections
	// are bounded on their own: pendingPerAddress from one address,
	// max(MaxConnections, pendingNode) on the node, each for at most
	// AuthTimeout.
	MaxConnections        int
	MaxConnectionsPerUser int
	// AuthTimeout is how long a connection may take to authenticate
	// before it is closed (default 10s).
	AuthTimeout time.Duration
	Logger      *slog.Logger
}

// PolicySource is what the guard follows: the policy in force and its
// changes (an *auth.Service).
type PolicySource interface {
	Policy() *Policy
	Changed() <-chan struct{}
	Generation() uint64
}

// KafkaGuard guards the embedded broker's Kafka port, where the broker
// itself checks passwords (SASL) and ACLs. Until a connection has
// authenticated, the guard reads the frames passing by in both
// directions (never more than a few small ones) and
//
//   - limits failed logins per client address and per user: over the
//     limit, a login is answered SASL_AUTHENTICATION_FAILED by the guard
//     before the broker sees it, and every failure and refusal is
//     audited (without the password);
//   - refuses users the permissions' client CIDRs do not allow from the
//     connection's address (Kafka ACL hosts are single addresses);
//   - caps connections per user, per unauthenticated address and on the
//     node;
//   - closes connections that do not authenticate within AuthTimeout.
//
// After that the connection passes untouched, but the guard keeps it in
// a list: when the policy changes (a reload), connections of users who
// were deleted, whose SCRAM credentials changed or who are no longer
// allowed from their address are closed (the ACLs the broker enforces on
// each request follow reloads on their own; see SyncBroker). The broker
// does not offer re-authentication (connections.max.reauth.ms is unset),
// so a connection's user cannot change once it passes.
//
// Its methods are safe for concurrent use.
type KafkaGuard struct {
	o            KafkaGuardOptions
	logger       *slog.Logger
	addrFailures *ratelimit.Keyed
	userFailures *ratelimit.Keyed
	pairFailures *ratelimit.Keyed // user from an address it logged in from lately
	pending      *ratelimit.Slots // not yet authenticated, by address
	authed       *ratelimit.Slots // authenticated, by user
	deps         atomic.Pointer[guardDeps]

	// mu guards the fields below.
	mu    sync.Mutex
	conns map[*guardConn]struct{} // authenticated connections
	good  map[goodKey]time.Time   // last login of a user from an address
}

type guardDeps struct {
	src   PolicySource
	audit *audit.Log
}

type goodKey struct {
	user string
	ip   netip.Addr
}

// How long a login keeps its address exempt from the user's and the
// address's failure limits, and how many such pairs are remembered.
const (
	goodFor   = 24 * time.Hour
	goodLimit = 100000
)

// Bounds on unauthenticated connections (see MaxConnections): generous,
// since a login takes milliseconds, so that kgate's own connections and
// clients behind one proxy are not refused, yet one address cannot take
// the node's allowance.
const (
	pendingPerAddress = 64
	pendingNode       = 256
)

// NewKafkaGuard returns a guard admitting only o.Superuser until Admit.
func NewKafkaGuard(o KafkaGuardOptions) *KafkaGuard {
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 10 * time.Second
	}
	g := &KafkaGuard{
		o:            o,
		logger:       o.Logger,
		addrFailures: ratelimit.NewKeyed(o.FailuresPerSecond, o.FailureBurst),
		userFailures: ratelimit.NewKeyed(o.UserFailuresPerSecond, o.UserFailureBurst),
		pairFailures: ratelimit.NewKeyed(o.FailuresPerSecond, o.FailureBurst),
		pending:      ratelimit.NewSlots("unauthenticated Kafka-port connections", max(o.MaxConnections, pendingNode)),
		authed:       ratelimit.NewSlots("Kafka-port connections", o.MaxConnections),
		conns:        map[*guardConn]struct{}{},
		good:         map[goodKey]time.Time{},
	}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	g.logger = g.logger.With("component", "kafka_port")
	return g
}

// Admit starts admitting other users by src's policy, recording failures
// and refusals in a. The broker starts before the policy can be loaded
// (the token store lives on it), which is why this comes later.
func (g *KafkaGuard) Admit(src PolicySource, a *audit.Log) {
	g.deps.Store(&guardDeps{src: src, audit: a})
}

// Run closes the connections of users whose standing changed, at every
// change of the policy, until ctx is done; it also forgets idle failure
// counters. It returns at once when nothing was admitted.
func (g *KafkaGuard) Run(ctx context.Context) error {
	d := g.deps.Load()
	if d == nil {
		return nil
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		changed := d.src.Changed()
		g.recheck(d)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case now := <-t.C:
			g.sweep(now)
		}
	}
}

func (g *KafkaGuard) sweep(now time.Time) {
	g.addrFailures.Sweep(10 * time.Minute)
	g.userFailures.Sweep(10 * time.Minute)
	g.pairFailures.Sweep(10 * time.Minute)
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, at := range g.good {
		if now.Sub(at) > goodFor {
			delete(g.good, k)
		}
	}
}

// recheck closes the authenticated connections that no longer stand.
func (g *KafkaGuard) recheck(d *guardDeps) {
	pol := d.src.Policy()
	g.mu.Lock()
	var gone []*guardConn
	var why []string
	for c := range g.conns {
		if reason := g.standing(pol, c); reason != "" {
			gone = append(gone, c)
			why = append(why, reason)
		}
	}
	g.mu.Unlock()
	for i, c := range gone {
		g.disconnect(d, c, why[i])
	}
}

// standing returns why c's user may no longer hold c, or "".
func (g *KafkaGuard) standing(pol *Policy, c *guardConn) string {
	if c.user == g.o.Superuser {
		return ""
	}
	u := pol.users.Lookup(c.user)
	switch {
	case u == nil:
		return "the user no longer exists"
	case kafkaCredential(u, c.mechanism) != c.credential:
		return "the user's Kafka-port credentials changed"
	case !pol.ClientAllowed(c.user, c.ip):
		return "client address no longer allowed"
	}
	return ""
}

func (g *KafkaGuard) disconnect(d *guardDeps, c *guardConn, reason string) {
	g.record(d, audit.Record{Event: audit.Disconnect, Principal: c.user, ClientIP: c.ip.String(),
		Reason: "Kafka-port connection closed: " + reason})
	c.Close()
}

// record audits r (the Kafka port's method) or, before Admit, logs it.
func (g *KafkaGuard) record(d *guardDeps, r audit.Record) {
	r.AuthMethod = string(MethodKafkaSASL)
	if d != nil && d.audit != nil {
		d.audit.Write(context.Background(), r)
		return
	}
	g.logger.Warn("kafka port", "event", r.Event, "principal", r.Principal, "client_ip", r.ClientIP, "reason", r.Reason)
}

// known returns user when it is a user of the policy or the superuser,
// else audit.UnknownPrincipal (an attempted name may be a password).
func (g *KafkaGuard) known(d *guardDeps, user string) string {
	if user != "" && (user == g.o.Superuser || d != nil && d.src.Policy().users.Lookup(user) != nil) {
		return user
	}
	return audit.UnknownPrincipal
}

// failed counts and audits a failed login.
func (g *KafkaGuard) failed(user string, ip netip.Addr, reason string) {
	d := g.deps.Load()
	g.addrFailures.Take(ip.String())
	name := g.known(d, user)
	if name != audit.UnknownPrincipal {
		g.userFailures.Take(name)
		g.pairFailures.Take(name + "|" + ip.String())
	}
	g.record(d, audit.Record{Event: audit.AuthFailure, Principal: name, ClientIP: ip.String(), Reason: reason + " (Kafka port)"})
}

// portRefusal says why a login must not reach the broker: the message for
// the client and the audit record; nil admits it.
type portRefusal struct {
	msg    string
	record audit.Record
}

// admit decides on the first SaslAuthenticate of a connection (the one
// naming the user), before the broker sees it.
func (g *KafkaGuard) admit(user string, ip netip.Addr) *portRefusal {
	d := g.deps.Load()
	name := g.known(d, user)
	rec := func(event, reason string) audit.Record {
		return audit.Record{Event: event, Principal: name, ClientIP: ip.String(), Reason: reason + " (Kafka port)"}
	}
	tooMany := func(wait time.Duration, reason string) *portRefusal {
		secs := int64(math.Ceil(wait.Seconds()))
		return &portRefusal{msg: fmt.Sprintf("SASL authentication refused: too many failed authentications; retry in %d seconds.", max(secs, 1)),
			record: rec(audit.AuthFailure, reason)}
	}
	switch {
	case user == g.o.Superuser && g.o.SuperuserUnguessable:
	case name != audit.UnknownPrincipal && g.goodAddress(name, ip):
		if over, wait := g.pairFailures.Exhausted(name + "|" + ip.String()); over {
			return tooMany(wait, "too many failed authentications for this user from this address")
		}
	default:
		if over, wait := g.addrFailures.Exhausted(ip.String()); over {
			return tooMany(wait, "too many failed authentications from this address")
		}
		if name != audit.UnknownPrincipal {
			if over, wait := g.userFailures.Exhausted(name); over {
				return tooMany(wait, "too many failed authentications for this user")
			}
		}
	}
	if user == g.o.Superuser {
		return nil
	}
	if d == nil {
		return &portRefusal{msg: "SASL authentication refused: the gateway is starting; retry.", record: rec(audit.Denied, "the gateway is starting")}
	}
	if user != "" && !d.src.Policy().ClientAllowed(user, ip) {
		return &portRefusal{msg: "SASL authentication refused for this user from this address.",
			record: rec(audit.Denied, "client address not in the allowed CIDRs")}
	}
	return nil
}

func (g *KafkaGuard) goodAddress(user string, ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.good[goodKey{user, ip}]
	return ok && time.Since(at) < goodFor
}

// authenticated takes c's slot as an authenticated connection of its
// user and lists it; it returns the refusal message when the user or the
// node has no slot left.
func (g *KafkaGuard) authenticated(c *guardConn) (string, bool) {
	d := g.deps.Load()
	if c.user != g.o.Superuser {
		release, ex := g.authed.Acquire(c.user, g.o.MaxConnectionsPerUser)
		if ex != nil {
			g.record(d, audit.Record{Event: audit.Denied, Principal: g.known(d, c.user), ClientIP: c.ip.String(),
				Reason: ex.Message + " (Kafka port)"})
			return "SASL authentication refused: " + ex.Message, false
		}
		if !c.authedSlot(release) {
			return "", true // closed meanwhile
		}
	}
	g.mu.Lock()
	g.conns[c] = struct{}{}
	if len(g.good) < goodLimit {
		g.good[goodKey{c.user, c.ip}] = time.Now()
	}
	g.mu.Unlock()
	if c.isClosed() { // Close may have missed the listing
		g.forget(c)
		return "", true
	}
	// The policy may have changed between the login and now: Run's
	// recheck did not see this connection then.
	if d != nil && d.src.Generation() != c.generation {
		if reason := g.standing(d.src.Policy(), c); reason != "" {
			go g.disconnect(d, c, reason)
		}
	}
	return "", true
}

func (g *KafkaGuard) forget(c *guardConn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

// kafkaCredential fingerprints the SCRAM credential of u for mechanism,
// so that a connection authenticated with an older one can be told
// apart.
func kafkaCredential(u *User, mechanism string) string {
	var c *SCRAMCredential
	switch mechanism {
	case "SCRAM-SHA-256":
		c = u.SCRAM256
	case "SCRAM-SHA-512":
		c = u.SCRAM512
	}
	if c == nil {
		return ""
	}
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(c.Iterations)))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(c.Salt))))
	h.Write(c.Salt)
	h.Write(c.SaltedPassword)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Listener wraps the broker's Kafka listener with the guard.
func (g *KafkaGuard) Listener(ln net.Listener) net.Listener {
	return &guardListener{Listener: ln, g: g}
}

type guardListener struct {
	net.Listener
	g *KafkaGuard
}

// Accept returns the next connection the guard admits; one over the caps
// of unauthenticated connections is closed at once (and audited).
func (l *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var ip netip.Addr
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ip, _ = netip.AddrFromSlice(ta.IP)
			ip = ip.Unmap()
		}
		release, ex := l.g.pending.Acquire(ip.String(), pendingPerAddress)
		if ex != nil {
			c.Close()
			l.g.record(l.g.deps.Load(), audit.Record{Event: audit.Denied, Principal: audit.UnknownPrincipal, ClientIP: ip.String(),
				Reason: ex.Message + " (Kafka port)"})
			continue
		}
		return newGuardConn(c, l.g, ip, release), nil
	}
}

// Connection phases.
const (
	phaseSniff int32 = iota // not authenticated: frames are read
	phasePass               // authenticated: bytes pass untouched
)

// guardConn is one client connection. The broker reads it from one
// goroutine and writes it from another.
type guardConn struct {
	net.Conn
	g     *KafkaGuard
	ip    netip.Addr
	phase atomic.Int32

	// rmu serializes reads and guards in, out and frames.
	rmu    sync.Mutex
	in     []byte // client bytes not yet framed
	out    []byte // admitted frames the broker has not read yet
	frames int

	// wmu serializes writes and guards wbuf.
	wmu  sync.Mutex
	wbuf []byte // broker bytes of a response not yet complete

	// mu guards the fields below.
	mu         sync.Mutex
	mechanism  string
	user       string
	credential string          // kafkaCredential when the login began
	generation uint64          // the policy's generation then
	auths      map[int32]int16 // SaslAuthenticate requests the broker has not answered: version by correlation id
	steps      int             // SaslAuthenticate answered without error
	forwarded  int             // requests handed to the broker
	answered   int             // responses it wrote
	outcome    bool            // the login's failure or success was seen
	closed     bool
	pending    func() // gives back the unauthenticated slot
	authed     func() // gives back the authenticated slot
	timer      *time.Timer

	answers   chan struct{} // signalled at each response
	closeOnce sync.Once
}

func newGuardConn(c net.Conn, g *KafkaGuard, ip netip.Addr, release func()) *guardConn {
	gc := &guardConn{Conn: c, g: g, ip: ip, auths: map[int32]int16{}, pending: release, answers: make(chan struct{}, 1)}
	gc.timer = time.AfterFunc(g.o.AuthTimeout, func() {
		if gc.phase.Load() == phaseSniff {
			g.logger.Debug("kafka port: no authentication in time", "client_ip", ip.String(), "timeout", g.o.AuthTimeout)
			gc.Close()
		}
	})
	return gc
}

// authedSlot keeps the release of c's authenticated slot, or calls it
// and returns false when c is closed already.
func (c *guardConn) authedSlot(release func()) bool {
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.authed = release
	}
	c.mu.Unlock()
	if closed {
		release()
	}
	return !closed
}

func (c *guardConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

var errGuardRefused = errors.New("kafka port guard: connection refused")

// Read hands the broker what the client sent: before authentication
// whole frames the guard has looked at, after it the bytes as they come.
func (c *guardConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var buf [4096]byte
	for {
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			return n, nil
		}
		if c.phase.Load() == phasePass {
			if len(c.in) > 0 {
				n := copy(p, c.in)
				c.in = c.in[n:]
				return n, nil
			}
			return c.Conn.Read(p)
		}
		n, err := frameLen(c.in, sniffMaxFrame)
		if err == nil && n > 0 && len(c.in) >= n {
			frame := c.in[:n:n]
			c.in = c.in[n:]
			if err := c.request(frame); err != nil {
				c.Close()
				return 0, err
			}
			continue
		}
		if err != nil {
			c.g.logger.Debug("kafka port: closing", "client_ip", c.ip.String(), "err", err)
			c.Close()
			return 0, err
		}
		m, rerr := c.Conn.Read(buf[:])
		c.in = append(c.in, buf[:m]...)
		if rerr != nil && m == 0 {
			return 0, rerr
		}
	}
}

// request decides on one request frame of an unauthenticated connection:
// it is handed to the broker, or the connection is refused.
func (c *guardConn) request(frame []byte) error {
	if c.frames++; c.frames > sniffMaxFrames {
		return errSniff
	}
	q, err := parseRequest(frame)
	if err != nil {
		return err
	}
	c.mu.Lock()
	switch q.key {
	case keySASLHandshake:
		c.mechanism = q.mechanism
	case keySASLAuthenticate:
		first := c.steps == 0 && len(c.auths) == 0
		if first {
			c.user = saslUser(c.mechanism, q.auth)
			c.mu.Unlock()
			if r := c.g.admit(c.user, c.ip); r != nil {
				c.g.record(c.g.deps.Load(), r.record)
				c.refuse(q.corr, q.version, r.msg)
				return errGuardRefused
			}
			c.mu.Lock()
			if d := c.g.deps.Load(); d != nil {
				// Taken before the broker checks the password: a
				// credential changed after this is caught by the
				// recheck, never missed.
				c.generation = d.src.Generation()
				if u := d.src.Policy().users.Lookup(c.user); u != nil {
					c.credential = kafkaCredential(u, c.mechanism)
				}
			}
		}
		c.auths[q.corr] = q.version
	}
	c.forwarded++
	c.mu.Unlock()
	c.out = append(c.out, frame...)
	return nil
}

// refuse answers a SaslAuthenticate itself, once the broker has answered
// everything before it (clients match responses in order), and closes.
func (c *guardConn) refuse(corr int32, version int16, msg string) {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		done := c.answered >= c.forwarded
		c.mu.Unlock()
		if done {
			break
		}
		select {
		case <-c.answers:
		case <-deadline.C:
			c.Close()
			return
		}
	}
	c.wmu.Lock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Conn.Write(saslFailure(corr, version, msg))
	c.wmu.Unlock()
	c.Close()
}

// Write hands the client what the broker answered; before
// authentication it reads each response, learning how each
// SaslAuthenticate went.
func (c *guardConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.phase.Load() == phasePass && len(c.wbuf) == 0 {
		return c.Conn.Write(p)
	}
	c.wbuf = append(c.wbuf, p...)
	for len(c.wbuf) > 0 {
		n, err := frameLen(c.wbuf, math.MaxInt32)
		if err != nil || n == 0 || len(c.wbuf) < n {
			if err != nil { // the broker's own framing: cannot happen
				return 0, err
			}
			break
		}
		frame := c.wbuf[:n]
		out, ok := c.response(frame)
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		c.wbuf = c.wbuf[n:]
		if !ok {
			c.Close()
			return 0, errGuardRefused
		}
	}
	if len(c.wbuf) == 0 {
		c.wbuf = nil
	}
	return len(p), nil
}

// response looks at one response frame before authentication and
// returns what to write instead (the frame itself, or a refusal), and
// whether the connection goes on.
func (c *guardConn) response(frame []byte) ([]byte, bool) {
	if c.phase.Load() == phasePass {
		return frame, true
	}
	corr := responseCorr(frame)
	c.mu.Lock()
	c.answered++
	select {
	case c.answers <- struct{}{}:
	default:
	}
	version, isAuth := c.auths[corr]
	if !isAuth {
		c.mu.Unlock()
		return frame, true
	}
	delete(c.auths, corr)
	if code := saslAuthenticateError(frame, version); code != 0 {
		first := !c.outcome
		c.outcome = true
		user := c.user
		c.mu.Unlock()
		if first {
			c.g.failed(user, c.ip, "SASL authentication failed")
		}
		return frame, true
	}
	c.steps++
	if c.steps < saslSteps(c.mechanism) {
		c.mu.Unlock()
		return frame, true
	}
	c.outcome = true
	c.mu.Unlock()
	if msg, ok := c.g.authenticated(c); !ok {
		return saslFailure(corr, version, msg), false
	}
	c.timer.Stop()
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	if pending != nil {
		pending() // no longer an unauthenticated connection
	}
	c.phase.Store(phasePass)
	return frame, true
}

// Close closes the connection and gives back its slots. A connection
// closed while the broker had not answered its SaslAuthenticate failed
// to log in: the broker closes connections whose password is wrong.
func (c *guardConn) Close() error {
	c.closeOnce.Do(func() {
		c.timer.Stop()
		c.mu.Lock()
		failed := !c.outcome && len(c.auths) > 0
		c.outcome, c.closed = true, true
		user := c.user
		pending, authed := c.pending, c.authed
		c.pending, c.authed = nil, nil
		c.mu.Unlock()
		if failed {
			c.g.failed(user, c.ip, "wrong user name or password")
		}
		c.g.forget(c)
		for _, f := range []func(){pending, authed} {
			if f != nil {
				f()
			}
		}
	})
	return c.Conn.Close()
}

// AdvertiseSASLHandshakeV0 works around librdkafka (kcat, confluent-kafka)
// refusing SASL against kfake: librdkafka enables SASL only when the
// broker's ApiVersions range for SaslHandshake includes version 0, and
// kfake serves version 1 only. The fix uses kfake's public control hooks
// and copies nothing of kfake: kgate asks the broker for its ApiVersions
// once, then answers every ApiVersions request with that response, the
// SaslHandshake range widened to 0-1. librdkafka then negotiates version 1,
// which kfake serves. Requests the copy cannot answer faithfully (a newer
// version than captured, or KIP-1242's cluster/node check) go to kfake.
// cl must be connected to the broker.
func AdvertiseSASLHandshakeV0(ctx context.Context, c *kfake.Cluster, cl *kgo.Client) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = "kgate"
	req.ClientSoftwareVersion = "1"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("asking the embedded broker for its API versions: %w", err)
	}
	if resp.ErrorCode != 0 {
		return fmt.Errorf("asking the embedded broker for its API versions: error code %d", resp.ErrorCode)
	}
	var maxVersion int16 = -1
	for i := range resp.ApiKeys {
		k := &resp.ApiKeys[i]
		if k.ApiKey == int16(kmsg.SASLHandshake) {
			k.MinVersion = 0
		}
		if k.ApiKey == int16(kmsg.ApiVersions) {
			maxVersion = k.MaxVersion
		}
	}
	if maxVersion < 0 {
		return errors.New("the embedded broker does not list ApiVersions")
	}
	installAPIVersions(c, resp, maxVersion)
	return nil
}

// installAPIVersions registers the control function. A control function
// remembers every connection it saw, so it is replaced by a fresh one
// every so many requests to keep that memory bounded.
func installAPIVersions(c *kfake.Cluster, captured *kmsg.ApiVersionsResponse, maxVersion int16) {
	const renewEvery = 1000
	calls := 0
	c.ControlKey(int16(kmsg.ApiVersions), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req, ok := kreq.(*kmsg.ApiVersionsRequest)
		if !ok || req.Version > maxVersion || req.Version >= 5 && (req.ClusterID != nil || req.NodeID != -1) {
			return nil, nil, false
		}
		if req.Version >= 3 && (!validSoftware(req.ClientSoftwareName) || !validSoftware(req.ClientSoftwareVersion)) {
			return nil, nil, false
		}
		calls++
		if calls >= renewEvery {
			c.DropControl()
			installAPIVersions(c, captured, maxVersion)
		}
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.Version = req.Version
		resp.ApiKeys = append(resp.ApiKeys[:0], captured.ApiKeys...)
		resp.SupportedFeatures = captured.SupportedFeatures
		resp.FinalizedFeatures = captured.FinalizedFeatures
		resp.FinalizedFeaturesEpoch = captured.FinalizedFeaturesEpoch
		resp.ZkMigrationReady = captured.ZkMigrationReady
		return resp, nil, true
	})
}

// validSoftware is KIP-511's rule for client software names and versions.
func validSoftware(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' && c != '.' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}
