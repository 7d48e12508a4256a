// Package instances is kgate's stateful Kafka group client: the consumer
// instances of the REST v2 API. An instance belongs to the principal that
// created it, joins its group when it subscribes (or consumes assigned
// partitions), buffers what it fetched, and hands out records read by
// read, committing only what it handed out.
//
// Every record crosses the boundary with the owner's rights of that
// moment: a read authorizes each record's topic with the request's
// auth.Live and charges its bytes to the request's ratelimit.Ticket;
// a topic the owner may no longer fetch is paused (a pattern drops it);
// an instance whose owner no longer stands, or may no longer consume its
// group, is closed and leaves its group. Pattern subscriptions are
// resolved here, against the cluster's topic list and the owner's
// rights, never by handing the caller's expression to the Kafka client.
//
// With a Directory (directory.go), the replicas share the instances'
// definitions through a compacted topic: a replica that does not hold an
// instance learns which one does (the caller forwards the request
// there), and creates it again from its definition, at the group's
// committed offsets, when that replica is gone.
//
// The package knows nothing of HTTP: it returns the domain errors of
// errors.go, which the API maps onto its wire.
package instances

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
	"github.com/kgate/kgate/internal/tracing"
)

// Options configure New.
type Options struct {
	Kafka  *kafka.Client
	Config config.Consumers
	// Metrics, if set, counts live instances.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Changes returns a channel closed at the next change that may affect
	// anyone's standing or rights (auth.Service.Changed); nil: none come.
	Changes func() <-chan struct{}
	// Admin reports whether a principal is an admin now: only an admin's
	// topic patterns reach internal topics (names starting with "_").
	// Nil: nobody's do.
	Admin func(*auth.Principal) bool
	// PatternInterval is how often topic patterns are re-resolved against
	// the cluster's topics (new topics are picked up); default 5s.
	PatternInterval time.Duration
	// IdleAfter pauses fetching for instances that nobody read for this
	// long (they keep their group membership); default 5s.
	IdleAfter time.Duration

	// Directory, if set, shares the instances' definitions with the
	// other replicas, so that any of them serves any instance: the
	// caller forwards requests for an instance another live replica
	// holds (Acquire's *ElsewhereError), and an instance whose replica
	// is gone is created again where it is asked for. Nil: instances
	// live in this node's memory only.
	Directory *Directory
	// Node is this replica's id.
	Node string
	// NodeURL returns a live replica's internal URL; ok is false when
	// the replica is not a live member.
	NodeURL func(id string) (url string, ok bool)
	// Format returns the reader format named, to create an instance
	// again on this replica; nil: the built-in formats only.
	Format func(record.Name) (record.Format, bool)
	// Tracer records a span for each delivered record that carries a
	// trace context (nil: none).
	Tracer *tracing.Tracer
	// Peer returns another live replica that is not draining, where
	// work that reaches this one while it drains goes (nil: none).
	Peer func() (id, url string, ok bool)
}

// Registry holds this node's consumer instances. Without a Directory,
// like Confluent's, they live in this process's memory: clients must
// come back to this node. With one, any replica serves any instance.
// Idle instances expire. It is safe for concurrent use.
type Registry struct {
	o         Options
	logger    *slog.Logger
	instances *ratelimit.Slots // per principal and on the node
	polls     *ratelimit.Slots // reads in progress

	mu     sync.Mutex
	byKey  map[key]*Instance
	closed bool

	closing sync.WaitGroup // instances being closed in the background

	// draining: Drain was called; no instance is created or taken here.
	draining atomic.Bool

	// orphans are the definitions whose replica is gone, since when this
	// one saw them so; only the Run goroutine touches it.
	orphans map[key]time.Time
	// started is when this registry began: a definition naming this
	// replica written since is one it dropped (deleted, expired), not
	// one a previous run of this replica left behind.
	started time.Time

	// topicsMu guards the cluster's topic names, for patterns.
	topicsMu sync.Mutex
	topics   []string
	listedAt time.Time
}

