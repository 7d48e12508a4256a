// Package http1 serves the requests that make up most of a gateway's
// load, short HTTP/1.1 requests with no body or a Content-Length body
// (produce, commits, metadata), on a loop that does one read and one
// write per request, and hands every connection that carries anything
// else to a net/http server, byte for byte and before anything has been
// written on it.
//
// The loop only accepts what it fully understands: a request line
// "<method> /origin-form HTTP/1.1" (POST; GET, PUT, PATCH and DELETE too
// when Server.Keep is set and allows the request), well-formed header
// lines, exactly one Host, at most one Content-Length and none of
// Transfer-Encoding, Expect or Upgrade. Anything else (HEAD, OPTIONS,
// requests Keep refuses, chunked or streamed bodies, WebSocket and h2c
// upgrades, HTTP/2 prior knowledge, HTTP/1.0, odd framing that could
// smuggle a request) goes to net/http with the bytes read so far
// replayed, so net/http's answers and limits hold for it unchanged. A
// connection handed over stays with net/http.
//
// What it saves against net/http, per request: the background read (a
// goroutine, a parked read and its wake-up once the body is consumed),
// the second read that finds the socket empty, and the buffered writer's
// chunking machinery; request heads are parsed into one string.
package http1

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves the requests it understands with Handler and hands the
// rest to Fallback. Its fields are set before Serve and not changed.
type Server struct {
	// Handler serves the requests the loop keeps.
	Handler http.Handler
	// Fallback serves the connections handed over; Serve runs it.
	Fallback *http.Server
	// Timeouts with net/http's meanings.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes caps the request head kept here; a longer one goes
	// to Fallback, which answers it with its own limit.
	MaxHeaderBytes int
	// MaxBodyBytes caps the bodies read here before the handler runs; a
	// request declaring a longer one goes to Fallback, which streams it.
	MaxBodyBytes int
	// MaxPendingBodyBytes bounds the bytes of bodies still arriving,
	// over all connections (0: 16 MiB); a request that would pass it goes
	// to Fallback. Slow senders cannot make the loop hold more.
	MaxPendingBodyBytes int64
	// Keep, if set, says whether the loop may serve a request (it sees
	// the method, URL, Host and header, not the body yet); false hands
	// the connection to Fallback. With it the loop serves GET, POST,
	// PUT, PATCH and DELETE; without it POST only. The loop reads a
	// request whole before the handler runs and does not notice a
	// client that leaves while its handler waits, so requests that are
	// held open (long polls, event streams) belong to Fallback.
	Keep func(*http.Request) bool
	// ErrorLog receives handler panics and accept errors (nil: log's).
	ErrorLog *log.Logger

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	handoff  *handoffListener
	closing  atomic.Bool
	fallback chan error
	handed   atomic.Uint64
	pending  budget
}

// budget counts bytes against a bound.
type budget struct{ n atomic.Int64 }

func (b *budget) take(n, limit int64) bool {
	if limit <= 0 {
		limit = defaultMaxPendingBodyBytes
	}
	if b.n.Add(n) > limit {
		b.n.Add(-n)
		return false
	}
	return true
}

func (b *budget) give(n int64) { b.n.Add(-n) }

// Defaults of the caps when the fields are zero.
const (
	defaultMaxHeaderBytes = 1 << 20
	defaultMaxBodyBytes   = 1 << 20

	defaultMaxPendingBodyBytes = 16 << 20
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// HandedOver returns how many connections went to Fallback so far.
func (s *Server) HandedOver() uint64 { return s.handed.Load() }

// Serve accepts connections on ln until Shutdown or Close, and runs
// Fallback on the connections handed over. It returns ErrServerClosed
// after Shutdown or Close, else the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.ln = ln
	s.conns = map[*conn]struct{}{}
	s.handoff = newHandoffListener(ln.Addr())
	fallback, handoff := make(chan error, 1), s.handoff
	s.fallback = fallback
	s.mu.Unlock()
	go func() { fallback <- s.Fallback.Serve(handoff) }()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				// Out of descriptors and the like: wait and retry,
				// as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logf("http1: accept error: %v; retrying in %v", err, backoff)
				time.Sleep(backoff)
				continue
			}
			s.Close() //nolint:errcheck // the listener's error is the one to return
			return err
		}
		backoff = 0
		c := newConn(s, nc)
		if !s.track(c, true) {
			_ = nc.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

// track adds or removes c; adding fails once the server is closing.
func (s *Server) track(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		s.conns[c] = struct{}{}
		return true
	}
	delete(s.conns, c)
	return true
}

// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish (their connections close after the response), and shuts
// Fallback down, until ctx is done; then it returns ctx's error and the
// connections left are for Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
	errc := make(chan error, 1)
	go func() { errc <- s.Fallback.Shutdown(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			break
		}
		select {
		case <-ctx.Done():
			<-errc
			return ctx.Err()
		case <-tick.C:
		}
	}
	err := <-errc
	s.waitFallback()
	return err
}

// Close closes the listener and every connection at once, its own and
// Fallback's.
func (s *Server) Close() error {
	s.beginClose()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	err := s.Fallback.Close()
	s.waitFallback()
	return err
}

func (s *Server) beginClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Swap(true) {
		return
	}
	if s.ln != nil {
		_ = s.ln.Close()
		_ = s.handoff.Close()
	}
}

// waitFallback waits for Fallback's Serve to return (after its Shutdown
// or Close), if Serve ran.
func (s *Server) waitFallback() {
	s.mu.Lock()
	ch := s.fallback
	s.fallback = nil
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.Load() == stateIdle {
			_ = c.nc.Close()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// handoffListener is the listener Fallback serves: it yields the
// connections the loop hands over.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// give hands c to Fallback; false once it no longer accepts.
func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// replayConn gives back the bytes the loop read before handing the
// connection over, then reads the connection.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps net/http's half-close (it lingers before closing so
// that the client reads the last response before a reset).
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
