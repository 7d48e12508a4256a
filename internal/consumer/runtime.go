package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/tracing"
)

// Options configure New. Zero values take the defaults named.
type Options struct {
	// Client produces outputs and dead letters (its shared idempotent
	// producer, acks=all), creates topics, and builds the consumer.
	Client *kafka.Client
	// Topics are consumed; Group is the consumer group.
	Topics []string
	Group  string
	// HandlerName names the handler in logs, metrics and dead letters.
	HandlerName string
	Handler     Handler
	// OutputTopic receives handler outputs ("": outputs are dropped,
	// with a warning).
	OutputTopic string
	// DLQTopic receives dead letters (required).
	DLQTopic string
	// Concurrency bounds records handled at once across partitions.
	// Zero numbers and durations here take the defaults of config's
	// handle section (config.DefaultHandle).
	Concurrency int
	// MaxAttempts is how often a record is tried before it is
	// dead-lettered.
	MaxAttempts int
	Backoff     Backoff
	// HandlerTimeout bounds one attempt.
	HandlerTimeout time.Duration
	// RevokeGrace is how long in-flight records may finish when their
	// partition is revoked or the runtime stops; after it they are
	// abandoned, not committed, and handled again by the next owner.
	RevokeGrace time.Duration
	// CommitInterval is the least time between two commits; 0 commits
	// as soon as something was marked, one commit at a time.
	CommitInterval time.Duration
	// MaxQueued is how many fetched records a partition may have waiting
	// before its fetching pauses.
	MaxQueued int
	// CreateTopics creates missing input, output and dead-letter topics
	// with Partitions and Replication (config's default_partitions and
	// default_replication_factor when zero); when false, missing output or
	// dead-letter topics are an error.
	CreateTopics bool
	Partitions   int32
	Replication  int16
	// SessionTimeout and RebalanceTimeout are the group's (the rebalance
	// timeout is raised to RevokeGrace+10s).
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	Logger           *slog.Logger
	// Tracer records a span per handler invocation, a child of the
	// record's trace context when it carries one (nil: none).
	Tracer *tracing.Tracer
	// ConsumerOpts are added to the consumer client's options last.
	ConsumerOpts []kgo.Opt
}

// Runtime consumes, hands records to the handler and commits. Create it
// with New and run it once with Run.
type Runtime struct {
	o      Options
	logger *slog.Logger
	sem    chan struct{}
	cl     *kgo.Client // the consumer, set in Run

	wg sync.WaitGroup // worker goroutines

	mu      sync.Mutex // guards workers, closing, shards and retired
	workers map[tp]*worker
	closing bool
	// shards are the counters of workers that have not been retired
	// (merged into retired) yet, including stopping ones, so that a
	// scrape never sees a counter go down.
	shards  map[*counters]struct{}
	retired counters

	commitsOK, commitsFailed atomic.Int64

	// commitMu serializes "snapshot the marks, commit them", so that an
	// older snapshot is never committed after a newer one and nothing of a
	// revoked partition is committed after its revoke. It guards the
	// workers' committed fields.
	commitMu sync.Mutex

	kick chan struct{} // wakes the committer

	// Backpressure: queued counts fetched records not yet taken by a
	// worker; the poll loop stops polling while it is at its limit and
	// waits for the workers to drain it to resumeAt (see poll).
	queued   atomic.Int64
	resumeAt atomic.Int64 // -1: the poll loop is not waiting
	space    chan struct{}
}

type tp struct {
	topic     string
	partition int32
}

// Stats is a snapshot of the runtime's counters.
type Stats struct {
	Handled, Failed, Retried, DeadLettered, Outputs int64
	InFlight                                        int64
	Partitions                                      int
	Lag                                             int64
}