type key struct{ group, name string }

// New returns an empty registry.
func New(o Options) *Registry {
	if o.PatternInterval <= 0 {
		o.PatternInterval = 5 * time.Second
	}
	if o.IdleAfter <= 0 {
		o.IdleAfter = 5 * time.Second
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{
		o: o, logger: logger, byKey: map[key]*Instance{}, orphans: map[key]time.Time{}, started: time.Now(),
		instances: ratelimit.NewSlots("consumer instances", o.Config.MaxInstances),
		polls:     ratelimit.NewSlots("records reads in progress", o.Config.MaxInstances),
	}
	if o.Directory != nil {
		f := r.applied
		o.Directory.applied.Store(&f)
	}
	return r
}

// Node returns this replica's id ("" when not set).
func (r *Registry) Node() string { return r.o.Node }

// applied closes the live instance of a definition another replica now
// holds (it was re-created there) or that was deleted.
func (r *Registry) applied(k key, def *Definition) {
	if def != nil && def.Node == r.o.Node {
		return
	}
	r.mu.Lock()
	in, ok := r.byKey[k]
	if ok {
		delete(r.byKey, k)
	}
	r.mu.Unlock()
	if !ok {
		return
	}
	if def == nil {
		r.logger.Info("consumer instance deleted on another replica", "group", k.group, "instance", k.name)
	} else {
		r.logger.Info("consumer instance taken over by another replica", "group", k.group, "instance", k.name, "node", def.Node)
	}
	r.closeAsync(in)
}

// publish records in's definition for the other replicas.
func (r *Registry) publish(ctx context.Context, in *Instance) error {
	if r.o.Directory == nil {
		return nil
	}
	if err := r.o.Directory.put(ctx, in.definition()); err != nil {
		return fmt.Errorf("recording consumer instance %s/%s for the other replicas: %w", in.group, in.name, err)
	}
	return nil
}

// forget deletes k's definition everywhere.
func (r *Registry) forget(ctx context.Context, k key) error {
	if r.o.Directory == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.o.Directory.remove(ctx, k); err != nil {
		return fmt.Errorf("deleting consumer instance %s/%s for the other replicas: %w", k.group, k.name, err)
	}
	return nil
}

// sweepOrphans deletes the definitions whose replica has been gone
// longer than the instance timeout without anyone asking for them: they
// would have expired there.
func (r *Registry) sweepOrphans(ctx context.Context, now time.Time) {
	if r.o.Directory == nil || r.o.NodeURL == nil {
		return
	}
	seen := map[key]bool{}
	for _, def := range r.o.Directory.all() {
		k := def.key()
		if def.Node == r.o.Node {
			continue
		}
		if _, alive := r.o.NodeURL(def.Node); alive {
			continue
		}
		seen[k] = true
		since, ok := r.orphans[k]
		if !ok {
			r.orphans[k] = now
			continue
		}
		if now.Sub(since) > r.o.Config.InstanceTimeout.D() {
			if err := r.forget(ctx, k); err != nil {
				r.logger.Warn("expiring a consumer instance whose replica is gone", "group", k.group, "instance", k.name, "err", err)
				continue
			}
			r.logger.Info("consumer instance expired: its replica is gone and nobody used it", "group", k.group, "instance", k.name, "node", def.Node)
		}
	}
	for k := range r.orphans {
		if !seen[k] {
			delete(r.orphans, k)
		}
	}
}

// Len returns how many instances the registry holds.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byKey)
}

// Config returns the settings the registry runs with (the defaults for
// a nil registry).
func (r *Registry) Config() config.Consumers {
	if r == nil {
		return config.Default().Consumers
	}
	return r.o.Config
}

// Run expires idle instances, pauses fetching for unread ones, closes
// those whose owner no longer stands (checked every second and at every
// change of rights), and re-resolves topic patterns, until ctx is done.
func (r *Registry) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.resolvePatterns(ctx)
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		var changed <-chan struct{}
		if r.o.Changes != nil {
			changed = r.o.Changes()
		}
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			r.sweep(ctx, now, false)
		case <-changed:
			r.sweep(ctx, time.Now(), true)
		}
	}
}

