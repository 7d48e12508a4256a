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
)

// Server is the API's HTTP server with kgate's timeouts and limits.
type Server struct {
	srv      *http.Server
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
	return &Server{srv: srv, ln: ln, shutdown: c.ShutdownTimeout.D(), logger: logger}, nil
}

// Addr returns the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HTTPServer exposes the server for TLS configuration before Run.
func (s *Server) HTTPServer() *http.Server { return s.srv }

// Listener returns the listener, which callers may wrap (TLS) before Run
// through SetListener.
func (s *Server) Listener() net.Listener { return s.ln }

// SetListener replaces the listener (to wrap it in TLS) before Run.
func (s *Server) SetListener(ln net.Listener) { s.ln = ln }

// Run serves until ctx is done, then stops accepting and drains in-flight
// requests for up to the shutdown timeout before closing them. With ctx
// already done it only closes the listener (a gateway whose start failed
// releases its port without serving).
func (s *Server) Run(ctx context.Context) error {
	if ctx.Err() != nil {
		return s.ln.Close()
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.logger.Warn("http drain timed out; closing remaining connections", "timeout", s.shutdown)
		err = s.srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