// New checks o and returns a runtime.
func New(o Options) (*Runtime, error) {
	switch {
	case o.Client == nil:
		return nil, errors.New("consumer: no Kafka client")
	case o.Handler == nil:
		return nil, errors.New("consumer: no handler")
	case len(o.Topics) == 0:
		return nil, errors.New("consumer: no topics")
	case o.Group == "":
		return nil, errors.New("consumer: no group")
	case o.DLQTopic == "":
		return nil, errors.New("consumer: no dead-letter topic")
	}
	for _, t := range append(append([]string(nil), o.Topics...), o.DLQTopic) {
		if !kafka.ValidTopic(t) {
			return nil, fmt.Errorf("consumer: invalid topic name %q", t)
		}
		if t == o.OutputTopic && o.OutputTopic != "" {
			return nil, fmt.Errorf("consumer: topic %q is both consumed and the output topic", t)
		}
	}
	for _, t := range o.Topics {
		if t == o.DLQTopic {
			return nil, fmt.Errorf("consumer: topic %q is both consumed and the dead-letter topic", t)
		}
	}
	if o.OutputTopic != "" && !kafka.ValidTopic(o.OutputTopic) {
		return nil, fmt.Errorf("consumer: invalid output topic name %q", o.OutputTopic)
	}
	if o.HandlerName == "" {
		o.HandlerName = "handler"
	}
	// Zero options take kgate handle's configuration defaults, written
	// once in config.
	d, top := config.DefaultHandle(), config.Default()
	setDefault(&o.Concurrency, d.Concurrency)
	setDefault(&o.MaxAttempts, d.MaxAttempts)
	o.Backoff = o.Backoff.withDefaults()
	setDefault(&o.HandlerTimeout, d.HandlerTimeout.D())
	setDefault(&o.RevokeGrace, d.RevokeGrace.D())
	setDefault(&o.MaxQueued, d.MaxQueued)
	setDefault(&o.Partitions, int32(top.DefaultPartitions))
	if o.Replication == 0 {
		o.Replication = int16(top.DefaultReplicationFactor)
	}
	setDefault(&o.SessionTimeout, d.SessionTimeout.D())
	setDefault(&o.RebalanceTimeout, d.RebalanceTimeout.D())
	if least := o.RevokeGrace + 10*time.Second; o.RebalanceTimeout < least {
		o.RebalanceTimeout = least
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runtime{
		o:       o,
		logger:  logger.With("handler", o.HandlerName, "group", o.Group),
		shards:  map[*counters]struct{}{},
		sem:     make(chan struct{}, o.Concurrency),
		workers: map[tp]*worker{},
		kick:    make(chan struct{}, 1),
		space:   make(chan struct{}, 1),
	}, nil
}

// Stats returns the runtime's counters; it is safe to call at any time.
func (r *Runtime) Stats() Stats {
	var sum counters
	r.mu.Lock()
	inFlight := r.sumCounters(&sum)
	s := Stats{InFlight: inFlight, Partitions: len(r.workers)}
	for _, w := range r.workers {
		s.Lag += w.lag()
	}
	r.mu.Unlock()
	s.Handled = sum.handled.Load()
	s.Failed = sum.failed.Load()
	s.Retried = sum.retried.Load()
	s.Outputs = sum.outputs.Load()
	for i := range sum.dead {
		s.DeadLettered += sum.dead[i].Load()
	}
	return s
}

// Run ensures the topics exist, joins the group and handles records until
// ctx is done; then it lets in-flight records finish (for up to
// RevokeGrace), commits, and leaves the group. It returns nil after a
// clean stop.
func (r *Runtime) Run(ctx context.Context) error {
	if err := r.ensureTopics(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	hb := 3 * time.Second
	if r.o.SessionTimeout < 9*time.Second {
		hb = r.o.SessionTimeout / 3
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(r.o.Group),
		kgo.ConsumeTopics(r.o.Topics...),
		// Like the seed's auto.offset.reset=earliest: a new group
		// handles what is already there.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// Callbacks run only between polls, never while fetched
		// records are being handed out (see poll).
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost),
		kgo.SessionTimeout(r.o.SessionTimeout),
		kgo.HeartbeatInterval(hb),
		kgo.RebalanceTimeout(r.o.RebalanceTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}
	cl, err := r.o.Client.NewClient(append(opts, r.o.ConsumerOpts...)...)
	if err != nil {
		return fmt.Errorf("creating consumer: %w", err)
	}
	r.cl = cl
	r.resumeAt.Store(-1)

	commitCtx, stopCommitter := context.WithCancel(context.Background())
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		r.committer(commitCtx)
	}()

	watchCtx, stopWatchdog := context.WithCancel(context.Background())
	watchdogDone := make(chan struct{})
	go func() {
		defer close(watchdogDone)
		r.watchdog(watchCtx)
	}()
	defer func() { stopWatchdog(); <-watchdogDone }()

	r.logger.Info("handling", "topics", r.o.Topics, "output_topic", r.o.OutputTopic, "dlq_topic", r.o.DLQTopic,
		"concurrency", r.o.Concurrency, "max_attempts", r.o.MaxAttempts)
	r.poll(ctx)

	// Shutdown order: stop handing out records (poll returned); let
	// in-flight records finish or abandon them; commit what was
	// finished; stop the committer; leave the group (its revoke finds
	// nothing left to do).
	r.mu.Lock()
	r.closing = true
	all := make([]*worker, 0, len(r.workers))
	for k, w := range r.workers {
		all = append(all, w)
		delete(r.workers, k)
	}
	r.mu.Unlock()
	stopWorkers(all, r.o.RevokeGrace)
	r.wg.Wait()
	fctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	err = r.commit(fctx, all)
	cancel()
	stopCommitter()
	<-committerDone
	if err != nil {
		r.logger.Error("final commit failed; the uncommitted records will be handled again", "err", err)
	}
	r.retire(all)
	cl.CloseAllowingRebalance()
	s := r.Stats()
	r.logger.Info("stopped", "handled", s.Handled, "dead_lettered", s.DeadLettered)
	return nil
}

// watchdog cancels attempts that outlive HandlerTimeout, checking ten
// times per timeout (at most once a second, at least every 10ms).
func (r *Runtime) watchdog(ctx context.Context) {
	every := min(max(r.o.HandlerTimeout/10, 10*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			deadline := now.Add(-r.o.HandlerTimeout)
			r.mu.Lock()
			for _, w := range r.workers {
				w.expire(deadline)
			}
			r.mu.Unlock()
		}
	}
}

// poll fetches and hands records to the partition workers until ctx is
// done. With BlockRebalanceOnPoll, no rebalance callback runs between
// PollFetches and AllowRebalance, so a revoked partition's worker is never
// handed records after its revoke: franz-go guarantees that polls after
// the revoke callback do not return them.
//
// Backpressure works at two levels. The poll loop polls only while the
// queues hold fewer than MaxQueued records per partition, and otherwise
// waits outside any poll, so rebalances are never held up by slow
// handlers. A poll takes everything franz-go has buffered: taking part of
// a fetch would delay the next fetch until the rest is taken, and the
// fetch latency would no longer hide behind the handling. A single
// partition whose queue stays past MaxQueued (its handler is stuck in
// retries while the others run) has its fetching paused until it drains.
func (r *Runtime) poll(ctx context.Context) {
	var lastErr string
	var lastErrAt time.Time
	for {
		limit := r.pauseBacklogged()
		if r.queued.Load() >= limit {
			if !r.waitForSpace(ctx, limit/2) {
				return
			}
			continue
		}
		fetches := r.cl.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			r.cl.AllowRebalance()
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			// The client retries; say so once in a while, not on
			// every poll.
			if s := err.Error(); s != lastErr || time.Since(lastErrAt) > 30*time.Second {
				lastErr, lastErrAt = s, time.Now()
				r.logger.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		r.mu.Lock()
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			w := r.workers[tp{p.Topic, p.Partition}]
			if w == nil {
				return // not ours (cannot happen while rebalances are blocked)
			}
			w.enqueue(p.Records, p.HighWatermark)
		})
		r.mu.Unlock()
		r.cl.AllowRebalance()
	}
}

