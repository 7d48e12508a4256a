package instances

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/record"
)

// Settings are an instance's validated create options.
type Settings struct {
	// Name is the instance's name in its group; empty: a random one.
	Name   string
	Format record.Format
	// Reset is auto.offset.reset: earliest, latest or none.
	Reset      string
	AutoCommit bool
	// MinBytes is fetch.min.bytes (<= 0: none).
	MinBytes int
	// RequestTimeout is how long a read waits by default.
	RequestTimeout time.Duration
}

// Partition is a topic partition.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type mode int

const (
	modeNone mode = iota
	modeSubscribe
	modeAssign
)

// Instance is one consumer instance. Its operations are serialized (as
// Confluent's instances are not meant to be used concurrently either);
// they are safe to call from several goroutines.
type Instance struct {
	group, name string
	set         Settings
	r           *Registry
	ownerName   string
	release     func() // its slot in the registry's caps

	// owner is the principal of the latest request that used it, whose
	// standing decides whether the instance lives on.
	owner atomic.Pointer[Owner]

	lastUsed atomic.Int64 // unix nanos
	lastRead atomic.Int64 // unix nanos: a read started or ended
	busy     atomic.Int32
	// handedOver: closed by Drain, for another replica to take.
	handedOver atomic.Bool
	// adopted: created again on this replica from its definition (its
	// holder drained or died), not by the client's create.
	adopted atomic.Bool
	// dirty: rights or the topic list changed since the last reconcile;
	// kickCh wakes a read waiting for records to reconcile.
	dirty      atomic.Bool
	kickCh     chan struct{}
	hasPattern atomic.Bool

	// ctx ends when the instance is closed, interrupting a long read so
	// that DELETE and expiry never wait for it.
	ctx    context.Context
	cancel context.CancelFunc

	// op serializes operations and guards the fields below; stateMu
	// guards what franz-go's rebalance callbacks also touch.
	op       sync.Mutex
	cl       *kgo.Client
	mode     mode
	topics   []string       // subscribe mode: the topics named
	pattern  *regexp.Regexp // subscribe mode: or a pattern,
	patSrc   string         // as the client sent it, and
	matched  []string       // the topics it matches now (sorted)
	assigned map[Partition]kgo.Offset
	paused   map[string]bool // topics paused on cl: forbidden now, or idle
	idle     bool            // fetching paused: nobody reads
	closed   bool

	stateMu       sync.Mutex
	groupAssigned map[Partition]bool // subscribe mode: the group's assignment
	buffer        []*kgo.Record      // fetched, not yet returned
	returned      map[Partition]int64
	// floor: per partition, the offset below which fetched records are
	// dropped (an adopted instance's client committed past them).
	floor map[Partition]int64
}

func newInstance(r *Registry, group string, owner Owner, s Settings, release func()) *Instance {
	ctx, cancel := context.WithCancel(context.Background())
	in := &Instance{
		group: group, name: s.Name, set: s, r: r, ownerName: owner.name(), release: release,
		kickCh: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		assigned: map[Partition]kgo.Offset{}, returned: map[Partition]int64{}, paused: map[string]bool{},
	}
	in.owner.Store(&owner)
	in.touch()
	in.lastRead.Store(time.Now().UnixNano())
	return in
}

// Name returns the instance's name in its group.
func (in *Instance) Name() string { return in.name }

// Group returns the instance's group.
func (in *Instance) Group() string { return in.group }

// definition returns what other replicas need to serve or re-create
// the instance, held by this replica.
func (in *Instance) definition() Definition {
	in.op.Lock()
	defer in.op.Unlock()
	d := Definition{Group: in.group, Name: in.name, Owner: in.ownerName, Node: in.r.o.Node,
		Format: string(in.set.Format.Name()), Reset: in.set.Reset, AutoCommit: in.set.AutoCommit,
		MinBytes: in.set.MinBytes, RequestTimeoutMS: in.set.RequestTimeout.Milliseconds(), Updated: time.Now().UTC()}
	switch in.mode {
	case modeSubscribe:
		d.Topics, d.Pattern = slices.Clone(in.topics), in.patSrc
	case modeAssign:
		for p := range in.assigned {
			d.Partitions = append(d.Partitions, p)
		}
		sortPartitions(d.Partitions)
	}
	return d
}