// sweep expires idle instances, closes those whose owner no longer
// stands and, after a change of rights, has the others re-check theirs.
func (r *Registry) sweep(ctx context.Context, now time.Time, changed bool) {
	var all []*Instance
	r.mu.Lock()
	for _, in := range r.byKey {
		all = append(all, in)
	}
	r.mu.Unlock()
	if !changed {
		r.sweepOrphans(ctx, now)
	}
	for _, in := range all {
		idle := now.Sub(time.Unix(0, in.lastUsed.Load()))
		if in.busy.Load() == 0 && idle > r.o.Config.InstanceTimeout.D() {
			if r.drop(in) {
				r.logger.Info("consumer instance expired", "group", in.group, "instance", in.name)
				r.closeAsync(in)
				if err := r.forget(ctx, key{in.group, in.name}); err != nil {
					r.logger.Warn("expiring a consumer instance", "err", err)
				}
			}
			continue
		}
		if err := in.standing(ctx, now); err != nil {
			if r.drop(in) {
				r.logger.Info("consumer instance closed: its owner no longer stands or may not consume its group",
					"group", in.group, "instance", in.name, "principal", in.ownerName, "err", err)
				r.closeAsync(in)
				if err := r.forget(ctx, key{in.group, in.name}); err != nil {
					r.logger.Warn("closing a consumer instance", "err", err)
				}
			}
			continue
		}
		if changed {
			in.kick()
		}
		if now.Sub(time.Unix(0, in.lastRead.Load())) > r.o.IdleAfter {
			in.pauseIdle(ctx)
		} else if changed {
			in.tryReconcile(ctx)
		}
	}
}

// resolvePatterns refreshes the topic list every PatternInterval while
// pattern subscriptions exist, and has them re-resolve.
func (r *Registry) resolvePatterns(ctx context.Context) {
	t := time.NewTicker(r.o.PatternInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var pats []*Instance
		r.mu.Lock()
		for _, in := range r.byKey {
			if in.hasPattern.Load() {
				pats = append(pats, in)
			}
		}
		r.mu.Unlock()
		if len(pats) == 0 {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, r.o.PatternInterval)
		_, err := r.topicNames(lctx, true)
		cancel()
		if err != nil {
			r.logger.Warn("listing topics for pattern subscriptions", "err", err)
			continue
		}
		for _, in := range pats {
			in.kick()
			in.tryReconcile(ctx)
		}
	}
}

// topicNames returns the cluster's topic names, listed again when fresh
// or when the last list is older than PatternInterval.
func (r *Registry) topicNames(ctx context.Context, fresh bool) ([]string, error) {
	r.topicsMu.Lock()
	defer r.topicsMu.Unlock()
	if !fresh && r.topics != nil && time.Since(r.listedAt) < r.o.PatternInterval {
		return r.topics, nil
	}
	tds, err := r.o.Kafka.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	names := make([]string, 0, len(tds))
	for name, td := range tds {
		if td.Err == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	r.topics, r.listedAt = names, time.Now()
	return names, nil
}

// cachedTopics returns the last topic list without asking the cluster.
func (r *Registry) cachedTopics() []string {
	r.topicsMu.Lock()
	defer r.topicsMu.Unlock()
	return r.topics
}

func (r *Registry) gauge(d float64) {
	if r.o.Metrics != nil {
		r.o.Metrics.ConsumerInstances.Add(d)
	}
}

// drop removes in from the registry; false if it was gone already.
func (r *Registry) drop(in *Instance) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{in.group, in.name}
	if r.byKey[k] != in {
		return false
	}
	delete(r.byKey, k)
	return true
}

func (r *Registry) closeAsync(in *Instance) {
	r.closing.Add(1)
	go func() {
		defer r.closing.Done()
		in.close()
	}()
}

