package kafkaport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/audit"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A connection's SASL state, as Kafka's SaslServerAuthenticator has it.
const (
	stateStart  = iota // ApiVersions (forwarded) or SaslHandshake
	stateAuth          // after a SaslHandshake v1: SaslAuthenticate requests
	stateRaw           // after a SaslHandshake v0: raw length-framed tokens
	stateBroker        // authenticated: the guard logs in to the broker
)

var (
	errRefused = errors.New("kafka port guard: connection refused")
	errClosed  = errors.New("kafka port guard: connection closed")
)

// conn is one client connection. The broker (kfake) reads it from one
// goroutine and writes it from another, and only reads a request once it
// has written the response to the one before (kfake's client_conn.go).
// So Read may block waiting for a response that comes through Write: the
// guard's own login requests are handed to the broker by Read, one at a
// time, and Read waits for each answer before handing on the next.
type conn struct {
	net.Conn
	g    *Guard
	ip   netip.Addr
	pass atomic.Bool // authenticated and logged in: bytes pass untouched
	// meter, set before pass, charges the user's traffic (nil: kgate's
	// own connections, or no limits).
	meter  *meter
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed by Close

	// rmu serializes reads and guards the fields below: the login as Read
	// drives it.
	rmu     sync.Mutex
	in      []byte // client bytes not yet framed
	out     []byte // frames the broker has not read yet
	frames  int
	state   int
	mech    string
	sess    Session
	claimed bool
	login   *brokerLogin

	// inLogin routes the broker's responses to loginResp (the guard's
	// login) instead of to the client.
	inLogin   atomic.Bool
	loginResp chan []byte

	// wmu serializes writes to the client and guards wbuf.
	wmu  sync.Mutex
	wbuf []byte // broker bytes of a response not yet complete

	// mu guards the fields below.
	mu        sync.Mutex
	id        identity
	forwarded int       // requests handed to the broker for the client
	answered  int       // responses to them written to the client
	final     *finalMsg // the client's last SASL response, owed while the guard logs in
	closed    bool
	pending   func() // gives back the unauthenticated slot
	authed    func() // gives back the authenticated slot
	timer     *time.Timer
	expiry    *time.Timer // closes the connection when its credential expires

	answers   chan struct{} // signalled at each response to the client
	closeOnce sync.Once
}

// identity is whom a connection authenticated as, with what, and what
// the policy said then.
type identity struct {
	user, mechanism string
	credential      string // CredentialID when the login began
	generation      uint64 // the policy's generation then
	inUsers         bool   // the user was in the users file
	// lasting is the session when its credential may end before the
	// connection (a token, a ticket).
	lasting Lasting
}

// finalMsg is the successful end of a client's login, written once the
// guard's own login to the broker succeeded.
type finalMsg struct {
	corr    int32
	version int16
	raw     bool
	reply   []byte
}

func (m *finalMsg) frame() []byte {
	if m.raw {
		return rawToken(m.reply)
	}
	return authenticateResponse(m.corr, m.version, m.reply)
}

func (m *finalMsg) failure(msg string) []byte {
	if m.raw {
		return nil // no error field: the connection is closed
	}
	return saslFailure(m.corr, m.version, msg)
}

func newConn(c net.Conn, g *Guard, ip netip.Addr, release func()) *conn {
	gc := &conn{Conn: c, g: g, ip: ip, pending: release, answers: make(chan struct{}, 1),
		done: make(chan struct{}), loginResp: make(chan []byte, 1)}
	gc.ctx, gc.cancel = context.WithCancel(context.Background())
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.timer = time.AfterFunc(g.o.AuthTimeout, func() {
		if !gc.pass.Load() {
			g.logger.Debug("kafka port: no authentication in time", "client_ip", ip.String(), "timeout", g.o.AuthTimeout)
			gc.Close()
		}
	})
	return gc
}

func (c *conn) identity() identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// authedSlot keeps the release of c's authenticated slot, or calls it
// when c is closed already.
func (c *conn) authedSlot(release func()) {
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.authed = release
	}
	c.mu.Unlock()
	if closed {
		release()
	}
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Read hands the broker what it must read: before authentication the
// client's ApiVersions requests and the guard's own login requests,
// after it the client's bytes as they come.
func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			return n, nil
		}
		if c.pass.Load() {
			if c.meter != nil {
				if err := c.meteredFrame(); err != nil {
					c.Close()
					return 0, err
				}
				continue
			}
			if len(c.in) > 0 { // sent by the client before its login ended
				n := copy(p, c.in)
				c.in = c.in[n:]
				return n, nil
			}
			return c.Conn.Read(p)
		}
		var err error
		if c.state == stateBroker {
			err = c.awaitBroker()
		} else {
			var frame []byte
			if frame, err = c.readFrame(); err == nil {
				err = c.handle(frame)
			}
		}
		if err != nil {
			c.Close()
			return 0, err
		}
	}
}