// Settings returns the instance's create options.
func (in *Instance) Settings() Settings { return in.set }

// Release ends a use that Acquire began.
func (in *Instance) Release() {
	in.touch()
	in.busy.Add(-1)
}

func (in *Instance) touch() { in.lastUsed.Store(time.Now().UnixNano()) }

// kick marks the instance's rights or topics changed and wakes a read.
func (in *Instance) kick() {
	in.dirty.Store(true)
	select {
	case in.kickCh <- struct{}{}:
	default:
	}
}

// standing checks that the owner still stands and may consume the group.
func (in *Instance) standing(ctx context.Context, now time.Time) error {
	return in.standingOf(ctx, in.owner.Load().Live, now)
}

func (in *Instance) standingOf(ctx context.Context, live *auth.Live, now time.Time) error {
	if err := live.Check(now); err != nil {
		return err
	}
	return live.Authorize(ctx, auth.Consume, in.group)
}

// gone reports an error that says the principal no longer stands (as
// opposed to a refusal of one action).
func gone(err error) bool {
	var ae *auth.Error
	return errors.As(err, &ae)
}

// tryReconcile reconciles unless an operation is in progress (a read
// reconciles itself when kicked).
func (in *Instance) tryReconcile(ctx context.Context) {
	if !in.op.TryLock() {
		return
	}
	defer in.op.Unlock()
	if in.closed || !in.dirty.Swap(false) {
		return
	}
	if err := in.reconcileLocked(ctx, in.owner.Load().Live); err != nil && !gone(err) {
		in.r.logger.Warn("consumer instance: applying a change of rights or topics", "group", in.group, "instance", in.name, "err", err)
	}
}

// pauseIdle stops fetching for an instance nobody reads: it keeps its
// group membership (heartbeats) and its position, and fetches again at
// the next read.
func (in *Instance) pauseIdle(ctx context.Context) {
	if !in.op.TryLock() {
		return
	}
	defer in.op.Unlock()
	if in.closed || in.idle || in.cl == nil {
		return
	}
	in.idle = true
	if err := in.reconcileLocked(ctx, in.owner.Load().Live); err != nil && !gone(err) {
		in.r.logger.Warn("consumer instance: pausing an idle instance", "group", in.group, "instance", in.name, "err", err)
	}
}

// reconcileLocked applies the owner's rights of now: a pattern matches
// the topics it may fetch now, and topics it may not fetch are paused
// (as are all while the instance is idle). op is held. An error that
// says the owner no longer stands is returned as is.
func (in *Instance) reconcileLocked(ctx context.Context, live *auth.Live) error {
	if in.mode == modeSubscribe && in.pattern != nil {
		want, err := in.match(ctx, live, in.r.cachedTopics())
		if err != nil {
			return err
		}
		if err := in.setMatchedLocked(want); err != nil {
			return err
		}
	}
	return in.applyPausesLocked(ctx, live)
}

// consumedTopicsLocked returns the topics the client consumes.
func (in *Instance) consumedTopicsLocked() []string {
	switch in.mode {
	case modeSubscribe:
		if in.pattern != nil {
			return in.matched
		}
		return in.topics
	case modeAssign:
		var out []string
		for p := range in.assigned {
			if !slices.Contains(out, p.Topic) {
				out = append(out, p.Topic)
			}
		}
		return out
	}
	return nil
}

