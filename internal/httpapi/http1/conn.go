package http1

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"
)

// A connection's states, for Shutdown: idle ones are closed at once,
// active ones after their response.
const (
	stateIdle int32 = iota
	stateActive
)

// Buffer sizes: a connection starts with small buffers and gives back
// large ones once idle.
const (
	initialBuf = 4 << 10
	keepBuf    = 64 << 10
)

type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	state  atomic.Int32

	// buf[r:w] is read and not yet consumed.
	buf  []byte
	r, w int

	// out is the response being assembled; header the handler's
	// response header map, cleared between requests (a handler must not
	// use its ResponseWriter after it returned).
	out     []byte
	resBody []byte
	header  http.Header
	res     response
	broken  error // a write failed: the connection ends after the handler
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, remote: nc.RemoteAddr().String()}
	c.buf = make([]byte, initialBuf)
	c.header = make(http.Header, 8)
	return c
}

// errHandOver ends the loop with the connection given to Fallback.
var errHandOver = errors.New("hand over")

func (c *conn) serve() {
	handed := false
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler { //nolint:errorlint // net/http compares the same way
			const size = 64 << 10
			buf := make([]byte, size)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.logf("http1: panic serving %s: %v\n%s", c.remote, v, buf)
		}
		c.s.track(c, false)
		if !handed {
			_ = c.nc.Close()
		}
	}()
	for {
		keep, err := c.serveOne()
		if errors.Is(err, errHandOver) {
			handed = c.handOver()
			return
		}
		if err != nil || !keep {
			return
		}
	}
}

// handOver gives the connection, with what was read of it, to Fallback.
func (c *conn) handOver() bool {
	_ = c.nc.SetDeadline(time.Time{})
	rc := &replayConn{Conn: c.nc, pending: bytes.Clone(c.buf[c.r:c.w])}
	c.s.handed.Add(1)
	if !c.s.handoff.give(rc) {
		c.s.handed.Add(^uint64(0))
		return false
	}
	return true
}

// serveOne reads one request and answers it; keep is false when the
// connection must close after it.
func (c *conn) serveOne() (keep bool, err error) {
	if c.r == c.w {
		c.r, c.w = 0, 0
		if cap(c.buf) > keepBuf {
			c.buf = make([]byte, initialBuf)
		}
		if cap(c.out) > keepBuf {
			c.out = nil
		}
	}
	c.state.Store(stateIdle)
	if c.s.closing.Load() {
		return false, nil
	}
	var t0 time.Time
	if c.r == c.w {
		// Wait for the next request as long as an idle connection may.
		idle := c.s.IdleTimeout
		if idle == 0 {
			idle = c.s.ReadTimeout
		}
		if idle > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(idle))
		} else {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		if err := c.fill(); err != nil {
			return false, err
		}
	}
	c.state.Store(stateActive)
	t0 = time.Now()
	deadlineSet := false
	setReadDeadline := func(d time.Duration) {
		if d > 0 {
			_ = c.nc.SetReadDeadline(t0.Add(d))
		} else {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		deadlineSet = true
	}

	// The head: wait for its end, handing over as soon as the request
	// line shows a request the loop does not serve.
	maxHead := c.s.MaxHeaderBytes
	if maxHead <= 0 {
		maxHead = defaultMaxHeaderBytes
	}
	methods := postOnly
	if c.s.Keep != nil {
		methods = allMethods
	}
	var headEnd int
	// Only what arrived since the last look is searched (a head sent a
	// byte at a time must not cost the square of its length).
	scanned := 0
	for {
		data := c.buf[c.r:c.w]
		if !maybeServed(data, methods) {
			return false, errHandOver
		}
		from := max(0, scanned-len(crlfcrlf)+1)
		if i := bytes.Index(data[from:], crlfcrlf); i >= 0 {
			headEnd = c.r + from + i + len(crlfcrlf)
			break
		}
		if len(data) >= maxHead || hasBareLF(data, scanned) {
			return false, errHandOver
		}
		scanned = len(data)
		if !deadlineSet {
			setReadDeadline(c.s.ReadHeaderTimeout)
		}
		if err := c.fill(); err != nil {
			return false, err
		}
	}
	h, err := parseHead(c.buf[c.r:headEnd], methods)
	if err != nil {
		return false, errHandOver
	}
	req := &http.Request{
		Method:        h.method,
		URL:           h.url,
		Proto:         proto11,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h.header,
		Host:          h.host,
		RemoteAddr:    c.remote,
		RequestURI:    h.target,
		Close:         h.close,
		ContentLength: h.contentLength,
	}
	if c.s.Keep != nil && !c.s.Keep(req) {
		return false, errHandOver
	}
	maxBody := c.s.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = defaultMaxBodyBytes
	}
	if h.contentLength > int64(maxBody) {
		return false, errHandOver
	}
	headLen, total := headEnd-c.r, headEnd-c.r+int(h.contentLength)
	if c.r+total > c.w {
		// The body is still arriving: the bytes waiting for their
		// request to complete are bounded across connections (the
		// handler's admission and memory budget only see a request
		// once it is whole); past the bound, net/http streams it.
		// Whole, it is no longer pending: given back before the handler
		// runs (which the budget then covers), not after the answer.
		if !c.s.pending.take(h.contentLength, c.s.MaxPendingBodyBytes) {
			return false, errHandOver
		}
		if c.r+total > len(c.buf) {
			c.grow(total)
		}
		if d := c.s.ReadTimeout; !deadlineSet || d > 0 {
			setReadDeadline(d)
		}
		var err error
		for c.w < c.r+total && err == nil {
			err = c.fill()
		}
		c.s.pending.give(h.contentLength)
		if err != nil {
			return false, err
		}
	}
	headEnd, end := c.r+headLen, c.r+total
	body := c.buf[headEnd:end]
	c.r = end
	keep = c.handle(req, body, t0) && !h.close
	if c.broken != nil {
		return false, c.broken
	}
	if !keep {
		c.lingerClose()
		return false, nil
	}
	return true, nil
}

