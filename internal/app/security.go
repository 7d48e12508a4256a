package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/cluster"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/ratelimit"
)

// openAudit returns the audit log: to the audit topic through kc (created
// if missing, capped by size), or in open mode to the log only; repeated
// refusals are folded.
func openAudit(ctx context.Context, cfg config.Audit, open bool, node string, kc *kafka.Client, m *metrics.Metrics, logger *slog.Logger) (*audit.Log, error) {
	opts := []audit.Opt{audit.Aggregate(cfg.AggregateInterval.D()), audit.MaxBytes(int64(cfg.MaxBytes))}
	if open {
		return audit.New(nil, cfg.Topic, node, logger, m.Registry, opts...), nil
	}
	a := audit.New(kc, cfg.Topic, node, logger, m.Registry, opts...)
	if err := a.Open(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// newAuth loads the auth service: the users and permissions (or the open
// policy), the JWT key and, unless open, the token store, which follows
// its topic while the service runs. onReload, if not nil, is called with
// every new policy (the embedded broker's ACLs follow it).
func newAuth(ctx context.Context, cfg config.Config, open bool, kc *kafka.Client, a *audit.Log,
	onReload func(context.Context, *auth.Policy) error, logger *slog.Logger) (*auth.Service, error) {
	var tokenKafka *kafka.Client
	if !open {
		tokenKafka = kc
	}
	ac := cfg.Auth
	protected := []string{ac.Tokens.Topic, ac.APIKeys.Topic, ac.Limits.UsageTopic, ac.Audit.Topic, cfg.Cluster.NodesTopic, cfg.Cluster.ConsumersTopic}
	if cfg.SchemaRegistryOn() {
		protected = append(protected, cfg.SchemaRegistry.Topic)
	}
	return auth.New(ctx, auth.Options{
		Config:    ac,
		Open:      open,
		DataDir:   cfg.DataDir,
		Protected: protected,
		Kafka:     tokenKafka,
		Audit:     a,
		Logger:    logger,
		OnReload:  onReload,
	})
}

// limits are the per-principal rate limits and daily quotas: the usage
// counters (unless open, shared with the other gateways through the usage
// topic, which they follow and flush to while running) and the limiter.
type limits struct {
	cfg     config.Limits
	plans   map[string]config.Plan
	svc     *auth.Service
	usage   *ratelimit.Usage
	limiter *ratelimit.Limiter
}

// newLimits replays the usage topic (unless open) and builds the limiter.
func newLimits(ctx context.Context, cfg config.Limits, plans map[string]config.Plan, open bool, node string, kc *kafka.Client, svc *auth.Service,
	m *metrics.Metrics, logger *slog.Logger) (*limits, error) {
	l := &limits{cfg: cfg, plans: plans, svc: svc}
	if open {
		l.usage = ratelimit.NewUsage(node)
	} else {
		u, err := ratelimit.OpenUsage(ctx, kc, cfg.UsageTopic, node, logger)
		if err != nil {
			return nil, err
		}
		l.usage = u
	}
	l.limiter = ratelimit.New(l.usage, cfg.IdleEviction.D(), m.Registry, func() []string { return svc.Policy().Users().Names() })
	return l, nil
}

// run follows and flushes the usage counters and evicts idle buckets
// until ctx is done; the counters are flushed once more on the way out.
func (l *limits) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return l.usage.Run(ctx, l.cfg.FlushInterval.D()) })
	g.Go(func() error { return l.limiter.Run(ctx) })
	return g.Wait()
}

// limitsFor returns the limits in force for a principal: its users-file
// plan's (or the defaults), changed by its users-file limits.
func (l *limits) limitsFor(principal string) ratelimit.Limits {
	lim, _ := l.resolve(principal, "")
	return lim
}

// resolve returns the limits of principal and the plan they come from:
// plan (an API key's or an OIDC claim's) when set, used as it is; else
// the users-file plan of principal, or the defaults, changed by its
// users-file limits.
func (l *limits) resolve(principal, plan string) (ratelimit.Limits, string) {
	if p, ok := l.plans[plan]; ok && plan != "" {
		return ratelimit.FromPlan(p), plan
	}
	pol := l.svc.Policy()
	base := ratelimit.FromConfig(l.cfg)
	plan = pol.PlanOf(principal)
	if p, ok := l.plans[plan]; ok && plan != "" {
		base = ratelimit.FromPlan(p)
	} else {
		plan = ""
	}
	return base.With(pol.LimitsFor(principal)), plan
}

// PlanLimits returns a plan's limits (ok false: no such plan).
func (l *limits) PlanLimits(plan string) (ratelimit.Limits, bool) {
	p, ok := l.plans[plan]
	return ratelimit.FromPlan(p), ok
}

// Admit admits a Kafka-port connection of user: its Produce requests and
// Fetch responses are charged to the ticket, against the same buckets and
// quotas as the user's HTTP requests.
func (l *limits) Admit(user string, now time.Time) (*ratelimit.Ticket, *ratelimit.Exceeded) {
	t, ex := l.limiter.Admit(ratelimit.Subject{Key: user, Principal: user, Limits: l.limitsFor(user)}, now, true)
	if ex != nil {
		return nil, ex
	}
	return &t, nil
}

