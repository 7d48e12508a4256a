package v2

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/record"
)

// Consumers holds this node's v2 consumer instances. Like Confluent's,
// instances live in this process's memory: clients must come back to the
// node named by base_uri. Idle instances expire. It is safe for concurrent
// use.
type Consumers struct {
	kc     *kafka.Client
	cfg    config.Consumers
	m      *metrics.Metrics
	logger *slog.Logger

	mu        sync.Mutex
	instances map[instanceKey]*instance
	closed    bool

	closing sync.WaitGroup // instances being closed in the background
}

type instanceKey struct{ group, name string }

// NewConsumers returns an empty instance registry.
func NewConsumers(kc *kafka.Client, cfg config.Consumers, m *metrics.Metrics, logger *slog.Logger) *Consumers {
	return &Consumers{kc: kc, cfg: cfg, m: m, logger: logger, instances: map[instanceKey]*instance{}}
}

// Run expires idle instances (scanning every second) until ctx is done.
func (c *Consumers) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			c.expire(now)
		}
	}
}

func (c *Consumers) expire(now time.Time) {
	var expired []*instance
	c.mu.Lock()
	for k, in := range c.instances {
		if in.busy.Load() == 0 && now.Sub(time.Unix(0, in.lastUsed.Load())) > c.cfg.InstanceTimeout.D() {
			delete(c.instances, k)
			expired = append(expired, in)
		}
	}
	c.mu.Unlock()
	for _, in := range expired {
		c.logger.Info("consumer instance expired", "group", in.group, "instance", in.name)
		c.closeAsync(in)
	}
}

func (c *Consumers) closeAsync(in *instance) {
	c.m.ConsumerInstances.Dec()
	c.closing.Add(1)
	go func() {
		defer c.closing.Done()
		in.close()
	}()
}

// Close closes every instance (each leaves its group) and waits.
func (c *Consumers) Close() {
	c.mu.Lock()
	c.closed = true
	all := make([]*instance, 0, len(c.instances))
	for k, in := range c.instances {
		delete(c.instances, k)
		all = append(all, in)
	}
	c.mu.Unlock()
	for _, in := range all {
		c.closeAsync(in)
	}
	c.closing.Wait()
}

// instanceOptions are a create request's validated settings.
type instanceOptions struct {
	name           string
	format         record.Format
	reset          string // earliest, latest, none
	autoCommit     bool
	minBytes       int
	requestTimeout time.Duration
	// owner is the principal that created the instance; to any other
	// caller it does not exist, so that one tenant cannot read through
	// another's instance.
	owner string
}

// create registers a new instance; the Kafka client is built when it
// subscribes or is assigned partitions.
func (c *Consumers) create(group string, o instanceOptions) (*instance, error) {
	if o.name == "" {
		o.name = "rest-consumer-" + newUUID()
	}
	ictx, cancel := context.WithCancel(context.Background())
	in := &instance{
		group: group, name: o.name, opts: o, c: c, ctx: ictx, cancel: cancel,
		assigned: map[tp]kgo.Offset{}, returned: map[tp]int64{},
	}
	in.touch()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, httpapi.ErrBrokerNotAvailable.Msg("The gateway is shutting down.")
	}
	k := instanceKey{group, o.name}
	if _, ok := c.instances[k]; ok {
		return nil, httpapi.ErrConsumerExists
	}
	if len(c.instances) >= c.cfg.MaxInstances {
		return nil, httpapi.ErrRateLimited.Msg("Too many consumer instances on this node (at most %d); delete unused ones.", c.cfg.MaxInstances)
	}
	c.instances[k] = in
	c.m.ConsumerInstances.Inc()
	return in, nil
}

// get returns a live instance and marks it in use; the caller must call
// release.
func (c *Consumers) get(group, name, owner string) (*instance, error) {
	c.mu.Lock()
	in, ok := c.instances[instanceKey{group, name}]
	ok = ok && in.opts.owner == owner
	if ok {
		in.busy.Add(1)
	}
	c.mu.Unlock()
	if !ok {
		return nil, httpapi.ErrConsumerNotFound
	}
	in.touch()
	return in, nil
}

func (in *instance) release() {
	in.touch()
	in.busy.Add(-1)
}

// remove deletes and closes an instance (DELETE): it leaves its group.
func (c *Consumers) remove(group, name, owner string) error {
	c.mu.Lock()
	k := instanceKey{group, name}
	in, ok := c.instances[k]
	ok = ok && in.opts.owner == owner
	if ok {
		delete(c.instances, k)
	}
	c.mu.Unlock()
	if !ok {
		return httpapi.ErrConsumerNotFound
	}
	c.m.ConsumerInstances.Dec()
	in.close()
	return nil
}

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