// applyPausesLocked pauses fetching for the topics the owner may not
// fetch now (and for all while idle) and resumes the others. Records
// already buffered for a paused topic stay buffered, undelivered, until
// the topic is allowed again (or the group takes its partitions away).
func (in *Instance) applyPausesLocked(ctx context.Context, live *auth.Live) error {
	if in.cl == nil {
		clear(in.paused)
		return nil
	}
	want := map[string]bool{}
	for _, t := range in.consumedTopicsLocked() {
		if in.idle {
			want[t] = true
			continue
		}
		if err := live.Authorize(ctx, auth.Fetch, t); err != nil {
			if gone(err) {
				return err
			}
			want[t] = true
		}
	}
	var pause, resume []string
	for t := range want {
		if !in.paused[t] {
			pause = append(pause, t)
		}
	}
	for t := range in.paused {
		if !want[t] {
			resume = append(resume, t)
		}
	}
	if len(pause) > 0 {
		in.cl.PauseFetchTopics(pause...)
	}
	if len(resume) > 0 {
		in.cl.ResumeFetchTopics(resume...)
	}
	in.paused = want
	return nil
}

// match returns the topics of names the pattern matches and the owner
// may fetch now, sorted; internal topics (names starting with "_") only
// for an admin.
func (in *Instance) match(ctx context.Context, live *auth.Live, names []string) ([]string, error) {
	owner := in.owner.Load()
	admin := in.r.o.Admin != nil && owner.Principal != nil && in.r.o.Admin(owner.Principal)
	var out []string
	for _, n := range names {
		if !in.pattern.MatchString(n) || (len(n) > 0 && n[0] == '_' && !admin) {
			continue
		}
		if err := live.Authorize(ctx, auth.Fetch, n); err != nil {
			if gone(err) {
				return nil, err
			}
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

// setMatchedLocked makes the client consume exactly want (sorted): it
// adds topics a pattern matches now and drops those it no longer does
// (their partitions go back to the group). Without any topic the
// instance holds no client.
func (in *Instance) setMatchedLocked(want []string) error {
	if slices.Equal(want, in.matched) && (in.cl != nil) == (len(want) > 0) {
		return nil
	}
	if len(want) == 0 {
		in.closeClient()
		in.matched = nil
		return nil
	}
	if in.cl == nil {
		if err := in.startGroupLocked(want); err != nil {
			return err
		}
		in.matched = want
		return nil
	}
	var add, remove []string
	for _, t := range want {
		if _, ok := slices.BinarySearch(in.matched, t); !ok {
			add = append(add, t)
		}
	}
	for _, t := range in.matched {
		if _, ok := slices.BinarySearch(want, t); !ok {
			remove = append(remove, t)
		}
	}
	if len(remove) > 0 {
		in.cl.PurgeTopicsFromConsuming(remove...)
		in.cl.ResumeFetchTopics(remove...) // a pause would outlive the purge
		in.stateMu.Lock()
		in.buffer = slices.DeleteFunc(in.buffer, func(r *kgo.Record) bool { return slices.Contains(remove, r.Topic) })
		in.stateMu.Unlock()
		for _, t := range remove {
			delete(in.paused, t)
		}
	}
	if len(add) > 0 {
		in.cl.AddConsumeTopics(add...)
	}
	in.matched = want
	return nil
}

func (in *Instance) close() {
	in.cancel()
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return
	}
	in.closed = true
	in.closeClient()
	in.release()
	in.r.gauge(-1)
}

// closeClient closes the Kafka client; with auto-commit on, franz-go
// commits the marked (returned) offsets as it leaves the group.
func (in *Instance) closeClient() {
	if in.cl == nil {
		return
	}
	in.cl.Close()
	in.cl = nil
	clear(in.paused)
	in.idle = false
	in.stateMu.Lock()
	in.buffer = nil
	in.groupAssigned = nil
	in.stateMu.Unlock()
}

func (in *Instance) resetOffset() kgo.Offset {
	switch in.set.Reset {
	case "earliest":
		return kgo.NewOffset().AtStart()
	case "none":
		return kgo.NoResetOffset()
	}
	return kgo.NewOffset().AtEnd()
}

// fetchMaxBytes bounds what one fetch response may hold: an instance
// buffers at most one per broker, and a read returns at most
// consumers.max_bytes anyway.
const fetchMaxBytes = 4 << 20

// connIdleTimeout closes an instance's connections unused this long
// (franz-go's default is 20s; its reaper looks every timeout, so a
// connection goes within two): an idle instance keeps only its group
// connection, which heartbeats.
const connIdleTimeout = 10 * time.Second

func (in *Instance) baseOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumeResetOffset(in.resetOffset()),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.FetchMaxBytes(int32(min(int64(fetchMaxBytes), int64(in.r.o.Config.MaxBytes)))),
		kgo.ConnIdleTimeout(connIdleTimeout),
		// No KIP-714 telemetry from the gateway's own consumers: its
		// push loop is a goroutine, a gzip writer and periodic requests
		// per instance.
		kgo.DisableClientMetrics(),
		// Instances never produce: no sticky partitioner state.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}
	if in.set.MinBytes > 0 {
		opts = append(opts, kgo.FetchMinBytes(int32(in.set.MinBytes)))
	}
	return opts
}

// Subscribe joins the group for topics, or for the topics pattern (a
// regular expression that must match a whole topic name) matches now
// and later, among those the owner may fetch at each moment. Each named
// topic must be one the owner may fetch (else its *auth.Denial). The
// subscription is recorded for the other replicas (Options.Directory).
func (in *Instance) Subscribe(ctx context.Context, topics []string, pattern string) error {
	if err := in.subscribe(ctx, topics, pattern); err != nil {
		return err
	}
	return in.r.publish(ctx, in)
}

func (in *Instance) subscribe(ctx context.Context, topics []string, pattern string) error {
	live := in.owner.Load().Live
	var re *regexp.Regexp
	if len(topics) > 0 {
		for _, t := range topics {
			if err := live.Authorize(ctx, auth.Fetch, t); err != nil {
				return err
			}
		}
		topics = slices.Compact(slices.Sorted(slices.Values(topics)))
	} else {
		if _, err := regexp.Compile(pattern); err != nil {
			return &PatternError{Err: err}
		}
		// Whole names, as Java's Pattern.matches (Confluent's proxy).
		re = regexp.MustCompile("^(?:" + pattern + ")$")
	}
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return ErrNotFound
	}
	if in.mode == modeAssign {
		return ErrMixed
	}
	in.closeClient()
	in.mode, in.topics, in.pattern, in.patSrc, in.matched = modeNone, nil, nil, "", nil
	in.hasPattern.Store(false)
	if re == nil {
		if err := in.startGroupLocked(topics); err != nil {
			return err
		}
		in.mode, in.topics = modeSubscribe, topics
		return nil
	}
	names, err := in.r.topicNames(ctx, true)
	if err != nil {
		return err
	}
	in.mode, in.pattern, in.patSrc = modeSubscribe, re, pattern
	in.hasPattern.Store(true)
	want, err := in.match(ctx, live, names)
	if err != nil {
		return err
	}
	return in.setMatchedLocked(want)
}

