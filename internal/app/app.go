// Package app wires kgate's components from the configuration and owns
// their lifecycle: it starts everything, and on shutdown stops it in one
// written-down order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/kastlex"
	"github.com/kgate/kgate/internal/httpapi/openapi"
	"github.com/kgate/kgate/internal/httpapi/ops"
	v2 "github.com/kgate/kgate/internal/httpapi/v2"
	v3 "github.com/kgate/kgate/internal/httpapi/v3"
	"github.com/kgate/kgate/internal/metrics"
)

// Info describes a started gateway; Serve reports it once everything
// listens (tests use it to learn ports chosen with :0).
type Info struct {
	HTTPAddr   string
	HTTPSAddr  string // empty without HTTPS
	BrokerAddr string // empty with external brokers
	Brokers    []string
	// Routes are every route the gateway serves (tests walk them).
	Routes []httpapi.Route
}

// Serve runs the gateway until ctx is done, then shuts down gracefully.
// ready, if non-nil, is called once the HTTP listener accepts.
func Serve(ctx context.Context, cfg config.Config, logger *slog.Logger, ready func(Info)) (err error) {
	m := metrics.New()
	info := Info{Brokers: cfg.Brokers}

	// Teardown runs in reverse order of construction through this
	// stack; the HTTP drain happens before any of it (see below).
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	sec, err := newSecurity(&cfg, logger)
	if err != nil {
		return err
	}

	var b *broker.Broker
	if cfg.Embedded() {
		opts := []broker.Opt{
			broker.Listen(cfg.BrokerListen),
			broker.ClusterID(cfg.Broker.ClusterID),
			broker.CompactionInterval(cfg.Broker.CompactionInterval.D()),
			broker.Logger(logger),
		}
		if cfg.Broker.SyncWrites {
			opts = append(opts, broker.SyncWrites())
		}
		opts = append(opts, sec.brokerOpts()...)
		b, err = broker.Start(cfg.DataDir, opts...)
		if err != nil {
			return err
		}
		// Last to stop: everything else talks to it.
		closers = append(closers, func() {
			b.Close()
			logger.Info("embedded broker stopped")
		})
		info.BrokerAddr = b.Addr()
		info.Brokers = []string{b.Addr()}
		logger.Info("embedded broker started", "addr", b.Addr(), "data_dir", cfg.DataDir)
	}

	kc, closeKafka, err := NewKafka(cfg, info.Brokers, cfg.AutoCreate(), logger, m.Kafka)
	if err != nil {
		return err
	}
	// Requests have drained by the time this runs (see below).
	closers = append(closers, closeKafka)

	if err := sec.start(ctx, kc, b, m); err != nil {
		return err
	}

	consumers := v2.NewConsumers(kc, cfg.Consumers, m, logger)
	// Consumer instances leave their groups after HTTP has drained.
	closers = append(closers, consumers.Close)

	rr := httpapi.NewRouter()
	ops.Register(rr, ops.Deps{Ping: kc.Ping, Metrics: m.Handler(), MetricsOpen: cfg.Metrics.Open})
	v2.Register(rr, v2.Deps{Kafka: kc, Consumers: consumers, Metrics: m, Logger: logger, AdvertisedURL: cfg.AdvertisedURL,
		Authorize: sec.Service().Authorize})
	// Closed when the HTTP servers start shutting down: streaming
	// responses end themselves instead of holding the drain open.
	draining := make(chan struct{})
	v3.Register(rr, v3.Deps{Kafka: kc, Metrics: m, Logger: logger, AdvertisedURL: cfg.AdvertisedURL,
		MaxRecordBytes: int64(cfg.HTTP.MaxBodyBytes),
		ReadTimeout:    cfg.HTTP.ReadTimeout.D(), WriteTimeout: cfg.HTTP.WriteTimeout.D(), Draining: draining})
	kastlex.Register(rr, kastlex.Deps{Kafka: kc, Metrics: m, Logger: logger, MaxFetchBytes: int64(cfg.Consumers.MaxBytes),
		SecurityProtocol: securityProtocol(cfg.Kafka)})
	sec.register(rr)
	// Documents every route, including any registered after it.
	openapi.Register(rr)
	info.Routes = rr.Routes()

	handler := rr.Handler(httpapi.Chain{
		Outer: []func(http.Handler) http.Handler{
			httpapi.Recover(logger),
			httpapi.RequestIDs,
			httpapi.AccessLog(logger),
		},
		// metrics, authentication, rate limit, authorization, handler
		PerRoute: append([]httpapi.Middleware{
			func(rt httpapi.Route, next http.Handler) http.Handler {
				return m.Instrument(rt.Pattern, rt.Method, next)
			},
		}, sec.middleware()...),
		Logger:       logger,
		MaxBodyBytes: int64(cfg.HTTP.MaxBodyBytes),
	})
	srv, err := httpapi.NewServer(cfg.Listen, handler, cfg.HTTP, logger)
	if err != nil {
		return err
	}
	info.HTTPAddr = srv.Addr()
	tlsSrv, err := sec.httpsServer(handler)
	if err != nil {
		return err
	}
	var drainOnce sync.Once
	startDraining := func() { drainOnce.Do(func() { close(draining) }) }
	srv.HTTPServer().RegisterOnShutdown(startDraining)
	if tlsSrv != nil {
		tlsSrv.HTTPServer().RegisterOnShutdown(startDraining)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	if tlsSrv != nil {
		info.HTTPSAddr = tlsSrv.Addr()
		g.Go(func() error { return tlsSrv.Run(gctx) })
	}
	g.Go(func() error { return consumers.Run(gctx) })
	sec.run(gctx, g)
	logger.Info("kgate serving", "http", "http://"+srv.Addr(), "https", info.HTTPSAddr, "brokers", info.Brokers, "auto_create_topics", cfg.AutoCreate())
	if ready != nil {
		ready(info)
	}
	// Shutdown order: srv.Run stops accepting and drains in-flight
	// requests when ctx ends; then the deferred closers close consumer
	// instances (they leave their groups), flush and close the producer,
	// and stop the embedded broker last.
	err = g.Wait()
	logger.Info("shutting down")
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// securityProtocol names how kgate reaches the brokers, in Kafka's terms.
func securityProtocol(k config.Kafka) string {
	tls := k.TLS.Enabled || k.TLS.CAFile != "" || k.TLS.CertFile != ""
	sasl := k.SASL.Mechanism != "" || k.SASL.File != ""
	switch {
	case tls && sasl:
		return "SASL_SSL"
	case sasl:
		return "SASL_PLAINTEXT"
	case tls:
		return "SSL"
	}
	return "PLAINTEXT"
}

var _ = time.Second