// meteredFrame reads the client's next request, charges it and, after
// the wait the meter asks for, hands it to the broker. A request over the
// daily byte quota is not handed over: the connection ends (audited).
func (c *conn) meteredFrame() error {
	var buf [16 << 10]byte
	for {
		n, err := frameLen(c.in, 4, math.MaxInt32)
		if err != nil {
			return err
		}
		if n > 0 && len(c.in) >= n {
			break
		}
		m, rerr := c.Conn.Read(buf[:])
		c.in = append(c.in, buf[:m]...)
		if rerr != nil && m == 0 {
			return rerr
		}
	}
	n, _ := frameLen(c.in, 4, math.MaxInt32)
	frame := c.in[:n:n]
	wait, ex := c.meter.request(frame)
	if ex != nil {
		id := c.identity()
		c.g.quotaSpent(id.user, ex, time.Now())
		c.g.logger.Info("kafka port: closing a connection over its daily byte quota", "principal", id.user, "client_ip", c.ip.String())
		c.g.record(c.g.deps.Load(), audit.Record{Event: audit.Denied, Principal: id.user, ClientIP: c.ip.String(),
			Reason: ex.Message + " (Kafka port)"})
		return errRefused
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return errClosed
		}
	}
	c.out = append(c.out[:0], frame...)
	c.in = c.in[n:]
	if len(c.in) == 0 {
		c.in = nil
	}
	return nil
}

// readFrame reads the client's next frame (size prefix included).
func (c *conn) readFrame() ([]byte, error) {
	minSize := 4 // a Kafka request: its header
	if c.state == stateRaw {
		minSize = 0 // a raw SASL token may be empty
	}
	var buf [4096]byte
	for {
		n, err := frameLen(c.in, minSize, maxFrame)
		if err != nil {
			c.g.logger.Info("kafka port: closing a connection sending a malformed frame before authentication", "client_ip", c.ip.String())
			return nil, err
		}
		if n > 0 && len(c.in) >= n {
			f := c.in[:n:n]
			c.in = c.in[n:]
			return f, nil
		}
		m, rerr := c.Conn.Read(buf[:])
		c.in = append(c.in, buf[:m]...)
		if rerr != nil && m == 0 {
			return nil, rerr
		}
	}
}

// handle decides on one frame the client sent before authenticating.
func (c *conn) handle(frame []byte) error {
	if c.frames++; c.frames > maxFrames {
		return c.illegal("too many requests before SASL authentication", -1, -1)
	}
	if c.state == stateRaw {
		return c.step(frame[4:], &finalMsg{raw: true})
	}
	q, err := parseRequest(frame)
	if err != nil {
		return c.illegal("malformed request before SASL authentication", -1, -1)
	}
	switch {
	case q.key == keyApiVersions && c.state == stateStart:
		c.mu.Lock()
		c.forwarded++
		c.mu.Unlock()
		c.out = append(c.out, frame...)
		return nil
	case q.key == keySASLHandshake && c.state == stateStart && q.version <= 1:
		return c.handshake(q)
	case q.key == keySASLAuthenticate && c.state == stateAuth && q.version <= 2:
		return c.step(q.auth, &finalMsg{corr: q.corr, version: q.version})
	}
	return c.illegal("request not allowed before SASL authentication (ILLEGAL_SASL_STATE)", q.key, q.version)
}

// illegal logs why a connection is closed without an answer, as Kafka
// closes one sending a request its SASL state does not allow.
func (c *conn) illegal(why string, key, version int16) error {
	c.g.logger.Info("kafka port: closing connection", "reason", why, "client_ip", c.ip.String(), "api_key", key, "api_version", version)
	return errRefused
}