// pauseBacklogged pauses the partitions whose queues outgrew MaxQueued and
// returns how many fetched records may wait in all queues.
func (r *Runtime) pauseBacklogged() int64 {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.workers {
		w.pauseIfBacklogged(r.o.MaxQueued, now)
	}
	return int64(r.o.MaxQueued) * int64(max(len(r.workers), 1))
}

// waitForSpace waits until at most target records are queued (or a
// rebalance may have changed the limit), reporting false when ctx ends.
func (r *Runtime) waitForSpace(ctx context.Context, target int64) bool {
	r.resumeAt.Store(target)
	defer r.resumeAt.Store(-1)
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	for r.queued.Load() > target {
		select {
		case <-ctx.Done():
			return false
		case <-r.space:
		case <-t.C:
			return true // re-read the limit
		}
	}
	return true
}

// took is called by a worker for each record it takes off its queue.
func (r *Runtime) took(n int64) {
	left := r.queued.Add(-n)
	if at := r.resumeAt.Load(); at >= 0 && left <= at {
		select {
		case r.space <- struct{}{}:
		default:
		}
	}
}

// assigned starts a worker per newly assigned partition.
func (r *Runtime) assigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing || len(assigned) == 0 {
		return
	}
	n := 0
	for t, ps := range assigned {
		for _, p := range ps {
			k := tp{t, p}
			if r.workers[k] != nil {
				continue
			}
			w := newWorker(r, k)
			r.workers[k] = w
			r.shards[&w.c] = struct{}{}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				w.run()
			}()
			n++
		}
	}
	if n > 0 {
		r.logger.Info("partitions assigned", "partitions", formatTPs(assigned), "total", len(r.workers))
	}
}

// revoked stops the revoked partitions' workers (in-flight records get
// RevokeGrace to finish), commits what they finished, and only then
// returns, letting the rebalance go on.
func (r *Runtime) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	ws := r.take(revoked)
	if len(ws) == 0 {
		return
	}
	stopWorkers(ws, r.o.RevokeGrace)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	if err := r.commit(cctx, ws); err != nil {
		r.logger.Warn("commit on revoke failed; the new owner will handle those records again", "err", err)
	}
	cancel()
	r.retire(ws)
	cl.ResumeFetchPartitions(revoked)
	r.logger.Info("partitions revoked", "partitions", formatTPs(revoked))
}

