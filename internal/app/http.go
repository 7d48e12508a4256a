package app

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"

	"golang.org/x/sync/errgroup"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/cluster"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/admin"
	"github.com/kgate/kgate/internal/httpapi/console"
	"github.com/kgate/kgate/internal/httpapi/guard"
	"github.com/kgate/kgate/internal/httpapi/kastlex"
	"github.com/kgate/kgate/internal/httpapi/openapi"
	"github.com/kgate/kgate/internal/httpapi/ops"
	srapi "github.com/kgate/kgate/internal/httpapi/schemareg"
	v2 "github.com/kgate/kgate/internal/httpapi/v2"
	v3 "github.com/kgate/kgate/internal/httpapi/v3"
	"github.com/kgate/kgate/internal/instances"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/schemareg"
	"github.com/kgate/kgate/internal/tracing"
)

// api is what the HTTP API surfaces are built from.
type api struct {
	cfg       config.Config
	kc        *kafka.Client
	sasl      bool // kc authenticates with SASL
	consumers *instances.Registry
	auth      *auth.Service
	limits    *limits
	admission *httpapi.Admission
	members   *cluster.Membership
	metrics   *metrics.Metrics
	// registry is kgate's own schema registry; nil when it is off.
	registry *schemareg.Registry
	// schemas gives the REST formats their schemas: kgate's registry or
	// an external one (schema_registry.url); nil when there is neither.
	schemas *schemareg.Formats
	audit   *audit.Log
	// draining is closed when the HTTP servers start shutting down:
	// streaming responses end themselves instead of holding the drain.
	draining <-chan struct{}
	// node is this replica's id; forward, if set, forwards v2 consumer
	// requests to the replica holding the instance.
	node    string
	forward *cluster.Forwarder
	// tracer records spans; nil: off (trace context still flows).
	tracer *tracing.Tracer
	// stopping reports that the node is draining (/readyz answers 503).
	stopping func() bool
	logger   *slog.Logger
}

// handler registers every route and returns the handler with the
// middleware chain, and the routes.
func (a api) handler() (http.Handler, []httpapi.Route, error) {
	cfg, kc, m, logger := a.cfg, a.kc, a.metrics, a.logger
	rr := httpapi.NewRouter()
	ops.Register(rr, ops.Deps{Ping: kc.Ping, Metrics: m.Handler(), MetricsOpen: cfg.Metrics.Open, Detail: a.readyDetail, Draining: a.stopping})
	v2deps := v2.Deps{Kafka: kc, Instances: a.consumers, MaxWait: cfg.MaxWait(), Metrics: m, Logger: logger, AdvertisedURL: cfg.AdvertisedURL,
		MaxRecords: cfg.HTTP.MaxRecordsPerRequest, Schemas: a.schemas, Audit: a.audit}
	if a.forward != nil {
		v2deps.Forward = a.forward.Forward
	}
	v2.Register(rr, v2deps)
	v3.Register(rr, v3.Deps{Kafka: kc, Metrics: m, Logger: logger, AdvertisedURL: cfg.AdvertisedURL,
		MaxRecordBytes: int64(cfg.HTTP.MaxBodyBytes),
		ReadTimeout:    cfg.HTTP.ReadTimeout.D(), WriteTimeout: cfg.HTTP.WriteTimeout.D(), Draining: a.draining,
		Visible:       a.topicVisible,
		RecordTimeout: cfg.HTTP.RecordTimeout.D(), StreamMaxDuration: cfg.HTTP.StreamMaxDuration.D(),
		MaxStreams: cfg.HTTP.MaxStreams, MaxStreamsPerPrincipal: cfg.HTTP.MaxStreamsPerPrincipal,
		Schemas: a.schemas, Audit: a.audit,
		StreamHeartbeat: cfg.HTTP.StreamHeartbeat.D(), AllowedOrigins: cfg.HTTP.AllowedOrigins, Tracer: a.tracer})
	kastlex.Register(rr, kastlex.Deps{Kafka: kc, Metrics: m, Logger: logger, MaxFetchBytes: int64(cfg.Consumers.MaxBytes),
		SecurityProtocol: securityProtocol(cfg.Kafka.TLS, a.sasl), Visible: a.topicVisible})
	if a.registry != nil {
		srapi.Register(rr, srapi.Deps{Registry: a.registry, Audit: a.audit})
	}
	admin.Register(rr, admin.Deps{Auth: a.auth, Usage: a.limits.usage, LimitsFor: a.limits.limitsFor, PlanLimits: a.limits.PlanLimits,
		Nodes: a.members.Nodes, AnnounceReload: a.members.AnnounceReload})
	if cfg.HTTP.Console {
		co := console.Options{SignIn: cfg.Auth.Users != ""}
		for _, o := range cfg.Auth.OIDC {
			co.OIDC = co.OIDC || o.ConsoleClientID != ""
		}
		if !cfg.OpenMode() {
			co.AuditTopic = cfg.Auth.Audit.Topic
		}
		console.Register(rr, co)
	}
	// Documents every route, including any registered after it.
	openapi.Register(rr)

	crossOrigin, err := guard.CrossOrigin(a.auth, cfg.HTTP.AllowedOrigins)
	if err != nil {
		return nil, nil, err
	}
	// Admission comes before authentication, whose work it protects too.
	adm := a.admission
	m.Admission(adm.Shed, adm.Queued)
	h := rr.Handler(httpapi.Chain{
		Outer: []func(http.Handler) http.Handler{
			httpapi.Recover(logger),
			httpapi.RequestIDs,
			cluster.NodeHeaders(a.node),
			httpapi.AccessLog(logger),
		},
		PerRoute: []httpapi.Middleware{
			// Outermost, so that refusals (admission, authentication,
			// limits) are in the trace too.
			httpapi.Trace(a.tracer),
			func(rt httpapi.Route, next http.Handler) http.Handler {
				return m.Instrument(rt.Pattern, rt.Method, next)
			},
			httpapi.Admit(adm),
			crossOrigin,
			guard.Authenticate(a.auth),
			guard.Limit(a.limits.limiter, a.limits.subject),
			guard.Authorize(a.auth),
		},
		Logger:       logger,
		MaxBodyBytes: int64(cfg.HTTP.MaxBodyBytes),
		Memory:       httpapi.NewMemory(int64(cfg.HTTP.MemoryBudget)),
	})
	softMemoryLimit(cfg, logger)
	return h, rr.Routes(), nil
}