// startGroupLocked makes the group client consuming topics.
func (in *Instance) startGroupLocked(topics []string) error {
	opts := append(in.baseOpts(),
		kgo.ConsumerGroup(in.group),
		kgo.ConsumeTopics(topics...),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			in.stateMu.Lock()
			defer in.stateMu.Unlock()
			if in.groupAssigned == nil {
				in.groupAssigned = map[Partition]bool{}
			}
			for t, ps := range m {
				for _, p := range ps {
					in.groupAssigned[Partition{t, p}] = true
				}
			}
		}),
		kgo.OnPartitionsRevoked(in.onLost),
		kgo.OnPartitionsLost(in.onLost),
	)
	if st := in.r.o.Config.SessionTimeout.D(); st > 0 {
		opts = append(opts, kgo.SessionTimeout(st))
	}
	if in.set.AutoCommit {
		// Only records returned to the client are committed.
		opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(5*time.Second))
	} else {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	cl, err := in.r.o.Kafka.NewClient(opts...)
	if err != nil {
		return err
	}
	in.cl = cl
	return nil
}

// onLost drops buffered records of partitions the group took away: their
// new owner will deliver them.
func (in *Instance) onLost(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	if in.set.AutoCommit {
		// Commit what the client was given before giving it up.
		_ = cl.CommitMarkedOffsets(ctx)
	}
	in.stateMu.Lock()
	defer in.stateMu.Unlock()
	lost := map[Partition]bool{}
	for t, ps := range m {
		for _, p := range ps {
			lost[Partition{t, p}] = true
			delete(in.groupAssigned, Partition{t, p})
		}
	}
	in.buffer = slices.DeleteFunc(in.buffer, func(r *kgo.Record) bool { return lost[Partition{r.Topic, r.Partition}] })
}