// Close closes every instance (each leaves its group) and waits.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	all := make([]*Instance, 0, len(r.byKey))
	for k, in := range r.byKey {
		delete(r.byKey, k)
		all = append(all, in)
	}
	r.mu.Unlock()
	for _, in := range all {
		r.closeAsync(in)
	}
	r.closing.Wait()
}

// Owner is whom an instance belongs to: the principal of the request
// that uses it, and its standing (nil when nothing authenticated it:
// everything is allowed).
type Owner struct {
	Principal *auth.Principal
	Live      *auth.Live
}

// OwnerFor returns the owner of ctx's request.
func OwnerFor(ctx context.Context) Owner {
	return Owner{Principal: auth.FromContext(ctx), Live: auth.LiveFor(ctx)}
}

func (o Owner) name() string {
	if o.Principal == nil {
		return ""
	}
	return o.Principal.Name
}

// Create registers a new instance of group for owner. Its Kafka client
// is made when it subscribes or is assigned partitions, so that an
// instance that consumes nothing costs next to nothing. Over the node's
// or the owner's cap it returns *ratelimit.Exceeded. With a Directory,
// the name must be free on every replica, and the definition is
// recorded before Create returns.
func (r *Registry) Create(ctx context.Context, group string, owner Owner, s Settings) (*Instance, error) {
	named := s.Name != ""
	if !named {
		s.Name = "rest-consumer-" + newUUID()
	}
	if r.draining.Load() {
		return nil, r.elsewhere()
	}
	if r.o.Directory != nil && named {
		// A name the client chose may have been taken on another replica a
		// moment ago: read the definitions to their end first.
		if _, ok := r.o.Directory.LookupFresh(ctx, group, s.Name); ok {
			return nil, ErrExists
		}
	}
	in, err := r.createLocal(group, owner, s)
	if err != nil {
		return nil, err
	}
	if err := r.publish(ctx, in); err != nil {
		if r.drop(in) {
			in.close()
		}
		return nil, err
	}
	return in, nil
}

func (r *Registry) createLocal(group string, owner Owner, s Settings) (*Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.draining.Load() {
		// Drain sets the flag, then collects under mu: an instance is
		// either handed over or never made.
		return nil, r.elsewhere()
	}
	k := key{group, s.Name}
	if _, ok := r.byKey[k]; ok {
		return nil, ErrExists
	}
	release, ex := r.instances.Acquire(owner.name(), r.o.Config.MaxInstancesPerPrincipal)
	if ex != nil {
		return nil, ex
	}
	in := newInstance(r, group, owner, s, release)
	r.byKey[k] = in
	r.gauge(1)
	return in, nil
}

// errNotHere: this replica holds no such instance.
var errNotHere = errors.New("consumer instance not on this replica")

// Acquire returns owner's instance and marks it in use (it does not
// expire) until Release; the instance's standing follows owner's from
// now on (the latest request's principal and rights). With a Directory,
// an instance another live replica holds is an *ElsewhereError (the
// caller forwards the request there), and one whose replica is gone is
// created again here from its definition, consuming from the group's
// committed offsets, and recorded as held here.
func (r *Registry) Acquire(ctx context.Context, group, name string, owner Owner) (*Instance, error) {
	for attempt := 0; ; attempt++ {
		in, err := r.acquireLocal(group, name, owner)
		if !errors.Is(err, errNotHere) {
			return in, err
		}
		def, err := r.locate(ctx, group, name, owner)
		if err != nil {
			return nil, err
		}
		in, err = r.adopt(ctx, def, owner)
		if errors.Is(err, ErrExists) && attempt == 0 {
			continue // created here meanwhile by another request
		}
		return in, err
	}
}