type mode int

const (
	modeNone mode = iota
	modeSubscribe
	modeAssign
)

// instance is one consumer instance. op serializes operations on it
// (Confluent's instances are not meant to be used concurrently either);
// stateMu guards what franz-go's rebalance callbacks also touch.
type instance struct {
	group, name string
	opts        instanceOptions
	c           *Consumers

	lastUsed atomic.Int64 // unix nanos
	busy     atomic.Int32

	// ctx ends when the instance is closed, interrupting a long read so
	// that DELETE and expiry never wait for it.
	ctx    context.Context
	cancel context.CancelFunc

	op       sync.Mutex
	cl       *kgo.Client
	mode     mode
	topics   []string // subscribe mode: topics, or the pattern
	pattern  bool
	assigned map[tp]kgo.Offset // assign mode: partitions and their start
	closed   bool

	stateMu       sync.Mutex
	groupAssigned map[tp]bool   // subscribe mode: the group's current assignment
	buffer        []*kgo.Record // fetched, not yet returned
	returned      map[tp]int64  // next offset after the last record returned
}

func (in *instance) touch() { in.lastUsed.Store(time.Now().UnixNano()) }

func (in *instance) close() {
	in.cancel()
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return
	}
	in.closed = true
	in.closeClient()
}

// closeClient closes the Kafka client; with auto-commit on, franz-go
// commits the marked (returned) offsets as it leaves the group.
func (in *instance) closeClient() {
	if in.cl == nil {
		return
	}
	in.cl.Close()
	in.cl = nil
	in.stateMu.Lock()
	in.buffer = nil
	in.groupAssigned = nil
	in.stateMu.Unlock()
}

var errIllegalMix = httpapi.ErrIllegalState.Msg("Illegal state: Subscription to topics, partitions and pattern are mutually exclusive")

func (in *instance) resetOffset() kgo.Offset {
	switch in.opts.reset {
	case "earliest":
		return kgo.NewOffset().AtStart()
	case "none":
		return kgo.NoResetOffset()
	}
	return kgo.NewOffset().AtEnd()
}

func (in *instance) baseOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumeResetOffset(in.resetOffset()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
	if in.opts.minBytes > 0 {
		opts = append(opts, kgo.FetchMinBytes(int32(in.opts.minBytes)))
	}
	return opts
}

// subscribe joins the group for topics (or a regex pattern).
func (in *instance) subscribe(topics []string, pattern string) error {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return httpapi.ErrConsumerNotFound
	}
	if in.mode == modeAssign {
		return errIllegalMix
	}
	if pattern != "" {
		if _, err := regexp.Compile(pattern); err != nil {
			return httpapi.ErrUnprocessable.Msg("Invalid topic_pattern: %v.", err)
		}
	}
	in.closeClient()
	opts := append(in.baseOpts(),
		kgo.ConsumerGroup(in.group),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			in.stateMu.Lock()
			defer in.stateMu.Unlock()
			if in.groupAssigned == nil {
				in.groupAssigned = map[tp]bool{}
			}
			for t, ps := range m {
				for _, p := range ps {
					in.groupAssigned[tp{t, p}] = true
				}
			}
		}),
		kgo.OnPartitionsRevoked(in.onLost),
		kgo.OnPartitionsLost(in.onLost),
	)
	if in.opts.autoCommit {
		// Only records returned to the client are committed.
		opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(5*time.Second))
	} else {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	if pattern != "" {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(pattern))
		in.topics, in.pattern = []string{pattern}, true
	} else {
		opts = append(opts, kgo.ConsumeTopics(topics...))
		in.topics, in.pattern = append([]string(nil), topics...), false
	}
	cl, err := in.c.kc.NewClient(opts...)
	if err != nil {
		return err
	}
	in.cl, in.mode = cl, modeSubscribe
	return nil
}

// onLost drops buffered records of partitions the group took away: their
// new owner will deliver them.
func (in *instance) onLost(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	if in.opts.autoCommit {
		// Commit what the client was given before giving it up.
		_ = cl.CommitMarkedOffsets(ctx)
	}
	in.stateMu.Lock()
	defer in.stateMu.Unlock()
	lost := map[tp]bool{}
	for t, ps := range m {
		for _, p := range ps {
			lost[tp{t, p}] = true
			delete(in.groupAssigned, tp{t, p})
		}
	}
	kept := in.buffer[:0]
	for _, r := range in.buffer {
		if !lost[tp{r.Topic, r.Partition}] {
			kept = append(kept, r)
		}
	}
	in.buffer = kept
}

