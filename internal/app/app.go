// Package app wires kgate's components from the configuration and owns
// their lifecycle: it starts everything, and on shutdown stops it in one
// written-down order.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/cluster"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/instances"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/record"
	"github.com/kgate/kgate/internal/schemareg"
	"github.com/kgate/kgate/internal/tracing"
)

// Info describes a started gateway; Serve reports it once everything
// listens (tests use it to learn ports chosen with :0).
type Info struct {
	HTTPAddr  string
	HTTPSAddr string // empty without HTTPS
	// SchemaRegistryAddr is the schema registry's own listener; empty
	// when it is off or has none.
	SchemaRegistryAddr string
	BrokerAddr         string // empty with external brokers
	Brokers            []string
	// Routes are every route the gateway serves (tests walk them).
	Routes []httpapi.Route
	// Handler is what the HTTP listeners serve, the middleware chain
	// included (benchmarks drive it in process).
	Handler http.Handler
}

// Serve runs the gateway until ctx is done, then shuts down gracefully.
// ready, if non-nil, is called once the HTTP listener accepts. If a
// component fails to start, what started before it is stopped again
// before Serve returns the error.
func Serve(ctx context.Context, cfg config.Config, logger *slog.Logger, ready func(Info)) error {
	return ServeProcess(ctx, cfg, Process{Logger: logger, Ready: ready})
}

// Process is what the process around a gateway gives it besides the
// configuration.
type Process struct {
	Logger *slog.Logger
	// Ready, if non-nil, is called once the HTTP listener accepts.
	Ready func(Info)
	// LogDropped, if non-nil, counts the log lines the logger's output
	// dropped (exported as a metric).
	LogDropped func() uint64
	// Version is the build's version, announced to the other replicas
	// ("": dev).
	Version string
}