// subject names whom a request is charged to: the principal, and for
// anonymous callers each client address gets its own buckets (the daily
// quota is shared by all anonymous callers).
//
// An API key with a plan of its own has its own buckets and counters
// ("apikey:ID"); a key without one is charged to its user. A plan's route
// class override (produce, consume, admin) gets buckets of its own.
func (l *limits) subject(r *http.Request, action auth.Action) ratelimit.Subject {
	p := auth.FromContext(r.Context())
	name, key, counter, plan := auth.Anonymous, auth.Anonymous, auth.Anonymous, ""
	perAddress := false // key is made below, only if limits apply
	if p != nil {
		name, key, counter, plan = p.Name, p.Name, p.Name, p.Plan
		if !p.Authenticated() {
			name, counter, plan = auth.Anonymous, auth.Anonymous, ""
			perAddress = true
		}
		if p.Method == auth.MethodAPIKey && p.Plan != "" {
			key, counter, perAddress = "apikey:"+p.TokenID, "apikey:"+p.TokenID, false
		}
	}
	lim, plan := l.resolve(name, plan)
	if perAddress && lim != (ratelimit.Limits{}) {
		// Only buckets need the key: without limits (open mode) a
		// request makes no string.
		key = auth.Anonymous + "@" + p.ClientIP.String()
	}
	if c := action.Class(); c != "" && plan != "" {
		if rates, ok := l.plans[plan].Routes[c]; ok {
			lim = lim.WithRates(rates)
			key += "#" + c
		}
	}
	return ratelimit.Subject{Key: key, Principal: counter, Limits: lim, Plan: plan}
}

// hupReloader re-reads users, permissions and certificates on SIGHUP.
type hupReloader struct {
	svc    *auth.Service
	certs  []*auth.CertReloader // HTTPS's and the Kafka port's, when set
	logger *slog.Logger
	hup    chan os.Signal
	// peers hears the replicas that announced a reload to all.
	peers chan string
	// announce, if set, announces a SIGHUP reload to every replica
	// (cluster.announce_reloads).
	announce func(context.Context) error
}

// newHUPReloader subscribes to SIGHUP at once, so that a SIGHUP right
// after startup reloads rather than kills; stop unsubscribes.
func newHUPReloader(svc *auth.Service, certs []*auth.CertReloader, logger *slog.Logger) *hupReloader {
	r := &hupReloader{svc: svc, certs: certs, logger: logger, hup: make(chan os.Signal, 1), peers: make(chan string, 1)}
	signal.Notify(r.hup, syscall.SIGHUP)
	return r
}

// run reloads on every SIGHUP until ctx is done.
func (r *hupReloader) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.hup:
			if r.reload(ctx, "SIGHUP") && r.announce != nil {
				actx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := r.announce(actx); err != nil {
					r.logger.Error("announcing the reload to the other replicas", "err", err)
				} else {
					r.logger.Info("reload announced to the other replicas")
				}
				cancel()
			}
		case from := <-r.peers:
			r.reload(ctx, "replica "+from)
		}
	}
}

// announced asks for a reload that replica from announced to all. It
// never blocks (membership calls it as it follows its topic): a reload
// already pending covers this one too, since it reads the files after.
func (r *hupReloader) announced(from string) {
	select {
	case r.peers <- from:
	default:
	}
}

func (r *hupReloader) stop() { signal.Stop(r.hup) }

// reload re-reads the files, reporting whether users and permissions
// were valid (and are in force).
func (r *hupReloader) reload(ctx context.Context, by string) bool {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := r.svc.Reload(rctx, by)
	if err != nil {
		r.logger.Error("reload failed", "by", by, "err", err)
	} else {
		r.logger.Info("users and permissions reloaded", "by", by, "users", res.Users, "permission_entries", res.Principals)
	}
	for _, c := range r.certs {
		_ = c.Reload()
	}
	return err == nil
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

// openMembership opens this node's membership of the replicas: in the
// nodes topic through kc, or in open development mode this node alone.
// url returns the node's internal URL once its HTTP listener is bound.
func openMembership(ctx context.Context, cfg config.Config, version string, open bool, node string, kc *kafka.Client,
	url func() string, load func() cluster.Load, reload func(from string), logger *slog.Logger) (*cluster.Membership, error) {
	if version == "" {
		version = "dev"
	}
	var mkc *kafka.Client
	if !open {
		mkc = kc
	}
	return cluster.Open(ctx, mkc, cluster.Options{
		Topic:    cfg.Cluster.NodesTopic,
		Self:     cluster.Node{ID: node, Version: version, Started: time.Now().UTC()},
		URL:      url,
		Interval: cfg.Cluster.HeartbeatInterval.D(), Timeout: cfg.Cluster.NodeTimeout.D(),
		Load: load, Reload: reload, Logger: logger,
	})
}