// Unsubscribe leaves the group, and records that for the other replicas.
func (in *Instance) Unsubscribe(ctx context.Context) error {
	if err := in.unsubscribe(); err != nil {
		return err
	}
	return in.r.publish(ctx, in)
}

func (in *Instance) unsubscribe() error {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return ErrNotFound
	}
	if in.mode == modeSubscribe {
		in.closeClient()
		in.mode, in.topics, in.pattern, in.patSrc, in.matched = modeNone, nil, nil, "", nil
		in.hasPattern.Store(false)
	}
	return nil
}

// Subscription returns the subscribed topics, sorted; for a pattern, the
// topics it matches now among those the owner may fetch.
func (in *Instance) Subscription() []string {
	in.op.Lock()
	defer in.op.Unlock()
	if in.mode != modeSubscribe {
		return []string{}
	}
	if in.pattern != nil {
		return append([]string{}, in.matched...)
	}
	return append([]string{}, in.topics...)
}

// Assign consumes exactly parts, outside group management but committing
// to the instance's group, starting at each partition's committed offset
// or else at auto.offset.reset. Each topic must be one the owner may
// fetch (else its *auth.Denial). The assignment is recorded for the
// other replicas (Options.Directory).
func (in *Instance) Assign(ctx context.Context, parts []Partition) error {
	if err := in.assign(ctx, parts); err != nil {
		return err
	}
	return in.r.publish(ctx, in)
}

func (in *Instance) assign(ctx context.Context, parts []Partition) error {
	live := in.owner.Load().Live
	for _, p := range parts {
		if err := live.Authorize(ctx, auth.Fetch, p.Topic); err != nil {
			return err
		}
	}
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return ErrNotFound
	}
	if in.mode == modeSubscribe {
		return ErrMixed
	}
	in.closeClient()
	in.assigned = map[Partition]kgo.Offset{}
	in.stateMu.Lock()
	in.returned = map[Partition]int64{}
	in.floor = nil
	in.stateMu.Unlock()
	in.mode = modeNone
	if len(parts) == 0 {
		return nil
	}
	committed, err := in.r.o.Kafka.Committed(ctx, in.group)
	if err != nil {
		return err
	}
	consume := map[string]map[int32]kgo.Offset{}
	for _, p := range parts {
		off := in.resetOffset()
		if o, ok := committed.Lookup(p.Topic, p.Partition); ok && o.Err == nil && o.At >= 0 {
			off = kgo.NewOffset().At(o.At)
		}
		in.assigned[p] = off
		if consume[p.Topic] == nil {
			consume[p.Topic] = map[int32]kgo.Offset{}
		}
		consume[p.Topic][p.Partition] = off
	}
	cl, err := in.r.o.Kafka.NewClient(append(in.baseOpts(), kgo.ConsumePartitions(consume))...)
	if err != nil {
		in.assigned = map[Partition]kgo.Offset{}
		return err
	}
	in.cl, in.mode = cl, modeAssign
	return nil
}

// Assignment returns the manually assigned partitions, or the group's
// current assignment, sorted.
func (in *Instance) Assignment() []Partition {
	in.op.Lock()
	defer in.op.Unlock()
	var out []Partition
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
	sortPartitions(out)
	return out
}

func sortPartitions(ps []Partition) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Topic != ps[j].Topic {
			return ps[i].Topic < ps[j].Topic
		}
		return ps[i].Partition < ps[j].Partition
	})
}