// unsubscribe leaves the group.
func (in *instance) unsubscribe() error {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return httpapi.ErrConsumerNotFound
	}
	if in.mode == modeSubscribe {
		in.closeClient()
		in.mode, in.topics, in.pattern = modeNone, nil, false
	}
	return nil
}

// subscription returns the subscribed topics (for a pattern, the topics
// it currently matches).
func (in *instance) subscription() []string {
	in.op.Lock()
	defer in.op.Unlock()
	if in.mode != modeSubscribe || in.cl == nil {
		return []string{}
	}
	if in.pattern {
		ts := in.cl.GetConsumeTopics()
		sort.Strings(ts)
		return ts
	}
	out := append([]string(nil), in.topics...)
	sort.Strings(out)
	return out
}

// assign consumes exactly the given partitions, outside group management
// but committing to the instance's group, starting at each partition's
// committed offset or else at auto.offset.reset.
func (in *instance) assign(ctx context.Context, parts []tp) error {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return httpapi.ErrConsumerNotFound
	}
	if in.mode == modeSubscribe {
		return errIllegalMix
	}
	in.closeClient()
	in.assigned = map[tp]kgo.Offset{}
	in.stateMu.Lock()
	in.returned = map[tp]int64{}
	in.stateMu.Unlock()
	if len(parts) == 0 {
		in.mode = modeNone
		return nil
	}
	committed, err := in.c.kc.Committed(ctx, in.group)
	if err != nil {
		return err
	}
	consume := map[string]map[int32]kgo.Offset{}
	for _, p := range parts {
		off := in.resetOffset()
		if o, ok := committed.Lookup(p.topic, p.partition); ok && o.Err == nil && o.At >= 0 {
			off = kgo.NewOffset().At(o.At)
		}
		in.assigned[p] = off
		if consume[p.topic] == nil {
			consume[p.topic] = map[int32]kgo.Offset{}
		}
		consume[p.topic][p.partition] = off
	}
	cl, err := in.c.kc.NewClient(append(in.baseOpts(), kgo.ConsumePartitions(consume))...)
	if err != nil {
		return err
	}
	in.cl, in.mode = cl, modeAssign
	return nil
}

