package kafkaport

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/ratelimit"
)

// authMethod is the audit records' auth_method (auth.MethodKafkaSASL).
const authMethod = "kafka_sasl"

// Policy is what the guard asks of kgate's users and permissions in
// force, and follows (an *auth.Service implements it). Its methods must
// be safe for concurrent use.
type Policy interface {
	// Generation counts changes of the policy; Changed is closed at the
	// next one.
	Generation() uint64
	Changed() <-chan struct{}
	// KnownUser reports whether user is in the users file.
	KnownUser(user string) bool
	// ClientAllowed reports whether user may connect from ip.
	ClientAllowed(user string, ip netip.Addr) bool
	// SCRAMCredential returns user's salted password for mechanism
	// (SCRAM-SHA-256 or SCRAM-SHA-512); ok is false when it has none.
	SCRAMCredential(user, mechanism string) (iterations int, salt, saltedPassword []byte, ok bool)
	// CheckPassword reports whether password is user's, paying the same
	// work for unknown users; err is a check that could not be made
	// (the password checks are overloaded).
	CheckPassword(ctx context.Context, ip netip.Addr, user, password string) (bool, error)
	// CredentialID fingerprints the credential user proves with
	// mechanism ("" when none), so that a connection authenticated with
	// an older one can be told apart.
	CredentialID(user, mechanism string) string
}