// topicVisible reports whether ctx's caller may see a topic's partitions
// and offsets where a group's description shows them (v3 assignments and
// lags, KastleX's consumer groups): with fetch, show_topic or
// show_offsets on it, by the policy of now. It filters, it does not
// refuse, so nothing is audited.
func (a api) topicVisible(ctx context.Context, topic string) bool {
	p := auth.FromContext(ctx)
	if p == nil {
		p = &auth.Principal{Name: auth.Anonymous, Method: auth.MethodAnonymous}
	}
	pol := a.auth.Policy()
	for _, act := range []auth.Action{auth.Fetch, auth.ShowTopic, auth.ShowOffsets} {
		if pol.Decide(p, act, topic).Allowed {
			return true
		}
	}
	return false
}

// softMemoryLimit tells the Go runtime to collect before the heap passes
// the memory budget plus what kgate needs besides requests (64 MiB), so
// that the budget bounds the process's size and not only what requests
// reserve: without it the heap grows to twice what is live between
// collections. Not with the embedded broker, which keeps what it stores
// in the same heap (a limit below it would only make collection run
// without end), nor when GOMEMLIMIT is set.
func softMemoryLimit(cfg config.Config, logger *slog.Logger) {
	if cfg.Embedded() || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := int64(cfg.HTTP.MemoryBudget) + 64<<20
	debug.SetMemoryLimit(limit)
	logger.Debug("soft memory limit set", "bytes", limit)
}

// securityProtocol names how kgate reaches the brokers, in Kafka's terms.
func securityProtocol(t config.TLS, sasl bool) string {
	tls := t.Enabled || t.CAFile != "" || t.CertFile != ""
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

// servers are the API's listeners, HTTP and, when configured, HTTPS and
// the schema registry's, which serve and drain together.
type servers struct {
	http, https *httpapi.Server // https: nil without HTTPS
	registry    *httpapi.Server // nil without the registry's own listener
	draining    chan<- struct{}
}

// underPrefix serves h's routes under prefix at the root: the schema
// registry's listener serves /subjects as the API listener serves
// /schema-registry/subjects, through the same chain (authentication,
// limits, authorization, metrics), and nothing else.
func underPrefix(prefix string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = prefix + u.Path
		if u.RawPath != "" {
			u.RawPath = prefix + u.RawPath
		}
		r2.URL = &u
		h.ServeHTTP(w, r2)
	})
}

// listen opens the HTTP listener and, with certs, the HTTPS one. It
// closes draining when the servers start shutting down.
func listen(cfg config.Config, h http.Handler, certs *auth.CertReloader, draining chan<- struct{}, logger *slog.Logger) (*servers, error) {
	s := &servers{draining: draining}
	var err error
	if s.http, err = httpapi.NewServer(cfg.Listen, h, cfg.HTTP, logger); err != nil {
		return nil, err
	}
	if certs != nil {
		if s.https, err = httpapi.NewServer(cfg.Auth.HTTPS.Listen, h, cfg.HTTP, logger); err != nil {
			s.http.Listener().Close()
			return nil, err
		}
		s.https.SetListener(tls.NewListener(s.https.Listener(), certs.TLSConfig()))
	}
	if cfg.SchemaRegistryOn() && cfg.SchemaRegistry.Listen != "" {
		if s.registry, err = httpapi.NewServer(cfg.SchemaRegistry.Listen, underPrefix(srapi.Prefix, h), cfg.HTTP, logger); err != nil {
			s.http.Listener().Close()
			if s.https != nil {
				s.https.Listener().Close()
			}
			return nil, err
		}
	}
	return s, nil
}

// registryAddr returns the schema registry listener's address, or "".
func (s *servers) registryAddr() string {
	if s.registry == nil {
		return ""
	}
	return s.registry.Addr()
}

// httpsAddr returns the HTTPS listener's address, or "" without HTTPS.
func (s *servers) httpsAddr() string {
	if s.https == nil {
		return ""
	}
	return s.https.Addr()
}

// run serves until ctx is done, then stops accepting on both listeners
// and drains their in-flight requests, streams told to end by draining.
func (s *servers) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.http.Run(gctx) })
	if s.https != nil {
		g.Go(func() error { return s.https.Run(gctx) })
	}
	if s.registry != nil {
		g.Go(func() error { return s.registry.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		close(s.draining)
		return nil
	})
	return g.Wait()
}