// handshake answers a SaslHandshake: the mechanisms this connection may
// use are listed in every answer.
func (c *conn) handshake(q request) error {
	offered := c.g.offered(c.ip)
	newSession := c.g.mechanisms[q.mechanism]
	if newSession == nil || !slices.Contains(c.g.enabled, q.mechanism) {
		_ = c.writeClient(handshakeResponse(q.corr, q.version, kerr.UnsupportedSaslMechanism.Code, offered))
		name := q.mechanism
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		c.g.failed(c, "", &Failure{Class: ClassUnknownMechanism, Cause: fmt.Sprintf("mechanism %q is not enabled", name)})
		return errRefused
	}
	if err := c.writeClient(handshakeResponse(q.corr, q.version, 0, offered)); err != nil {
		return err
	}
	c.mech = q.mechanism
	c.sess = newSession(Conn{IP: c.ip, Claim: c.claim})
	c.state = stateAuth
	if q.version == 0 {
		c.state = stateRaw
	}
	return nil
}

// claim is Conn.Claim.
func (c *conn) claim(user string) error {
	if f := c.g.claim(user, c.ip); f != nil {
		return f
	}
	c.claimed = true
	// Taken before the credentials are checked: a credential changed
	// after this is caught by the recheck, never missed.
	id := identity{user: user, mechanism: c.mech}
	if pol := c.g.policy(); pol != nil {
		id.generation = pol.Generation()
		id.inUsers = pol.KnownUser(user)
		id.credential = pol.CredentialID(user, c.mech)
	}
	c.mu.Lock()
	c.id = id
	c.mu.Unlock()
	return nil
}

// step hands the client's SASL message to the session and answers it;
// once the client has authenticated it starts the guard's login to the
// broker. m says how to answer.
func (c *conn) step(msg []byte, m *finalMsg) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.g.o.AuthTimeout)
	defer cancel()
	reply, done, err := c.sess.Step(ctx, msg)
	user := c.sess.User()
	if err == nil && done {
		switch {
		case user == "":
			err = BadCredentials("", c.mech+" authenticated no user")
		case !c.claimed || c.identity().user != user:
			err = c.claim(user)
		}
	}
	if err != nil {
		return c.fail(asFailure(err, user), m)
	}
	if !done {
		m.reply = reply
		return c.writeClient(m.frame())
	}
	if l, ok := c.sess.(Lasting); ok {
		if err := l.Stands(time.Now()); err != nil {
			return c.fail(&Failure{Class: ClassTokenExpired, User: user, Cause: err.Error()}, m)
		}
		c.mu.Lock()
		c.id.lasting = l
		c.mu.Unlock()
	}
	if f := c.g.admitted(c, user); f != nil {
		return c.fail(f, m)
	}
	id := c.identity()
	mech, password := SCRAMSHA512, c.g.o.Credentials.Password(user)
	if user == c.g.o.Superuser {
		mech, password = c.g.o.SuperuserMechanism, c.g.o.SuperuserPassword
	} else if d := c.g.deps.Load(); !id.inUsers && d != nil && d.provision != nil {
		if err := d.provision(ctx, user); err != nil {
			c.g.logger.Error("kafka port: provisioning a user on the broker", "principal", user, "err", err)
			return c.fail(&Failure{Class: ClassUnavailable, User: user, Detail: "the broker could not be prepared for this user; retry",
				Cause: "provisioning the user on the broker: " + err.Error()}, m)
		}
	}
	l, err := newBrokerLogin(mech, user, password)
	if err != nil {
		return c.fail(&Failure{Class: ClassUnavailable, User: user, Cause: err.Error()}, m)
	}
	m.reply = reply
	c.mu.Lock()
	c.final = m
	c.mu.Unlock()
	c.login = l
	c.state = stateBroker
	c.inLogin.Store(true)
	c.out = append(c.out, l.start()...)
	return nil
}

// fail refuses the login: audited and counted, answered
// SASL_AUTHENTICATION_FAILED (over a raw exchange the connection is only
// closed), and the connection closed.
func (c *conn) fail(f *Failure, m *finalMsg) error {
	c.g.failed(c, c.mech, f)
	if b := m.failure(f.Message()); b != nil {
		_ = c.writeClient(b)
	}
	return errRefused
}