// Options configure New.
type Options struct {
	// Superuser is kgate's own user on the broker: admitted before the
	// policy is known, never checked against it nor counted against the
	// connection caps (the failure limits apply to it as to anyone
	// unless SuperuserUnguessable). The guard checks its password
	// itself (its SCRAM credentials are salted from it at New) and logs
	// in to the broker with its real credentials, by
	// SuperuserMechanism (default SCRAM-SHA-512), the mechanism the
	// broker was given it with.
	Superuser          string
	SuperuserPassword  string
	SuperuserMechanism string
	// SuperuserUnguessable exempts the superuser from the failure limits
	// (its failures are still audited): set when kgate generated its
	// password (256 random bits), so that nobody sharing kgate's address
	// can lock kgate out of its own broker by failing as it.
	SuperuserUnguessable bool
	// Credentials derives the other users' broker credentials; it must
	// be the one the broker's users are provisioned from (required).
	Credentials *Credentials
	// Enabled lists the mechanisms offered, in order (default
	// DefaultMechanisms, then the names in Mechanisms, sorted).
	Enabled []string
	// Mechanisms adds mechanisms to the built-in PLAIN, SCRAM-SHA-256
	// and SCRAM-SHA-512, or replaces them: GSSAPI and OAUTHBEARER
	// plug in here.
	Mechanisms map[string]NewSession
	// PlainOverPlaintext offers PLAIN on connections from addresses
	// other than loopback (broker.sasl.plain_over_plaintext); by
	// default PLAIN, which sends the password in the clear, is offered
	// on loopback connections only unless the port speaks TLS.
	PlainOverPlaintext bool
	// TLS says the guard reads above TLS (the Kafka port's listener
	// speaks TLS only): PLAIN is offered on every connection.
	TLS bool
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

// Guard guards the embedded broker's Kafka port and terminates SASL on
// it: until a connection has authenticated, the guard answers its
// SaslHandshake and SaslAuthenticate requests itself (forwarding only
// ApiVersions to the broker), then logs in to the broker on the client's
// behalf (see Credentials) and lets the connection pass untouched. On
// the way it
//
//   - limits failed logins per client address and per user, and audits
//     every failure, refusal and success (never a password);
//   - refuses users the permissions' client CIDRs do not allow from the
//     connection's address (Kafka ACL hosts are single addresses);
//   - caps connections per user, per unauthenticated address and on the
//     node;
//   - closes connections that do not authenticate within AuthTimeout,
//     and those that send anything else than ApiVersions and the SASL
//     requests before (Kafka's ILLEGAL_SASL_STATE).
//
// After that the guard keeps the connection in a list: when the policy
// changes (a reload), connections of users who were deleted, whose
// credentials changed or who are no longer allowed from their address
// are closed (the ACLs the broker enforces on each request follow
// reloads on their own). Neither the guard nor the broker offers
// re-authentication, so a connection's user cannot change once it
// passes; a connection whose credential can end (a Lasting session: a
// token, a ticket) is closed when it expires, or at a change of the
// policy once it no longer stands (a revoked token).
//
// Its methods are safe for concurrent use.
type Guard struct {
	o            Options
	logger       *slog.Logger
	mechanisms   map[string]NewSession
	enabled      []string
	superSCRAM   map[string]scramCredential
	fakeKey      [32]byte
	addrFailures *ratelimit.Keyed
	userFailures *ratelimit.Keyed
	pairFailures *ratelimit.Keyed // user from an address it logged in from lately
	pending      *ratelimit.Slots // not yet authenticated, by address
	authed       *ratelimit.Slots // authenticated, by user
	deps         atomic.Pointer[deps]
	limits       atomic.Pointer[limitsRef]
	// spent holds, by user, the *spentQuota of a daily quota a request
	// ran into on the Kafka port: its logins are refused until it resets
	// (the limiter only refuses once the quota is used up, and a request
	// that would go over it must not come back at every reconnection).
	spent sync.Map

	// mu guards the fields below.
	mu    sync.Mutex
	conns map[*conn]struct{}    // authenticated connections
	good  map[goodKey]time.Time // last login of a user from an address
}

type limitsRef struct{ l Limits }

type spentQuota struct {
	until time.Time
	msg   string
}

// quotaSpent refuses user's logins until the daily quota ex resets.
func (g *Guard) quotaSpent(user string, ex *ratelimit.Exceeded, now time.Time) {
	g.spent.Store(user, &spentQuota{until: now.Add(ex.RetryAfter), msg: ex.Message})
}

// admitTraffic returns the ticket a login of user is charged to, or why
// it is refused.
func (g *Guard) admitTraffic(ref *limitsRef, user string, now time.Time) (*ratelimit.Ticket, string) {
	if v, ok := g.spent.Load(user); ok {
		q := v.(*spentQuota)
		if now.Before(q.until) {
			return nil, q.msg
		}
		g.spent.CompareAndDelete(user, v)
	}
	t, ex := ref.l.Admit(user, now)
	if ex != nil {
		return nil, ex.Message
	}
	return t, ""
}

// Meter makes every connection authenticated from now on charge its
// Produce requests and Fetch responses to its user's byte limits (see
// meter); kgate's own connections are not charged.
func (g *Guard) Meter(l Limits) { g.limits.Store(&limitsRef{l}) }

type deps struct {
	pol       Policy
	audit     *audit.Log
	provision func(ctx context.Context, user string) error
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

// New returns a guard admitting only o.Superuser until Admit.
func New(o Options) (*Guard, error) {
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 10 * time.Second
	}
	if o.SuperuserMechanism == "" {
		o.SuperuserMechanism = SCRAMSHA512
	}
	if o.Credentials == nil {
		return nil, fmt.Errorf("kafka port guard: no broker credentials")
	}
	g := &Guard{
		o:            o,
		logger:       o.Logger,
		addrFailures: ratelimit.NewKeyed(o.FailuresPerSecond, o.FailureBurst),
		userFailures: ratelimit.NewKeyed(o.UserFailuresPerSecond, o.UserFailureBurst),
		pairFailures: ratelimit.NewKeyed(o.FailuresPerSecond, o.FailureBurst),
		pending:      ratelimit.NewSlots("unauthenticated Kafka-port connections", max(o.MaxConnections, pendingNode)),
		authed:       ratelimit.NewSlots("Kafka-port connections", o.MaxConnections),
		conns:        map[*conn]struct{}{},
		good:         map[goodKey]time.Time{},
		superSCRAM:   map[string]scramCredential{},
	}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	g.logger = g.logger.With("component", "kafka_port")
	m := hmac.New(sha256.New, o.Credentials.secret)
	m.Write([]byte("kafka-port stand-in salts"))
	copy(g.fakeKey[:], m.Sum(nil))
	for _, mech := range []string{SCRAMSHA256, SCRAMSHA512} {
		salt := make([]byte, 24)
		_, _ = rand.Read(salt)
		g.superSCRAM[mech] = scramCredential{iterations: defaultIterations, salt: salt, salted: saltPassword(mech, o.SuperuserPassword, salt, defaultIterations)}
	}
	g.mechanisms = map[string]NewSession{
		Plain:       g.newPlain,
		SCRAMSHA256: g.newSCRAM(SCRAMSHA256),
		SCRAMSHA512: g.newSCRAM(SCRAMSHA512),
	}
	var extra []string
	for name, f := range o.Mechanisms {
		if _, builtin := g.mechanisms[name]; !builtin {
			extra = append(extra, name)
		}
		g.mechanisms[name] = f
	}
	slices.Sort(extra)
	g.enabled = o.Enabled
	if g.enabled == nil {
		g.enabled = append(slices.Clone(DefaultMechanisms), extra...)
	}
	for _, name := range g.enabled {
		if g.mechanisms[name] == nil {
			return nil, fmt.Errorf("kafka port guard: SASL mechanism %q is not available", name)
		}
	}
	return g, nil
}

// Admit starts admitting other users by pol, recording failures, refusals
// and successes in a. provision, if not nil, makes the broker know a user
// who authenticated but is not in the users file (say, a Kerberos
// principal) before the guard logs in to the broker as it. The broker
// starts before the policy can be loaded (the token store lives on it),
// which is why this comes later.
func (g *Guard) Admit(pol Policy, a *audit.Log, provision func(ctx context.Context, user string) error) {
	g.deps.Store(&deps{pol: pol, audit: a, provision: provision})
}

func (g *Guard) policy() Policy {
	if d := g.deps.Load(); d != nil {
		return d.pol
	}
	return nil
}

// Run closes the connections of users whose standing changed, at every
// change of the policy, until ctx is done; it also forgets idle failure
// counters. It returns at once when nothing was admitted.
func (g *Guard) Run(ctx context.Context) error {
	d := g.deps.Load()
	if d == nil {
		return nil
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		changed := d.pol.Changed()
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

func (g *Guard) sweep(now time.Time) {
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
func (g *Guard) recheck(d *deps) {
	g.mu.Lock()
	var gone []*conn
	var why []string
	for c := range g.conns {
		if reason := g.standing(d.pol, c); reason != "" {
			gone = append(gone, c)
			why = append(why, reason)
		}
	}
	g.mu.Unlock()
	for i, c := range gone {
		g.disconnect(d, c, why[i])
	}
}

// standing returns why c's user may no longer hold c, or "". A user who
// was not in the users file when it logged in (authenticated by a
// mechanism of its own, say Kerberos) is not required to be in it.
func (g *Guard) standing(pol Policy, c *conn) string {
	id := c.identity()
	if id.user == g.o.Superuser {
		return ""
	}
	switch {
	case id.inUsers && !pol.KnownUser(id.user):
		return "the user no longer exists"
	case pol.CredentialID(id.user, id.mechanism) != id.credential:
		return "the user's credentials changed"
	case !pol.ClientAllowed(id.user, c.ip):
		return "client address no longer allowed"
	case id.lasting != nil:
		if err := id.lasting.Stands(time.Now()); err != nil {
			return err.Error()
		}
	}
	return ""
}

// expireAt closes c when its credential expires.
func (g *Guard) expireAt(d *deps, c *conn, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.expiry = time.AfterFunc(time.Until(at), func() { g.disconnect(d, c, "the credential expired") })
}

func (g *Guard) disconnect(d *deps, c *conn, reason string) {
	g.record(d, audit.Record{Event: audit.Disconnect, Principal: c.identity().user, ClientIP: c.ip.String(),
		Reason: "Kafka-port connection closed: " + reason})
	c.Close()
}

// record audits r (the Kafka port's method) or, before Admit, logs it.
func (g *Guard) record(d *deps, r audit.Record) {
	r.AuthMethod = authMethod
	if d != nil && d.audit != nil {
		d.audit.Write(context.Background(), r)
		return
	}
	level := slog.LevelWarn
	if r.Event == audit.Login {
		level = slog.LevelInfo
	}
	g.logger.Log(context.Background(), level, "kafka port", "event", r.Event, "principal", r.Principal, "client_ip", r.ClientIP, "reason", r.Reason)
}

// known returns user when it is a user of the policy or the superuser,
// else audit.UnknownPrincipal (an attempted name may be a password).
func (g *Guard) known(d *deps, user string) string {
	if user != "" && (user == g.o.Superuser || d != nil && d.pol.KnownUser(user)) {
		return user
	}
	return audit.UnknownPrincipal
}

// failed logs and audits a failed login, and counts bad credentials
// against the failure limits.
func (g *Guard) failed(c *conn, mechanism string, f *Failure) {
	d := g.deps.Load()
	name := g.known(d, f.User)
	if f.Class == ClassBadCredentials {
		g.addrFailures.Take(c.ip.String())
		if name != audit.UnknownPrincipal {
			g.userFailures.Take(name)
			g.pairFailures.Take(name + "|" + c.ip.String())
		}
	}
	event := audit.AuthFailure
	if f.denied {
		event = audit.Denied
	}
	reason := string(f.Class)
	if f.Cause != "" {
		reason += ": " + f.Cause
	} else if f.Detail != "" {
		reason += ": " + f.Detail
	}
	if mechanism != "" {
		reason += " (Kafka port, " + mechanism + ")"
	} else {
		reason += " (Kafka port)"
	}
	g.record(d, audit.Record{Event: event, Principal: name, ClientIP: c.ip.String(), Reason: reason})
}

// claim decides on a login once the user it names is known, before its
// credentials are checked: nil admits it.
func (g *Guard) claim(user string, ip netip.Addr) *Failure {
	d := g.deps.Load()
	name := g.known(d, user)
	tooMany := func(wait time.Duration, reason string) *Failure {
		secs := int64(math.Ceil(wait.Seconds()))
		return &Failure{Class: ClassTooManyFailures, User: user, Cause: reason,
			Detail: fmt.Sprintf("too many failed authentications; retry in %d seconds.", max(secs, 1))}
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
		return &Failure{Class: ClassUnavailable, Detail: "the gateway is starting; retry.", User: user, Cause: "the gateway is starting", denied: true}
	}
	if user != "" && !d.pol.ClientAllowed(user, ip) {
		return &Failure{Class: ClassNotAllowed, Detail: "this user may not connect from this address.", User: user,
			Cause: "client address not in the allowed CIDRs", denied: true}
	}
	return nil
}

func (g *Guard) goodAddress(user string, ip netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.good[goodKey{user, ip}]
	return ok && time.Since(at) < goodFor
}

// admitted takes c's slot as an authenticated connection of its user;
// it returns the refusal when the user or the node has no slot left.
func (g *Guard) admitted(c *conn, user string) *Failure {
	if user == g.o.Superuser {
		return nil
	}
	release, ex := g.authed.Acquire(user, g.o.MaxConnectionsPerUser)
	if ex != nil {
		return &Failure{Class: ClassTooManyConns, Detail: ex.Message, User: user, Cause: ex.Message, denied: true}
	}
	c.authedSlot(release)
	return nil
}

// passed lists c, authenticated and logged in to the broker, among the
// connections that follow the policy.
func (g *Guard) passed(c *conn) {
	d := g.deps.Load()
	id := c.identity()
	g.mu.Lock()
	g.conns[c] = struct{}{}
	if len(g.good) < goodLimit {
		g.good[goodKey{id.user, c.ip}] = time.Now()
	}
	g.mu.Unlock()
	g.record(d, audit.Record{Event: audit.Login, Principal: id.user, ClientIP: c.ip.String(),
		Reason: "Kafka-port SASL login (" + id.mechanism + ")"})
	if c.isClosed() { // Close may have missed the listing
		g.forget(c)
		return
	}
	if id.lasting != nil {
		if at := id.lasting.Expires(); !at.IsZero() {
			g.expireAt(d, c, at)
		}
	}
	// The policy may have changed between the login and now: Run's
	// recheck did not see this connection then.
	if d != nil && d.pol.Generation() != id.generation {
		if reason := g.standing(d.pol, c); reason != "" {
			go g.disconnect(d, c, reason)
		}
	}
}

func (g *Guard) forget(c *conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

// plainAllowed reports whether PLAIN may be used from ip.
func (g *Guard) plainAllowed(ip netip.Addr) bool {
	return g.o.TLS || g.o.PlainOverPlaintext || ip.IsLoopback()
}

// offered lists the mechanisms a connection from ip may use.
func (g *Guard) offered(ip netip.Addr) []string {
	out := make([]string, 0, len(g.enabled))
	for _, m := range g.enabled {
		if m != Plain || g.plainAllowed(ip) {
			out = append(out, m)
		}
	}
	return out
}

// Listener wraps the broker's Kafka listener with the guard.
func (g *Guard) Listener(ln net.Listener) net.Listener {
	return &listener{Listener: ln, g: g}
}

type listener struct {
	net.Listener
	g *Guard
}

// Accept returns the next connection the guard admits; one over the caps
// of unauthenticated connections is closed at once (and audited).
func (l *listener) Accept() (net.Conn, error) {
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
		return newConn(c, l.g, ip, release), nil
	}
}