// assignment returns the manually assigned partitions, or the group's
// current assignment.
func (in *instance) assignment() []tp {
	in.op.Lock()
	defer in.op.Unlock()
	var out []tp
	switch in.mode {
	case modeAssign:
		for p := range in.assigned {
			out = append(out, p)
		}
	case modeSubscribe:
		in.stateMu.Lock()
		for p := range in.groupAssigned {
			out = append(out, p)
		}
		in.stateMu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// isAssignedLocked reports whether p is currently consumed; op is held.
func (in *instance) isAssignedLocked(p tp) bool {
	switch in.mode {
	case modeAssign:
		_, ok := in.assigned[p]
		return ok
	case modeSubscribe:
		in.stateMu.Lock()
		defer in.stateMu.Unlock()
		return in.groupAssigned[p]
	}
	return false
}

// seek moves the position of assigned partitions. An unassigned partition
// is Kafka's IllegalStateException, 409/40903, and nothing moves.
func (in *instance) seek(offsets map[tp]int64) error {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return httpapi.ErrConsumerNotFound
	}
	for p := range offsets {
		if !in.isAssignedLocked(p) {
			return httpapi.ErrIllegalState.Msg("Illegal state: No current assignment for partition %s-%d", p.topic, p.partition)
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	switch in.mode {
	case modeAssign:
		remove := map[string][]int32{}
		add := map[string]map[int32]kgo.Offset{}
		for p, o := range offsets {
			remove[p.topic] = append(remove[p.topic], p.partition)
			if add[p.topic] == nil {
				add[p.topic] = map[int32]kgo.Offset{}
			}
			off := kgo.NewOffset().At(o)
			add[p.topic][p.partition] = off
			in.assigned[p] = off
		}
		in.cl.RemoveConsumePartitions(remove)
		in.cl.AddConsumePartitions(add)
	case modeSubscribe:
		set := map[string]map[int32]kgo.EpochOffset{}
		for p, o := range offsets {
			if set[p.topic] == nil {
				set[p.topic] = map[int32]kgo.EpochOffset{}
			}
			set[p.topic][p.partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		in.cl.SetOffsets(set)
	}
	in.stateMu.Lock()
	kept := in.buffer[:0]
	for _, r := range in.buffer {
		if _, moved := offsets[tp{r.Topic, r.Partition}]; !moved {
			kept = append(kept, r)
		}
	}
	in.buffer = kept
	in.stateMu.Unlock()
	return nil
}

// seekEdge seeks partitions to their beginning (start) or end.
func (in *instance) seekEdge(ctx context.Context, parts []tp, start bool) error {
	offs, err := in.resolve(ctx, parts, func(adm *kadm.Client, topics []string) (kadm.ListedOffsets, error) {
		if start {
			return adm.ListStartOffsets(ctx, topics...)
		}
		return adm.ListEndOffsets(ctx, topics...)
	})
	if err != nil {
		return err
	}
	return in.seek(offs)
}

// seekTime seeks each partition to the first offset at or after a time.
func (in *instance) seekTime(ctx context.Context, times map[tp]time.Time) error {
	offs := map[tp]int64{}
	for p, t := range times {
		r, err := in.resolve(ctx, []tp{p}, func(adm *kadm.Client, topics []string) (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topics...)
		})
		if err != nil {
			return err
		}
		offs[p] = r[p]
	}
	return in.seek(offs)
}

func (in *instance) resolve(ctx context.Context, parts []tp, list func(*kadm.Client, []string) (kadm.ListedOffsets, error)) (map[tp]int64, error) {
	seen := map[string]bool{}
	var topics []string
	for _, p := range parts {
		if !seen[p.topic] {
			seen[p.topic] = true
			topics = append(topics, p.topic)
		}
	}
	listed, err := list(in.c.kc.Admin(), topics)
	if err != nil {
		return nil, err
	}
	out := map[tp]int64{}
	for _, p := range parts {
		lo, ok := listed.Lookup(p.topic, p.partition)
		if !ok {
			return nil, httpapi.ErrIllegalState.Msg("Illegal state: No current assignment for partition %s-%d", p.topic, p.partition)
		}
		if lo.Err != nil {
			return nil, lo.Err
		}
		out[p] = lo.Offset
	}
	return out, nil
}

// read returns records rendered as a JSON array of v2 ConsumerRecords in
// the instance's format: it waits up to wait for the first one (and for
// fetch.min.bytes, when set), then takes what is buffered, up to maxBytes
// of raw key+value bytes. At least one record is returned even if it
// alone exceeds maxBytes (Kafka's own fetch does the same), so a large
// record cannot wedge a consumer. A record the format cannot show (bytes
// that are not JSON, for a json consumer) ends the read before it: the
// records before it are returned, and a read that starts at it fails with
// 40801, as Confluent's does. Records not returned stay buffered for the
// next read; only returned records count as delivered (for commits).
func (in *instance) read(ctx context.Context, wait time.Duration, maxBytes int64) (body []byte, n, size int, err error) {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return nil, 0, 0, httpapi.ErrConsumerNotFound
	}
	if in.cl == nil {
		return nil, 0, 0, httpapi.ErrIllegalState.Msg("Illegal state: Consumer is not subscribed to any topics or assigned any partitions")
	}
	f := in.opts.format
	deadline := time.Now().Add(wait)
	body = append(make([]byte, 0, 512), '[')
	var delivered []*kgo.Record
	var total int64
	var undecodable error
	// take moves buffered records to body until the byte cap or a record
	// the format cannot show; true when the read is complete.
	take := func() bool {
		in.stateMu.Lock()
		defer in.stateMu.Unlock()
		i := 0
		for ; i < len(in.buffer); i++ {
			r := in.buffer[i]
			rn := int64(len(r.Key) + len(r.Value))
			if len(delivered) > 0 && total+rn > maxBytes {
				break
			}
			if len(delivered) > 0 {
				body = append(body, ',')
			}
			var eerr error
			if body, eerr = record.AppendV2Record(body, r, f, f); eerr != nil {
				if len(delivered) > 0 {
					body = body[:len(body)-1] // the comma
				} else {
					undecodable = undecodableError(r, eerr)
				}
				in.buffer = in.buffer[i:]
				return true
			}
			delivered = append(delivered, r)
			total += rn
		}
		in.buffer = in.buffer[i:]
		return len(in.buffer) > 0 || total >= maxBytes
	}
	full := take()
	for !full {
		if len(delivered) > 0 && (in.opts.minBytes <= 0 || total >= int64(in.opts.minBytes)) {
			break
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, remaining)
		stop := context.AfterFunc(in.ctx, cancel)
		fs := in.cl.PollRecords(pctx, 1000)
		stop()
		cancel()
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
				return
			}
			if ferr == nil {
				ferr = fmt.Errorf("fetching %s[%d]: %w", t, p, err)
			}
		})
		recs := fs.Records()
		if len(recs) > 0 {
			in.stateMu.Lock()
			in.buffer = append(in.buffer, recs...)
			in.stateMu.Unlock()
			full = take()
		}
		if ferr != nil && len(delivered) == 0 {
			return nil, 0, 0, ferr
		}
		if ferr != nil {
			in.c.logger.Warn("consumer fetch error", "group", in.group, "instance", in.name, "err", ferr)
			break
		}
		if fs.IsClientClosed() || ctx.Err() != nil || in.ctx.Err() != nil {
			break
		}
	}
	if undecodable != nil {
		return nil, 0, 0, undecodable
	}
	if len(delivered) > 0 {
		in.stateMu.Lock()
		for _, r := range delivered {
			in.returned[tp{r.Topic, r.Partition}] = r.Offset + 1
		}
		in.stateMu.Unlock()
		if in.mode == modeSubscribe && in.opts.autoCommit {
			// Only what the client is given may be committed.
			in.cl.MarkCommitRecords(delivered...)
		}
	}
	return append(body, ']'), len(delivered), int(total), nil
}