// ServeProcess is Serve with everything the process gives.
func ServeProcess(ctx context.Context, cfg config.Config, p Process) error {
	logger, ready := p.Logger, p.Ready
	g := &group{logger: logger}
	info, err := build(ctx, cfg, p, g)
	if err != nil {
		g.abort()
		return err
	}
	logger.Info("kgate serving", "http", "http://"+info.HTTPAddr, "https", info.HTTPSAddr, "schema_registry", info.SchemaRegistryAddr, "brokers", info.Brokers, "auto_create_topics", cfg.AutoCreate())
	err = g.run(ctx, func() {
		if ready != nil {
			ready(info)
		}
	})
	if err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// build constructs the gateway's components in the order they start and
// adds each to g as soon as it exists; values one component computes and
// another needs are passed on, never written into cfg.
//
// g stops them in reverse, which is the order a graceful shutdown needs,
// each step finding everything it uses still running:
//
//  0. the node drains (drainer): /readyz answers 503, the other
//     replicas hear it is draining, its v2 consumer instances are handed
//     over to them, and it keeps serving for cluster.drain_delay so that
//     load balancers take it out before its listeners close;
//  1. HTTP, HTTPS and the schema registry's listener stop accepting and
//     drain in-flight requests (streaming responses are told to end), so
//     every request that came in gets its answer from a working backend;
//     then the schema registry stops following its topic;
//  2. this node leaves the replicas' membership (a tombstone in the
//     nodes topic), so the others stop counting it at once;
//  3. v2 consumer instances close: they commit (with auto-commit) and
//     leave their groups, which needs the brokers;
//  4. the security followers stop: SIGHUP, certificate reloads, the
//     usage counters (flushed a last time, after the drained requests
//     counted), the Kafka-port guard's follower, the token store, and
//     the audit log, which writes the summaries of the refusals it
//     folded;
//  5. the Kafka client flushes the producer, so that every record the
//     drained requests acknowledged reached the brokers, then closes;
//  6. the embedded broker stops, persisting its state: everything else
//     talks to it;
//  7. the tracer, when on, exports the spans still queued (for at most
//     five seconds): everything above records them.
func build(ctx context.Context, cfg config.Config, p Process, g *group) (Info, error) {
	logger := p.Logger
	PrivateFiles()
	if err := privateDataDir(cfg.DataDir, logger); err != nil {
		return Info{}, err
	}
	m := metrics.New()
	if p.LogDropped != nil {
		m.LogDropped(p.LogDropped)
	}
	info := Info{Brokers: cfg.Brokers}
	open := cfg.OpenMode()
	if open {
		logger.Warn("open development mode: no auth.users or auth.permissions file is configured, so every request is allowed "+
			"and the Kafka port needs no SASL; kgate accepts this only because every listener is on loopback",
			"listen", cfg.Listen, "broker_listen", cfg.BrokerListen)
	}
	node, err := nodeID(cfg.DataDir)
	if err != nil {
		return info, err
	}
	// Spans are exported until everything that records them has stopped.
	tracer, err := tracing.New(cfg.Tracing, tracing.Options{Node: node, Version: p.Version, Spans: m.TracingSpans, Logger: logger})
	if err != nil {
		return info, err
	}
	if tracer.On() {
		g.add("tracing", tracer.Run, nil)
		logger.Info("tracing on", "protocol", cfg.Tracing.Protocol, "sample_ratio", cfg.Tracing.SampleRatio)
	}
	securedBroker := cfg.Embedded() && !open
	creds, err := kafkaCredentials(cfg, securedBroker)
	if err != nil {
		return info, err
	}

	var eb *embedded // nil with external brokers
	if cfg.Embedded() {
		var superuser kafka.Credentials // zero: the broker is not secured
		if securedBroker {
			superuser = creds
		}
		if eb, err = startEmbedded(cfg, superuser, logger); err != nil {
			return info, err
		}
		g.add("embedded broker", nil, eb.close)
		info.BrokerAddr = eb.Addr()
		info.Brokers = []string{eb.Addr()}
	}

	if c := eb.tlsCerts(); c != nil {
		g.add("kafka port certificates", c.Run, nil)
	}
	kc, closeKafka, err := NewKafka(cfg, KafkaConn{Brokers: info.Brokers, SASL: creds, TLS: eb.clientTLS(), Dial: eb.dial()}, cfg.AutoCreate(), logger, m.Kafka)
	if err != nil {
		return info, err
	}
	g.add("kafka client", nil, closeKafka)

	au, err := openAudit(ctx, cfg.Auth.Audit, open, node, kc, m, logger)
	if err != nil {
		return info, err
	}
	// The audit log writes its last summaries before the Kafka client closes.
	g.add("audit", au.Run, nil)
	var syncBroker func(context.Context, *auth.Policy) error // the broker's SCRAM users and ACLs follow the policy
	if eb.secured() {
		if syncBroker, err = eb.secure(ctx, kc); err != nil {
			return info, err
		}
	}
	svc, err := newAuth(ctx, cfg, open, kc, au, syncBroker, logger)
	if err != nil {
		return info, err
	}
	g.add("auth", svc.Run, nil)
	if v := svc.OIDC(); v != nil {
		m.Registry.MustRegister(oidcCollector{v})
	}
	if eb.secured() {
		if err := syncBroker(ctx, svc.Policy()); err != nil {
			return info, err
		}
		eb.guard.Admit(svc, au, func(ctx context.Context, user string) error {
			if err := auth.ProvisionBrokerUser(ctx, kc.Kgo(), user, eb.creds.SCRAM512); err != nil {
				return err
			}
			// An OIDC principal: the ACLs its token's groups give it.
			if groups, ok := svc.External(user); ok {
				return auth.SyncPrincipalACLs(ctx, kc.Kgo(), svc.Policy(), user, groups)
			}
			return nil
		})
		eb.tokens.Store(svc)                         // OAUTHBEARER logins with kgate's tokens
		g.add("kafka port guard", eb.guard.Run, nil) // closes connections whose user's standing changed
	}

	lim, err := newLimits(ctx, cfg.Auth.Limits, cfg.Auth.Plans, open, node, kc, svc, m, logger)
	if err != nil {
		return info, err
	}
	g.add("limits", lim.run, nil)
	if eb.secured() {
		eb.guard.Meter(lim) // a tenant's byte limits hold on the Kafka port too
	}

	var certs *auth.CertReloader // nil without HTTPS
	if cfg.Auth.HTTPS.Listen != "" {
		if certs, err = auth.NewCertReloader(cfg.Auth.HTTPS, logger); err != nil {
			return info, err
		}
		g.add("https certificates", certs.Run, nil)
	}
	var reloaded []*auth.CertReloader
	for _, c := range []*auth.CertReloader{certs, eb.tlsCerts()} {
		if c != nil {
			reloaded = append(reloaded, c)
		}
	}
	hup := newHUPReloader(svc, reloaded, logger)
	g.add("sighup", hup.run, hup.stop)
	if !open {
		logger.Info("authentication and authorization on", "users", svc.Policy().Users().Len(),
			"permission_entries", len(svc.Policy().Permissions().Principals()), "kafka_port_sasl", eb.secured())
	}

	// With the node secret, replicas forward v2 consumer requests to the
	// one holding the instance, whose definition they all follow.
	var (
		trust *auth.NodeTrust
		dir   *instances.Directory // nil: instances live in one node's memory
		fwd   *cluster.Forwarder
	)
	if cfg.Cluster.SecretFile != "" {
		if trust, err = auth.LoadNodeTrust(cfg.Cluster.SecretFile, node); err != nil {
			return info, err
		}
		svc.TrustNodes(trust)
		fwd = cluster.NewForwarder(trust, m.ConsumerForwarded, logger)
		if !open {
			if dir, err = instances.OpenDirectory(ctx, kc, cfg.Cluster.ConsumersTopic, logger); err != nil {
				return info, err
			}
			g.add("consumer directory", dir.Run, fwd.Close)
		}
	} else if !open {
		logger.Info("no cluster.secret_file: replicas do not forward to each other, so a v2 consumer instance is served only by the replica that created it")
	}
	// members and the schema formats are opened below; the consumers
	// ask them only once serving.
	var (
		members  *cluster.Membership
		registry *schemareg.Registry // nil when off
		schemas  *schemareg.Formats  // nil without a registry (own or external)
	)
	consumers := instances.New(instances.Options{Kafka: kc, Config: cfg.Consumers, Metrics: m, Logger: logger,
		Changes: svc.Changed,
		Admin:   func(p *auth.Principal) bool { return svc.Policy().Decide(p, auth.Admin, "").Allowed },
		// New topics reach patterns within a few seconds, and at most as
		// late as the gateway's own metadata does.
		PatternInterval: min(5*time.Second, cfg.Kafka.MetadataMaxAge.D()),
		Directory:       dir, Node: node, Tracer: tracer,
		NodeURL: func(id string) (string, bool) { return members.URL(id) },
		Peer:    func() (string, string, bool) { return members.Peer() },
		Format: func(n record.Name) (record.Format, bool) {
			if schemas == nil {
				return nil, false
			}
			return schemas.ReaderFormat(n)
		}})
	g.add("v2 consumers", consumers.Run, consumers.Close)

	// Admission sheds load past the node's limit of requests in progress.
	adm := httpapi.NewAdmission(cfg.HTTP.MaxConcurrentRequests, cfg.HTTP.MaxQueuedRequests, cfg.HTTP.QueueTimeout.D())
	// The replicas know each other through the nodes topic; this node
	// leaves it after HTTP has drained (it stops before, in reverse).
	// This node's internal URL: the configured one, or the HTTP
	// listener's once it is bound (below).
	var selfURL atomic.Pointer[string]
	internalURL := func() string {
		if u := selfURL.Load(); u != nil {
			return *u
		}
		return ""
	}
	members, err = openMembership(ctx, cfg, p.Version, open, node, kc, internalURL, func() cluster.Load {
		return cluster.Load{InFlightRequests: adm.InFlight(), ConsumerInstances: consumers.Len()}
	}, hup.announced, logger)
	if err != nil {
		return info, err
	}
	g.add("membership", members.Run, nil)
	if cfg.Cluster.AnnounceReloads {
		hup.announce = members.AnnounceReload
	}
	if !open {
		// The replicas divide each caller's request and byte rates among
		// themselves by where its requests arrive (docs/security.md).
		shares := cluster.NewShares(members, node)
		members.SetDemand(func() map[string]float64 { return lim.limiter.Demand(time.Now()) })
		lim.limiter.SetShares(shares.Share)
		g.add("limit shares", func(ctx context.Context) error {
			return shares.Run(ctx, cfg.Cluster.HeartbeatInterval.D())
		}, nil)
	}
	if cfg.Cluster.SecretFile == "" && !open {
		g.add("replicas without a secret", func(ctx context.Context) error {
			return warnUnshared(ctx, members, cfg.Cluster.NodeTimeout.D(), logger)
		}, nil)
	}

	if cfg.SchemaRegistryOn() {
		if registry, err = schemareg.Open(ctx, kc, schemareg.Options{Topic: cfg.SchemaRegistry.Topic, Logger: logger}); err != nil {
			return info, err
		}
		// It follows the topic until the HTTP servers have drained.
		g.add("schema registry", registry.Run, nil)
	}
	if schemas, err = schemaFormats(cfg, registry, logger); err != nil {
		return info, err
	}

	draining := make(chan struct{})
	drain := &drainer{members: members, consumers: consumers, delay: cfg.Cluster.DrainDelay.D(),
		timeout: cfg.HTTP.ShutdownTimeout.D(), logger: logger}
	h, routes, err := api{cfg: cfg, kc: kc, sasl: creds.Mechanism != "", consumers: consumers, auth: svc, limits: lim,
		admission: adm, members: members, metrics: m, registry: registry, schemas: schemas, audit: au, draining: draining, logger: logger,
		node: node, forward: fwd, tracer: tracer, stopping: drain.Draining}.handler()
	if err != nil {
		return info, err
	}
	srv, err := listen(cfg, h, certs, draining, logger)
	if err != nil {
		return info, err
	}
	srv.http.KeepOnFastPath(httpapi.FastPathKeep(routes))
	m.FastPath(srv.http.HandedOver)
	u := cfg.Cluster.AdvertisedInternalURL
	if u == "" {
		u = "http://" + srv.http.Addr()
	}
	selfURL.Store(&u)
	g.add("http", srv.run, nil)
	// Stopped first: the node drains while everything still serves.
	g.add("drain", drain.run, nil)
	info.HTTPAddr, info.HTTPSAddr, info.Routes, info.Handler = srv.http.Addr(), srv.httpsAddr(), routes, h
	info.SchemaRegistryAddr = srv.registryAddr()
	return info, nil
}

// schemaFormats returns what the REST formats resolve schemas with:
// kgate's own registry, the external one schema_registry.url names, or
// nil (schema formats answer 42206).
func schemaFormats(cfg config.Config, own *schemareg.Registry, logger *slog.Logger) (*schemareg.Formats, error) {
	c := cfg.SchemaRegistry
	if own != nil {
		return own.Formats(), nil
	}
	if c.URL == "" {
		return nil, nil
	}
	pw, err := config.ReadSecret(c.Password, c.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("schema_registry.password_file: %w", err)
	}
	tok, err := config.ReadSecret(c.Token, c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("schema_registry.token_file: %w", err)
	}
	remote, err := schemareg.NewRemote(schemareg.RemoteOptions{URL: string(c.URL), Username: c.Username, Password: pw.Reveal(),
		Token: tok.Reveal(), CAFile: c.CAFile, Logger: logger.With("component", "schema_registry")})
	if err != nil {
		return nil, err
	}
	logger.Info("using an external schema registry", "url", c.URL, "basic_auth", c.Username != "", "bearer", tok != "")
	return remote.Formats(), nil
}

// warnUnshared says once, when a second replica appears, that without
// cluster.secret_file the replicas do not share v2 consumer instances.
func warnUnshared(ctx context.Context, members *cluster.Membership, every time.Duration, logger *slog.Logger) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n := len(members.Nodes()); n > 1 {
			logger.Warn("several replicas without cluster.secret_file: each serves only the v2 consumer instances it created "+
				"(others answer 40403), so a load balancer in front of them needs sticky sessions for v2 consumers", "replicas", n)
			<-ctx.Done()
			return nil
		}
	}
}