// awaitBroker waits for the broker's answer to the guard's last login
// request and hands it the next one; once logged in, it answers the
// client's last SASL message and lets the connection pass.
func (c *conn) awaitBroker() error {
	var frame []byte
	select {
	case frame = <-c.loginResp:
	case <-c.done:
		return errClosed
	}
	req, done, err := c.login.next(c.ctx, frame)
	if err != nil {
		return c.brokerFailed(err.Error())
	}
	if !done {
		c.out = append(c.out, req...)
		return nil
	}
	m := c.takeFinal()
	if m == nil {
		return errClosed
	}
	c.login = nil
	c.inLogin.Store(false)
	if id := c.identity(); id.user != c.g.o.Superuser {
		if ref := c.g.limits.Load(); ref != nil {
			t, refused := c.g.admitTraffic(ref, id.user, time.Now())
			if refused != "" { // a daily quota used up, or a request rate
				return c.fail(&Failure{Class: ClassQuota, Detail: refused, User: id.user, Cause: refused, denied: true}, m)
			}
			c.meter = newMeter(t, nil)
		}
	}
	if err := c.writeClient(m.frame()); err != nil {
		return err
	}
	c.mu.Lock()
	c.timer.Stop()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	if pending != nil {
		pending() // no longer an unauthenticated connection
	}
	c.pass.Store(true)
	c.g.passed(c)
	return nil
}

// takeFinal returns the client's owed last SASL message, once.
func (c *conn) takeFinal() *finalMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.final
	c.final = nil
	return m
}

// brokerFailed refuses a client the broker did not let the guard log in
// for (a provisioning race or a bug: logged as an error).
func (c *conn) brokerFailed(cause string) error {
	m := c.takeFinal()
	if m == nil {
		return errClosed
	}
	id := c.identity()
	c.g.logger.Error("kafka port: the broker refused kgate's login on a client's behalf", "principal", id.user, "client_ip", c.ip.String(), "err", cause)
	return c.fail(&Failure{Class: ClassUnavailable, User: id.user, Detail: "the broker did not accept kgate's login for this user; retry",
		Cause: "broker login: " + cause}, m)
}

// writeClient writes a response the guard made, once the broker has
// answered everything forwarded before it (clients match responses to
// requests in order).
func (c *conn) writeClient(b []byte) error {
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
		case <-c.done:
			return errClosed
		case <-deadline.C:
			return errRefused
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Conn.Write(b)
	_ = c.Conn.SetWriteDeadline(time.Time{})
	return err
}

// Write hands the client what the broker answered; during the guard's
// login to the broker, the broker's answers go to the guard instead.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.pass.Load() && c.meter == nil && len(c.wbuf) == 0 {
		return c.Conn.Write(p)
	}
	c.wbuf = append(c.wbuf, p...)
	for len(c.wbuf) > 0 {
		n, err := frameLen(c.wbuf, 4, math.MaxInt32)
		if err != nil { // the broker's own framing: cannot happen
			return 0, err
		}
		if n == 0 || len(c.wbuf) < n {
			break
		}
		frame := c.wbuf[:n:n]
		c.wbuf = c.wbuf[n:]
		if c.inLogin.Load() {
			select {
			case c.loginResp <- bytes.Clone(frame):
				continue
			default: // one request at a time: cannot happen
				return 0, errors.New("kafka port guard: unexpected broker response during login")
			}
		}
		if c.pass.Load() && c.meter != nil {
			c.meter.response(frame)
		}
		if _, err := c.Conn.Write(frame); err != nil {
			return 0, err
		}
		c.mu.Lock()
		c.answered++
		c.mu.Unlock()
		select {
		case c.answers <- struct{}{}:
		default:
		}
	}
	if len(c.wbuf) == 0 {
		c.wbuf = nil
	}
	return len(p), nil
}

// Close closes the connection and gives back its slots. A connection
// closed while the guard was logging in to the broker was closed by the
// broker, which closes connections whose login fails: the client is told.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.timer.Stop()
		if c.expiry != nil {
			c.expiry.Stop()
		}
		c.mu.Unlock()
		c.cancel()
		close(c.done)
		if m := c.takeFinal(); m != nil {
			id := c.identity()
			c.g.logger.Error("kafka port: the broker closed the connection during kgate's login on a client's behalf", "principal", id.user, "client_ip", c.ip.String())
			f := &Failure{Class: ClassUnavailable, User: id.user, Detail: "the broker did not accept kgate's login for this user; retry",
				Cause: "the broker closed the connection during kgate's login for the user"}
			c.g.failed(c, id.mechanism, f)
			if b := m.failure(f.Message()); b != nil {
				c.wmu.Lock()
				_ = c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.Conn.Write(b)
				c.wmu.Unlock()
			}
		}
		c.mu.Lock()
		c.closed = true
		pending, authed := c.pending, c.authed
		c.pending, c.authed = nil, nil
		c.mu.Unlock()
		c.g.forget(c)
		if c.pass.Load() && c.meter != nil {
			c.meter.done()
		}
		for _, f := range []func(){pending, authed} {
			if f != nil {
				f()
			}
		}
	})
	return c.Conn.Close()
}