// undecodableError is the 40801 of a record the consumer's format cannot
// show; it says how to get past it.
func undecodableError(r *kgo.Record, err error) error {
	what, problem := "it", "cannot be shown in this format"
	var e *record.Error
	if errors.As(err, &e) {
		if e.Field != "" {
			what = "its " + e.Field
		}
		problem = e.Problem
	}
	return httpapi.ErrSerialization.Msg("Error deserializing message at %s[%d]@%d: %s %s. Read it with the binary format, or seek past it (POST .../positions with offset %d).",
		r.Topic, r.Partition, r.Offset, what, problem, r.Offset+1).Wrap(err)
}

// commit commits offsets (already +1, the next record to read), or,
// when offsets is nil, everything returned so far.
func (in *instance) commit(ctx context.Context, offsets map[tp]int64) error {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return httpapi.ErrConsumerNotFound
	}
	if offsets == nil {
		in.stateMu.Lock()
		offsets = make(map[tp]int64, len(in.returned))
		for p, o := range in.returned {
			offsets[p] = o
		}
		in.stateMu.Unlock()
	}
	if len(offsets) == 0 {
		return nil
	}
	if in.mode == modeSubscribe && in.cl != nil {
		req := map[string]map[int32]kgo.EpochOffset{}
		for p, o := range offsets {
			if req[p.topic] == nil {
				req[p.topic] = map[int32]kgo.EpochOffset{}
			}
			req[p.topic][p.partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		var cerr error
		in.cl.CommitOffsetsSync(ctx, req, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
						cerr = e
					}
				}
			}
		})
		return cerr
	}
	os := kadm.Offsets{}
	for p, o := range offsets {
		os.Add(kadm.Offset{Topic: p.topic, Partition: p.partition, At: o, LeaderEpoch: -1})
	}
	resp, err := in.c.kc.Admin().CommitOffsets(ctx, in.group, os)
	if err != nil {
		return err
	}
	return resp.Error()
}

// committed returns the group's committed offsets, for parts or, when
// parts is empty, for every partition the group has committed.
func (in *instance) committed(ctx context.Context, parts []tp) ([]committedOffset, error) {
	resp, err := in.c.kc.Committed(ctx, in.group)
	if err != nil {
		return nil, err
	}
	out := []committedOffset{}
	if len(parts) == 0 {
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At >= 0 {
				out = append(out, committedOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.At, Metadata: o.Metadata})
			}
		})
		sort.Slice(out, func(i, j int) bool {
			if out[i].Topic != out[j].Topic {
				return out[i].Topic < out[j].Topic
			}
			return out[i].Partition < out[j].Partition
		})
		return out, nil
	}
	for _, p := range parts {
		if o, ok := resp.Lookup(p.topic, p.partition); ok && o.Err == nil && o.At >= 0 {
			out = append(out, committedOffset{Topic: p.topic, Partition: p.partition, Offset: o.At, Metadata: o.Metadata})
		}
	}
	return out, nil
}

type committedOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Metadata  string `json:"metadata"`
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