// fill reads once more into the buffer, growing it when full.
func (c *conn) fill() error {
	if c.w == len(c.buf) {
		if c.r > 0 {
			n := copy(c.buf, c.buf[c.r:c.w])
			c.r, c.w = 0, n
		} else {
			c.grow(2 * len(c.buf))
		}
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// grow moves the unread bytes to the start of a buffer of at least n
// bytes.
func (c *conn) grow(n int) {
	size := max(len(c.buf), initialBuf)
	for size < n {
		size *= 2
	}
	b := make([]byte, size)
	m := copy(b, c.buf[c.r:c.w])
	c.buf, c.r, c.w = b, 0, m
}

// handle runs the handler on one request and writes its response; it
// reports whether the connection may serve another.
func (c *conn) handle(req *http.Request, body []byte, t0 time.Time) bool {
	// Each request's context ends when its handler returns, as with
	// net/http (whose requests are not cancelled by Shutdown either). A
	// parent that cannot be cancelled keeps the requests of all
	// connections off a shared list of children.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req = req.WithContext(ctx)
	if len(body) == 0 {
		req.Body = http.NoBody
	} else {
		req.Body = &bodyReader{b: body}
	}

	clear(c.header)
	c.res = response{c: c, req: req, header: c.header, t0: t0, declared: -1, out: c.out[:0], body: c.resBody[:0]}
	w := &c.res
	c.s.Handler.ServeHTTP(w, req)
	if b, ok := req.Body.(*bodyReader); ok {
		b.b = nil
	}
	keep := w.finish()
	c.out = w.out[:0]
	return keep && !c.s.closing.Load()
}

// hasBareLF reports a line feed at or after from without its carriage
// return: net/http reads such heads; the loop leaves them to it.
func hasBareLF(b []byte, from int) bool {
	for i := from; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return false
		}
		i += j
		if i == 0 || b[i-1] != '\r' {
			return true
		}
		i++
	}
	return false
}

// lingerClose half-closes and waits briefly for the client to close, so
// that unread bytes on our side do not turn the close into a reset that
// could destroy the last response (net/http does the same).
func (c *conn) lingerClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		var scratch [512]byte
		for range 64 {
			if _, err := c.nc.Read(scratch[:]); err != nil {
				break
			}
		}
	}
}

// bodyReader is a request body read whole before the handler ran.
type bodyReader struct{ b []byte }

func (b *bodyReader) Read(p []byte) (int, error) {
	if len(b.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.b)
	b.b = b.b[n:]
	return n, nil
}

// WriteTo lets io.Copy and bytes.Buffer.ReadFrom take the body in one
// piece.
func (b *bodyReader) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b.b)
	b.b = b.b[n:]
	return int64(n), err
}

func (b *bodyReader) Close() error { return nil }
