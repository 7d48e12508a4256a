package app

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/ops"
)

// StartOps serves a worker command's /healthz, /readyz and /metrics (reg,
// open) on addr with the server limits of hc, until stop is called; stop
// drains and waits. ping is the readiness check (nil: always ready). It
// returns the address it listens on.
func StartOps(addr string, reg *prometheus.Registry, ping func(context.Context) error, hc config.HTTP, logger *slog.Logger) (string, func(), error) {
	if ping == nil {
		ping = func(context.Context) error { return nil }
	}
	rr := httpapi.NewRouter()
	ops.Register(rr, ops.Deps{Ping: ping, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), MetricsOpen: true})
	handler := rr.Handler(httpapi.Chain{Outer: []func(http.Handler) http.Handler{httpapi.Recover(logger)}, Logger: logger, MaxBodyBytes: 1 << 20})
	srv, err := httpapi.NewServer(addr, handler, hc, logger)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Run(ctx); err != nil {
			logger.Warn("metrics listener", "err", err)
		}
	}()
	logger.Info("metrics listening", "addr", "http://"+srv.Addr()+"/metrics")
	return srv.Addr(), func() { cancel(); <-done }, nil
}