// lost abandons the lost partitions at once: another member may own them
// already, so nothing is committed.
func (r *Runtime) lost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	ws := r.take(lost)
	if len(ws) == 0 {
		return
	}
	stopWorkers(ws, 0)
	r.retire(ws)
	cl.ResumeFetchPartitions(lost)
	r.logger.Warn("partitions lost; in-flight records abandoned", "partitions", formatTPs(lost))
}

func (r *Runtime) take(parts map[string][]int32) []*worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ws []*worker
	for t, ps := range parts {
		for _, p := range ps {
			k := tp{t, p}
			if w := r.workers[k]; w != nil {
				ws = append(ws, w)
				delete(r.workers, k)
			}
		}
	}
	return ws
}

// retire merges the counts of stopped workers into the runtime's.
func (r *Runtime) retire(ws []*worker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range ws {
		if _, ok := r.shards[&w.c]; ok {
			w.c.addTo(&r.retired)
			delete(r.shards, &w.c)
		}
	}
}

// kickCommitter tells the committer that something was marked.
func (r *Runtime) kickCommitter() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// committer commits marks as they appear, one commit at a time, at most
// once per CommitInterval, until ctx is done.
func (r *Runtime) committer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		r.mu.Lock()
		ws := make([]*worker, 0, len(r.workers))
		for _, w := range r.workers {
			ws = append(ws, w)
		}
		r.mu.Unlock()
		if err := r.commit(ctx, ws); err != nil && ctx.Err() == nil {
			r.logger.Warn("commit failed; retrying", "err", err)
			select {
			case r.kick <- struct{}{}:
			default:
			}
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		if r.o.CommitInterval > 0 && !sleep(ctx, r.o.CommitInterval) {
			return
		}
	}
}

// commit commits the marks of ws that are ahead of their last commit.
func (r *Runtime) commit(ctx context.Context, ws []*worker) error {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()

	offsets := map[string]map[int32]kgo.EpochOffset{}
	byTP := map[tp]*worker{}
	for _, w := range ws {
		m := w.mark.Load()
		if m < 0 || m == w.committed {
			continue
		}
		if offsets[w.tp.topic] == nil {
			offsets[w.tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[w.tp.topic][w.tp.partition] = kgo.EpochOffset{Epoch: w.markEpoch.Load(), Offset: m}
		byTP[w.tp] = w
	}
	if len(offsets) == 0 {
		return nil
	}

	var errs []error
	r.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, perr))
					continue
				}
				if w := byTP[tp{t.Topic, p.Partition}]; w != nil {
					w.committed = offsets[t.Topic][p.Partition].Offset
				}
			}
		}
	})
	err := errors.Join(errs...)
	if err != nil {
		r.commitsFailed.Add(1)
		return fmt.Errorf("committing offsets: %w", err)
	}
	r.commitsOK.Add(1)
	r.logger.Debug("committed", "offsets", offsets)
	return nil
}

// ensureTopics checks that the topics exist, creating missing ones when
// CreateTopics is set. Missing output or dead-letter topics are errors
// otherwise (a missing input topic is only a warning: the group waits).
func (r *Runtime) ensureTopics(ctx context.Context) error {
	want := append([]string(nil), r.o.Topics...)
	want = append(want, r.o.DLQTopic)
	if r.o.OutputTopic != "" {
		want = append(want, r.o.OutputTopic)
	}
	var tds map[string]bool
	var err error
	for attempt := 0; ; attempt++ {
		tds, err = r.existing(ctx, want)
		if err == nil {
			break
		}
		if attempt >= 4 || ctx.Err() != nil {
			return fmt.Errorf("reading topic metadata: %w", err)
		}
		r.logger.Warn("reading topic metadata", "err", err)
		if !sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
	for i, t := range want {
		if tds[t] || slicesContains(want[:i], t) {
			continue
		}
		if !r.o.CreateTopics {
			if i < len(r.o.Topics) {
				r.logger.Warn("input topic does not exist yet; waiting for it", "topic", t)
				continue
			}
			return fmt.Errorf("topic %q does not exist (create it, or let kgate create it with create_topics)", t)
		}
		if err := r.o.Client.CreateTopicIfMissing(ctx, t, r.o.Partitions, r.o.Replication, nil); err != nil {
			return fmt.Errorf("creating topic %q: %w", t, err)
		}
	}
	return nil
}

func (r *Runtime) existing(ctx context.Context, topics []string) (map[string]bool, error) {
	tds, err := r.o.Client.Metadata(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for t, td := range tds {
		if td.Err == nil {
			out[t] = true
		} else if !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic %q: %w", t, td.Err)
		}
	}
	return out, nil
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// sleep waits d or until ctx is done, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func formatTPs(m map[string][]int32) string {
	s := ""
	for t, ps := range m {
		if s != "" {
			s += " "
		}
		s += fmt.Sprintf("%s%v", t, ps)
	}
	return s
}

// setDefault sets *v to def when it is not positive.
func setDefault[T int | int32 | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