// isAssignedLocked reports whether p is currently consumed; op is held.
func (in *Instance) isAssignedLocked(p Partition) bool {
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

// Seek moves the position of assigned partitions. An unassigned
// partition is a *NotAssignedError, and nothing moves.
func (in *Instance) Seek(offsets map[Partition]int64) error {
	in.op.Lock()
	defer in.op.Unlock()
	return in.seekLocked(offsets)
}

func (in *Instance) seekLocked(offsets map[Partition]int64) error {
	if in.closed {
		return ErrNotFound
	}
	for p := range offsets {
		if !in.isAssignedLocked(p) {
			return &NotAssignedError{Partition: p}
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
			remove[p.Topic] = append(remove[p.Topic], p.Partition)
			if add[p.Topic] == nil {
				add[p.Topic] = map[int32]kgo.Offset{}
			}
			off := kgo.NewOffset().At(o)
			add[p.Topic][p.Partition] = off
			in.assigned[p] = off
		}
		in.cl.RemoveConsumePartitions(remove)
		in.cl.AddConsumePartitions(add)
	case modeSubscribe:
		set := map[string]map[int32]kgo.EpochOffset{}
		for p, o := range offsets {
			if set[p.Topic] == nil {
				set[p.Topic] = map[int32]kgo.EpochOffset{}
			}
			set[p.Topic][p.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		in.cl.SetOffsets(set)
	}
	in.stateMu.Lock()
	in.buffer = slices.DeleteFunc(in.buffer, func(r *kgo.Record) bool {
		_, moved := offsets[Partition{r.Topic, r.Partition}]
		return moved
	})
	for p := range offsets {
		delete(in.floor, p) // a seek goes where it says
	}
	in.stateMu.Unlock()
	return nil
}

// SeekEdge seeks partitions to their beginning (start) or end.
func (in *Instance) SeekEdge(ctx context.Context, parts []Partition, start bool) error {
	offs, err := in.resolve(parts, func(adm *kadm.Client, topics []string) (kadm.ListedOffsets, error) {
		if start {
			return adm.ListStartOffsets(ctx, topics...)
		}
		return adm.ListEndOffsets(ctx, topics...)
	})
	if err != nil {
		return err
	}
	return in.Seek(offs)
}

// SeekTime seeks each partition to the first offset at or after a time.
func (in *Instance) SeekTime(ctx context.Context, times map[Partition]time.Time) error {
	offs := map[Partition]int64{}
	for p, t := range times {
		r, err := in.resolve([]Partition{p}, func(adm *kadm.Client, topics []string) (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topics...)
		})
		if err != nil {
			return err
		}
		offs[p] = r[p]
	}
	return in.Seek(offs)
}

func (in *Instance) resolve(parts []Partition, list func(*kadm.Client, []string) (kadm.ListedOffsets, error)) (map[Partition]int64, error) {
	var topics []string
	for _, p := range parts {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
	}
	listed, err := list(in.r.o.Kafka.Admin(), topics)
	if err != nil {
		return nil, err
	}
	out := map[Partition]int64{}
	for _, p := range parts {
		lo, ok := listed.Lookup(p.Topic, p.Partition)
		if !ok {
			return nil, &NotAssignedError{Partition: p}
		}
		if lo.Err != nil {
			return nil, lo.Err
		}
		out[p] = lo.Offset
	}
	return out, nil
}

// authorizeTopics checks fetch on every topic of parts, in name order,
// before anything happens: a topic the owner may not fetch is its
// *auth.Denial whether or not it exists.
func authorizeTopics(ctx context.Context, live *auth.Live, parts []Partition) error {
	var topics []string
	for _, p := range parts {
		topics = append(topics, p.Topic)
	}
	slices.Sort(topics)
	for _, t := range slices.Compact(topics) {
		if err := live.Authorize(ctx, auth.Fetch, t); err != nil {
			return err
		}
	}
	return nil
}

// Commit commits offsets (already +1: the next record to read), each on
// a topic live may fetch now; or, when offsets is nil, everything the
// instance returned so far.
func (in *Instance) Commit(ctx context.Context, live *auth.Live, offsets map[Partition]int64) error {
	if offsets != nil {
		parts := make([]Partition, 0, len(offsets))
		for p := range offsets {
			parts = append(parts, p)
		}
		if err := authorizeTopics(ctx, live, parts); err != nil {
			return err
		}
	}
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return ErrNotFound
	}
	if offsets == nil {
		in.stateMu.Lock()
		offsets = make(map[Partition]int64, len(in.returned))
		for p, o := range in.returned {
			offsets[p] = o
		}
		in.stateMu.Unlock()
	}
	if len(offsets) == 0 {
		return nil
	}
	if err := in.commitLocked(ctx, offsets); err != nil {
		return err
	}
	in.skipCommittedLocked(offsets)
	return nil
}

// skipCommittedLocked moves the position of the partitions an adopted
// instance consumes but has returned nothing from up to what the client
// just committed: the instance was created again on this replica (its holder
// drained or died) from the group's committed offsets as they were then,
// and the client, which read further from the previous holder, now says
// where it got to. Without this, the records in between would be given
// again after their commit. Partitions this instance has returned records
// of keep their position (a commit is not a seek). op is held.
func (in *Instance) skipCommittedLocked(offsets map[Partition]int64) {
	if !in.adopted.Load() {
		return
	}
	ahead := map[Partition]int64{}
	for p, o := range offsets {
		in.stateMu.Lock()
		_, seen := in.returned[p]
		in.stateMu.Unlock()
		if !seen && in.isAssignedLocked(p) {
			ahead[p] = o
		}
	}
	if len(ahead) == 0 {
		return
	}
	_ = in.seekLocked(ahead)
	// The group client may still be setting up the partitions it was just
	// assigned from the committed offsets it fetched before this commit,
	// which would undo the seek: records below the commit are also
	// dropped as they are fetched.
	in.stateMu.Lock()
	if in.floor == nil {
		in.floor = map[Partition]int64{}
	}
	for p, o := range ahead {
		in.floor[p] = o
	}
	in.stateMu.Unlock()
}

// commitLocked commits offsets to the group; op is held.
func (in *Instance) commitLocked(ctx context.Context, offsets map[Partition]int64) error {
	if in.mode == modeSubscribe && in.cl != nil {
		req := map[string]map[int32]kgo.EpochOffset{}
		for p, o := range offsets {
			if req[p.Topic] == nil {
				req[p.Topic] = map[int32]kgo.EpochOffset{}
			}
			req[p.Topic][p.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		return kafka.CommitSync(ctx, in.cl, req)
	}
	os := kadm.Offsets{}
	for p, o := range offsets {
		os.Add(kadm.Offset{Topic: p.Topic, Partition: p.Partition, At: o, LeaderEpoch: -1})
	}
	resp, err := in.r.o.Kafka.Admin().CommitOffsets(ctx, in.group, os)
	if err != nil {
		return err
	}
	return resp.Error()
}

// CommittedOffset is one committed offset of the group.
type CommittedOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Metadata  string `json:"metadata"`
}

// Committed returns the group's committed offsets for parts, each on a
// topic live may fetch now (else its *auth.Denial); or, when parts is
// empty, for every partition the group committed on a topic live may
// fetch now.
func (in *Instance) Committed(ctx context.Context, live *auth.Live, parts []Partition) ([]CommittedOffset, error) {
	if err := authorizeTopics(ctx, live, parts); err != nil {
		return nil, err
	}
	resp, err := in.r.o.Kafka.Committed(ctx, in.group)
	if err != nil {
		return nil, err
	}
	out := []CommittedOffset{}
	if len(parts) > 0 {
		for _, p := range parts {
			if o, ok := resp.Lookup(p.Topic, p.Partition); ok && o.Err == nil && o.At >= 0 {
				out = append(out, CommittedOffset{Topic: p.Topic, Partition: p.Partition, Offset: o.At, Metadata: o.Metadata})
			}
		}
		return out, nil
	}
	allowed := map[string]bool{}
	for _, o := range resp.Sorted() {
		if o.Err != nil || o.At < 0 {
			continue
		}
		ok, seen := allowed[o.Topic]
		if !seen {
			err := live.Authorize(ctx, auth.Fetch, o.Topic)
			if gone(err) {
				return nil, err
			}
			ok = err == nil
			allowed[o.Topic] = ok
		}
		if ok {
			out = append(out, CommittedOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.At, Metadata: o.Metadata})
		}
	}
	return out, nil
}
