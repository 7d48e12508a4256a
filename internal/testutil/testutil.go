// Package testutil starts real parts for tests: the embedded broker on a
// random loopback port, a whole gateway on random ports, and golden-file
// comparison. Nothing here mocks Kafka.
package testutil

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kgate/kgate/internal/app"
	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Logger returns a logger for tests: silent unless KGATE_TEST_LOG is set,
// then text on stderr.
func Logger() *slog.Logger {
	if os.Getenv("KGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// StartBroker starts an embedded broker with its own data directory on a
// random loopback port and returns its address; it stops when the test
// ends. With KGATE_TEST_KAFKA_BROKERS set, that cluster is used instead.
func StartBroker(t testing.TB, opts ...broker.Opt) string {
	t.Helper()
	if ext := os.Getenv("KGATE_TEST_KAFKA_BROKERS"); ext != "" {
		return ext
	}
	b, err := broker.Start(t.TempDir(), append([]broker.Opt{broker.Listen("127.0.0.1:0"), broker.Logger(Logger())}, opts...)...)
	if err != nil {
		t.Fatalf("starting broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}

// Gateway is a running kgate serve.
type Gateway struct {
	// URL is the HTTP API's base URL, http://127.0.0.1:port.
	URL  string
	Info app.Info
	// Config is the configuration it runs with.
	Config config.Config
	stop   func()
}

// Stop shuts the gateway down gracefully and waits (idempotent).
func (g *Gateway) Stop() { g.stop() }

// GatewayConfig returns the configuration StartGateway uses before
// mutate: the embedded broker in a fresh directory, random ports.
func GatewayConfig(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.BrokerListen = "127.0.0.1:0"
	// Gateways run in parallel: the registry's default port would collide.
	cfg.SchemaRegistry.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.HTTP.ShutdownTimeout = config.Duration(5 * time.Second)
	return cfg
}

// StartGateway runs a whole gateway in-process (embedded broker unless
// mutate sets brokers) and returns once it serves. It stops at cleanup.
func StartGateway(t testing.TB, mutate func(*config.Config)) *Gateway {
	t.Helper()
	cfg := GatewayConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	return StartGatewayConfig(t, cfg)
}

// StartGatewayConfig runs a gateway with exactly cfg.
func StartGatewayConfig(t testing.TB, cfg config.Config) *Gateway {
	t.Helper()
	return startGateway(t, cfg, Logger())
}

// LogBuffer collects a gateway's log lines; it is safe for concurrent
// use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns every line written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartGatewayLogged runs a gateway (as StartGateway) whose every log
// line, debug included, is kept in the returned buffer (as JSON, as
// kgate serve writes them).
func StartGatewayLogged(t testing.TB, mutate func(*config.Config)) (*Gateway, *LogBuffer) {
	t.Helper()
	lb := &LogBuffer{}
	return StartGatewayLogger(t, mutate, slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))), lb
}

// StartGatewayLogger runs a gateway (as StartGateway) that logs to
// logger: benchmarks pass the production shape (JSON at info) so that
// the access log costs what it costs in production.
func StartGatewayLogger(t testing.TB, mutate func(*config.Config), logger *slog.Logger) *Gateway {
	t.Helper()
	cfg := GatewayConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	return startGateway(t, cfg, logger)
}

func startGateway(t testing.TB, cfg config.Config, logger *slog.Logger) *Gateway {
	t.Helper()
	if err := cfg.ValidateFor(config.ServeCommand); err != nil {
		t.Fatalf("invalid test config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan app.Info, 1)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, logger, func(i app.Info) { ready <- i }) }()
	g := &Gateway{Config: cfg}
	var stopped bool
	g.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("gateway did not stop within 30s")
		}
	}
	select {
	case info := <-ready:
		g.Info = info
		g.URL = "http://" + info.HTTPAddr
	case err := <-done:
		cancel()
		t.Fatalf("gateway failed to start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("gateway did not start within 30s")
	}
	t.Cleanup(g.Stop)
	return g
}

// Golden compares got with testdata/<name>.golden, rewriting the file
// when the test runs with -update.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(strings.TrimRight(string(want), "\n"), strings.TrimRight(string(got), "\n")); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
