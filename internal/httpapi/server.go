package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi/http1"
)

// Server is the API's HTTP server with kgate's timeouts and limits.
type Server struct {
	srv      *http.Server
	fast     *http1.Server // nil: srv serves every connection
	ln       net.Listener
	shutdown time.Duration
	logger   *slog.Logger
}

// NewServer listens on addr (so that Addr is known before Run) and
// prepares a server with the configured timeouts: slow or oversized
// headers cannot hold it.
func NewServer(addr string, h http.Handler, c config.HTTP, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout.D(),
		ReadTimeout:       c.ReadTimeout.D(),
		WriteTimeout:      c.WriteTimeout.D(),
		IdleTimeout:       c.IdleTimeout.D(),
		MaxHeaderBytes:    int(c.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	// HTTP/1.1, HTTP/2 over TLS, and HTTP/2 with prior knowledge on
	// plain TCP (h2c), so that streaming clients can use either.
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	srv.Protocols = &protos
	s := &Server{srv: srv, ln: ln, shutdown: c.ShutdownTimeout.D(), logger: logger}
	if c.FastPath {
		s.fast = &http1.Server{
			Handler:           h,
			Fallback:          srv,
			ReadHeaderTimeout: srv.ReadHeaderTimeout,
			ReadTimeout:       srv.ReadTimeout,
			WriteTimeout:      srv.WriteTimeout,
			IdleTimeout:       srv.IdleTimeout,
			MaxHeaderBytes:    min(srv.MaxHeaderBytes, fastMaxHeaderBytes),
			ErrorLog:          srv.ErrorLog,
		}
	}
	return s, nil
}

// KeepOnFastPath lets the fast loop serve every request keep allows, of
// any method it handles (GET, POST, PUT, PATCH, DELETE), instead of
// POSTs alone; see FastPathKeep. Call it before Run.
func (s *Server) KeepOnFastPath(keep func(*http.Request) bool) {
	if s.fast != nil {
		s.fast.Keep = keep
	}
}

// FastPathKeep says which requests the fast loop may serve: all but the
// routes held open while they wait (Long: v2 long polls, push streams),
// which need net/http's notice of a client that leaves. Behind a load
// balancer that reuses its connections for every kind of request, this
// keeps those connections on the loop.
func FastPathKeep(routes []Route) func(*http.Request) bool {
	long := http.NewServeMux()
	held := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	n, posts := 0, false
	for _, rt := range routes {
		if rt.Long {
			long.Handle(rt.Key(), held)
			n++
			posts = posts || rt.Method == http.MethodPost
		}
	}
	return func(r *http.Request) bool {
		if n == 0 || r.Method == http.MethodPost && !posts {
			return true // produce, the bulk of the load, skips the lookup
		}
		_, pattern := long.Handler(r)
		return pattern == ""
	}
}

// HandedOver returns how many connections the fast loop handed to the
// standard server (0 without the loop).
func (s *Server) HandedOver() uint64 {
	if s.fast == nil {
		return 0
	}
	return s.fast.HandedOver()
}

// Addr returns the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HTTPServer exposes the server for TLS configuration before Run.
func (s *Server) HTTPServer() *http.Server { return s.srv }

// Listener returns the listener, which callers may wrap (TLS) before Run
// through SetListener.
func (s *Server) Listener() net.Listener { return s.ln }

// SetListener replaces the listener (to wrap it in TLS) before Run; the
// standard server then serves every connection (HTTP/2 is negotiated in
// the TLS handshake).
func (s *Server) SetListener(ln net.Listener) { s.ln, s.fast = ln, nil }

// fastMaxHeaderBytes caps the heads the fast loop takes itself (within
// http.max_header_bytes); a longer one goes to the standard server, as
// do bodies over the loop's own cap (1 MiB), which it streams instead of
// holding them whole.
const fastMaxHeaderBytes = 64 << 10

// Run serves until ctx is done, then stops accepting and drains in-flight
// requests for up to the shutdown timeout before closing them. With ctx
// already done it only closes the listener (a gateway whose start failed
// releases its port without serving).
func (s *Server) Run(ctx context.Context) error {
	if ctx.Err() != nil {
		return s.ln.Close()
	}
	errc := make(chan error, 1)
	serve, shutdown, closeAll := s.srv.Serve, s.srv.Shutdown, s.srv.Close
	if s.fast != nil {
		serve, shutdown, closeAll = s.fast.Serve, s.fast.Shutdown, s.fast.Close
	}
	go func() { errc <- serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
	defer cancel()
	err := shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.logger.Warn("http drain timed out; closing remaining connections", "timeout", s.shutdown)
		err = closeAll()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