func (r *Registry) acquireLocal(group, name string, owner Owner) (*Instance, error) {
	r.mu.Lock()
	in, ok := r.byKey[key{group, name}]
	if !ok {
		r.mu.Unlock()
		return nil, errNotHere
	}
	ok = in.ownerName == owner.name()
	if ok {
		in.busy.Add(1)
	}
	r.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	in.owner.Store(&owner)
	in.touch()
	return in, nil
}

// locate finds an instance this replica does not hold: an
// *ElsewhereError when a live replica holds it, its definition when its
// replica is gone (or is this one, restarted), else ErrNotFound.
func (r *Registry) locate(ctx context.Context, group, name string, owner Owner) (Definition, error) {
	if r.o.Directory == nil {
		return Definition{}, ErrNotFound
	}
	def, ok := r.o.Directory.LookupFresh(ctx, group, name)
	if !ok || def.Owner != owner.name() {
		return Definition{}, ErrNotFound
	}
	if r.draining.Load() {
		// Held here a moment ago (being handed over), released, or its
		// replica gone: another replica takes it, never this one.
		if def.Node != r.o.Node && def.Node != "" && r.o.NodeURL != nil {
			if u, alive := r.o.NodeURL(def.Node); alive {
				return def, &ElsewhereError{Node: def.Node, URL: u}
			}
		}
		return def, r.elsewhere()
	}
	if def.Node == r.o.Node && def.Updated.After(r.started) {
		// Dropped here a moment ago (its tombstone is on its way).
		return Definition{}, ErrNotFound
	}
	if def.Node != r.o.Node && r.o.NodeURL != nil {
		if u, alive := r.o.NodeURL(def.Node); alive {
			return def, &ElsewhereError{Node: def.Node, URL: u}
		}
	}
	return def, nil
}

// adopt creates def's instance again on this replica for owner, held
// in use as Acquire does.
func (r *Registry) adopt(ctx context.Context, def Definition, owner Owner) (*Instance, error) {
	name := record.Name(def.Format)
	f, ok := record.Builtin(name)
	if !ok && r.o.Format != nil {
		f, ok = r.o.Format(name)
	}
	if !ok {
		return nil, fmt.Errorf("creating consumer instance %s/%s again: format %q is not available on this replica", def.Group, def.Name, def.Format)
	}
	in, err := r.createLocal(def.Group, owner, Settings{Name: def.Name, Format: f, Reset: def.Reset, AutoCommit: def.AutoCommit,
		MinBytes: def.MinBytes, RequestTimeout: time.Duration(def.RequestTimeoutMS) * time.Millisecond})
	if err != nil {
		return nil, err
	}
	in.busy.Add(1)
	in.adopted.Store(true)
	switch {
	case len(def.Topics) > 0 || def.Pattern != "":
		err = in.subscribe(ctx, def.Topics, def.Pattern)
	case len(def.Partitions) > 0:
		err = in.assign(ctx, def.Partitions)
	}
	if err == nil {
		err = r.publish(ctx, in)
	}
	if err != nil {
		in.Release()
		if r.drop(in) {
			in.close()
		}
		return nil, err
	}
	if r.o.Metrics != nil {
		r.o.Metrics.ConsumerRecreated.Inc()
	}
	r.logger.Info("consumer instance created again on this replica: the replica holding it is gone",
		"group", def.Group, "instance", def.Name, "node", def.Node, "principal", def.Owner)
	return in, nil
}

// Remove deletes and closes owner's instance (it leaves its group) and,
// with a Directory, its definition everywhere. An instance another live
// replica holds is an *ElsewhereError.
func (r *Registry) Remove(ctx context.Context, group, name string, owner Owner) error {
	r.mu.Lock()
	k := key{group, name}
	in, ok := r.byKey[k]
	mine := ok && in.ownerName == owner.name()
	if mine {
		delete(r.byKey, k)
	}
	r.mu.Unlock()
	switch {
	case ok && !mine:
		return ErrNotFound
	case mine:
		in.close()
	default:
		if _, err := r.locate(ctx, group, name, owner); err != nil {
			return err
		}
	}
	return r.forget(ctx, k)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
