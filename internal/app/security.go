package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/admin"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/ratelimit"
)

// security is the wiring of authentication, authorization, tokens, rate
// limits, audit, HTTPS and the embedded broker's SASL and ACLs.
type security struct {
	cfg    config.Config
	logger *slog.Logger
	open   bool
	node   string

	// secureBroker: the embedded broker requires SASL and enforces the
	// permissions as ACLs; superuser is kgate's own identity on it.
	secureBroker bool
	superuser    kafka.Credentials
	// kafkaCreds are whom kgate's Kafka client connects as: kafka.sasl,
	// or the superuser on a secured embedded broker.
	kafkaCreds kafka.Credentials

	svc     atomic.Pointer[auth.Service]
	audit   *audit.Log
	usage   *ratelimit.Usage
	limiter *ratelimit.Limiter
	certs   *auth.CertReloader
	kc      *kafka.Client
}

// newSecurity prepares what must be known before the broker and the Kafka
// client start: the node id, and the Kafka client's credentials (for a
// secured embedded broker kgate's superuser).
func newSecurity(cfg config.Config, logger *slog.Logger) (*security, error) {
	s := &security{cfg: cfg, logger: logger, open: cfg.OpenMode()}
	if s.open {
		logger.Warn("open development mode: no auth.users or auth.permissions file is configured, so every request is allowed "+
			"and the Kafka port needs no SASL; kgate accepts this only because every listener is on loopback",
			"listen", cfg.Listen, "broker_listen", cfg.BrokerListen)
	}
	node, err := nodeID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.node = node
	creds, err := kafka.ResolveSASL(cfg.Kafka.SASL)
	if err != nil {
		return nil, err
	}
	if cfg.Embedded() && !s.open {
		s.secureBroker = true
		if creds.Mechanism == "" {
			pw, err := brokerSecret(cfg.DataDir)
			if err != nil {
				return nil, err
			}
			creds = kafka.Credentials{Mechanism: "SCRAM-SHA-512", Username: cfg.Auth.BrokerACL.Superuser, Password: config.Secret(pw)}
		}
		s.superuser = creds
		// kgate provisions the broker's SCRAM users from the users file
		// at every start, so the broker's persisted copy is only a cache;
		// dropping it lets the configured superuser password win over a
		// stale persisted one (kfake prefers persisted credentials). If
		// another kgate holds the directory, broker.Start fails next; that
		// process keeps its credentials in memory and rewrites the file.
		if err := os.Remove(filepath.Join(cfg.DataDir, "kafka", "sasl.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("resetting the embedded broker's SASL state: %w", err)
		}
	}
	s.kafkaCreds = creds
	return s, nil
}

// brokerOpts are the embedded broker's security options.
func (s *security) brokerOpts() []broker.Opt {
	if !s.secureBroker {
		return nil
	}
	return []broker.Opt{
		broker.KfakeOpts(auth.BrokerOptions(s.superuser.Mechanism, s.superuser.Username, s.superuser.Password.Reveal())...),
		broker.WrapListener(func(ln net.Listener) net.Listener {
			return auth.GuardListener(ln, s.kafkaClientAllowed, s.kafkaClientDenied)
		}),
	}
}

func (s *security) kafkaClientAllowed(user string, ip netip.Addr) bool {
	if user == s.superuser.Username {
		return true
	}
	svc := s.svc.Load()
	if svc == nil {
		return false // the policy is not loaded yet
	}
	return svc.Policy().ClientAllowed(user, ip)
}

func (s *security) kafkaClientDenied(user string, ip netip.Addr) {
	svc := s.svc.Load()
	if svc == nil {
		return // still starting: s.audit is not set yet (only kgate connects then)
	}
	known := audit.UnknownPrincipal
	if svc.Policy().Users().Lookup(user) != nil {
		known = user
	}
	s.audit.Write(context.Background(), audit.Record{Event: audit.Denied, Principal: known, AuthMethod: "kafka_sasl",
		ClientIP: ip.String(), Reason: "client address not in the allowed CIDRs (Kafka port)"})
}

// start builds the audit log, the auth service, the quota usage and the
// limiter once Kafka is reachable, and secures the embedded broker.
func (s *security) start(ctx context.Context, kc *kafka.Client, b *broker.Broker, m *metrics.Metrics) error {
	s.kc = kc
	a := s.cfg.Auth
	if s.open {
		s.audit = audit.New(nil, a.Audit.Topic, s.node, s.logger, m.Registry)
	} else {
		s.audit = audit.New(kc, a.Audit.Topic, s.node, s.logger, m.Registry)
		if err := s.audit.Open(ctx); err != nil {
			return err
		}
	}
	if s.secureBroker {
		if err := auth.AdvertiseSASLHandshakeV0(ctx, b.Cluster(), kc.Kgo()); err != nil {
			return err
		}
	}
	var onReload func(context.Context, *auth.Policy) error
	if s.secureBroker {
		onReload = func(ctx context.Context, pol *auth.Policy) error {
			return auth.SyncBroker(ctx, kc.Kgo(), pol, s.superuser.Username, s.logger)
		}
	}
	var tokenKafka *kafka.Client
	if !s.open {
		tokenKafka = kc
	}
	svc, err := auth.New(ctx, auth.Options{
		Config:    a,
		Open:      s.open,
		DataDir:   s.cfg.DataDir,
		Protected: []string{a.Tokens.Topic, a.Limits.UsageTopic, a.Audit.Topic},
		Kafka:     tokenKafka,
		Audit:     s.audit,
		Logger:    s.logger,
		OnReload:  onReload,
	})
	if err != nil {
		return err
	}
	if onReload != nil {
		if err := onReload(ctx, svc.Policy()); err != nil {
			return err
		}
	}
	s.svc.Store(svc)
	if s.open {
		s.usage = ratelimit.NewUsage(s.node)
	} else {
		u, err := ratelimit.OpenUsage(ctx, kc, a.Limits.UsageTopic, s.node, s.logger)
		if err != nil {
			return err
		}
		s.usage = u
	}
	s.limiter = ratelimit.New(s.usage, a.Limits.IdleEviction.D(), m.Registry, func() []string { return svc.Policy().Users().Names() })
	if a.HTTPS.Listen != "" {
		certs, err := auth.NewCertReloader(a.HTTPS, s.logger)
		if err != nil {
			return err
		}
		s.certs = certs
	}
	if !s.open {
		s.logger.Info("authentication and authorization on", "users", svc.Policy().Users().Len(),
			"permission_entries", len(svc.Policy().Permissions().Principals()), "kafka_port_sasl", s.secureBroker)
	}
	return nil
}

// Service returns the auth service (after start).
func (s *security) Service() *auth.Service { return s.svc.Load() }

// limitsFor returns the limits in force for a principal.
func (s *security) limitsFor(principal string) ratelimit.Limits {
	return ratelimit.FromConfig(s.cfg.Auth.Limits).With(s.svc.Load().Policy().LimitsFor(principal))
}

// subject names whom a request is charged to: the principal, and for
// anonymous callers each client address gets its own buckets (the daily
// quota is shared by all anonymous callers).
func (s *security) subject(r *http.Request) ratelimit.Subject {
	p := auth.FromContext(r.Context())
	name, key := auth.Anonymous, auth.Anonymous
	if p != nil {
		name = p.Name
		key = p.Name
		if !p.Authenticated() {
			name = auth.Anonymous
			key = auth.Anonymous + "@" + p.ClientIP.String()
		}
	}
	return ratelimit.Subject{Key: key, Principal: name, Limits: s.limitsFor(name)}
}

// middleware returns the per-route middleware after metrics, in the
// chain's order: authentication, rate limit, authorization.
func (s *security) middleware() []httpapi.Middleware {
	svc := s.svc.Load()
	return []httpapi.Middleware{
		svc.AuthenticateMiddleware,
		s.limiter.Middleware(s.subject),
		svc.AuthorizeMiddleware,
	}
}

// register adds the login and admin routes.
func (s *security) register(rr *httpapi.Router) {
	admin.Register(rr, admin.Deps{Auth: s.svc.Load(), Usage: s.usage, LimitsFor: s.limitsFor})
}

// httpsServer builds the HTTPS server, or nil when none is configured.
func (s *security) httpsServer(h http.Handler) (*httpapi.Server, error) {
	if s.certs == nil {
		return nil, nil
	}
	srv, err := httpapi.NewServer(s.cfg.Auth.HTTPS.Listen, h, s.cfg.HTTP, s.logger)
	if err != nil {
		return nil, err
	}
	srv.SetListener(tls.NewListener(srv.Listener(), s.certs.TLSConfig()))
	return srv, nil
}

// run starts the security components' goroutines in g: token store and
// usage followers, idle eviction, certificate reloads and SIGHUP.
func (s *security) run(ctx context.Context, g *errgroup.Group) {
	svc := s.svc.Load()
	g.Go(func() error { return svc.Run(ctx) })
	g.Go(func() error { return s.limiter.Run(ctx) })
	g.Go(func() error { return s.usage.Run(ctx, s.cfg.Auth.Limits.FlushInterval.D()) })
	if s.certs != nil {
		g.Go(func() error { return s.certs.Run(ctx) })
	}
	// Registered before run returns, so that a SIGHUP right after startup
	// reloads rather than kills.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	g.Go(func() error {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				s.Reload(ctx, "SIGHUP")
			}
		}
	})
}

// Reload re-reads users, permissions and certificates (SIGHUP).
func (s *security) Reload(ctx context.Context, by string) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if res, err := s.svc.Load().Reload(rctx, by); err != nil {
		s.logger.Error("reload failed", "by", by, "err", err)
	} else {
		s.logger.Info("users and permissions reloaded", "by", by, "users", res.Users, "permission_entries", res.Principals)
	}
	if s.certs != nil {
		_ = s.certs.Reload()
	}
}

// nodeID returns this gateway's id, kept in the data directory (it names
// the node's quota counters).
func nodeID(dataDir string) (string, error) {
	if dataDir == "" {
		h, _ := os.Hostname()
		return "node-" + strings.ReplaceAll(h, "|", "-"), nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("creating data directory: %w", err)
	}
	path := filepath.Join(dataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	id := "node-" + hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing node id: %w", err)
	}
	return id, nil
}

// brokerSecret returns kgate's password on the embedded broker, generated
// into the data directory (mode 0600) on first start.
func brokerSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "broker-superuser.secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("creating data directory: %w", err)
	}
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the embedded broker's superuser secret: %w", err)
	}
	return pw, nil
}
