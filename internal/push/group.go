package push

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
)

// group is a Reader's consumer-group state (group mode): which
// partitions this member holds and what it committed, so that commits
// only ever move forward and only for partitions it holds.
type group struct {
	name string
	// mu guards the fields below (franz-go's callbacks run on its own
	// goroutines).
	mu        sync.Mutex
	assigned  map[int32]bool
	committed map[int32]int64
	resume    Position        // the client's resume vector (SSE's Last-Event-ID)
	pending   map[int32]int64 // resume offsets to commit for newly assigned partitions
}

// OpenGroup starts reading topic as a member of a Kafka consumer group:
// the group's members share the partitions, each starts at its group's
// committed offsets (from, where none are committed) and nothing is
// committed until the caller commits (Commit). A resume vector, when
// given, is the client saying it processed everything before it: for the
// partitions this member is assigned, reading starts there and it is
// committed (forward only: never behind what the group committed). pos is
// the vector the stream's ids start from (Resolve's, for every
// partition).
func OpenGroup(ctx context.Context, kc *kafka.Client, topic, name string, from From, resume, pos Position, o Options) (*Reader, error) {
	g := &group{name: name, assigned: map[int32]bool{}, committed: map[int32]int64{}, resume: resume, pending: map[int32]int64{}}
	pos = append(Position(nil), pos...)
	cs, err := kc.Committed(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading the offsets of group %q: %w", name, err)
	}
	cs.Each(func(r kadm.OffsetResponse) {
		if r.Topic == topic && r.Err == nil && r.At >= 0 && int(r.Partition) < len(pos) {
			g.committed[r.Partition] = r.At
			pos[r.Partition] = r.At
		}
	})
	for p, off := range resume {
		if p < len(pos) && off > pos[p] {
			pos[p] = off
		}
	}
	reset := kgo.NewOffset().AtEnd()
	if from == FromEarliest {
		reset = kgo.NewOffset().AtStart()
	}
	if o.MaxWait <= 0 {
		o.MaxWait = defaultMaxWait
	}
	cl, err := kc.NewClient(
		kgo.ConsumerGroup(name),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchMaxBytes(ReadAheadBytes),
		kgo.FetchMaxPartitionBytes(ReadAheadBytes),
		kgo.FetchMaxWait(o.MaxWait),
		kgo.DisableClientMetrics(),
		kgo.ConnIdleTimeout(idleConn),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, p := range m[topic] {
				g.assigned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.drop(m[topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.drop(m[topic]) }),
		kgo.AdjustFetchOffsetsFn(func(_ context.Context, m map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			g.mu.Lock()
			defer g.mu.Unlock()
			for p, off := range m[topic] {
				if int(p) < len(g.resume) && off.EpochOffset().Offset < g.resume[p] {
					m[topic][p] = kgo.NewOffset().At(g.resume[p]).WithEpoch(-1)
					g.pending[p] = g.resume[p]
				}
			}
			return m, nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("reading %q in group %q: %w", topic, name, err)
	}
	return &Reader{topic: topic, cl: cl, pos: pos, filter: o.Filter, group: g, tracer: o.Tracer}, nil
}

func (g *group) drop(ps []int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range ps {
		delete(g.assigned, p)
		delete(g.pending, p)
	}
}

// Commit commits pos for the group: for each partition this member holds,
// the offset pos names, when it is past what was committed. It is a
// no-op outside group mode. Safe to call concurrently with Next.
func (r *Reader) Commit(ctx context.Context, pos Position) error {
	g := r.group
	if g == nil {
		return nil
	}
	g.mu.Lock()
	offs := map[int32]kgo.EpochOffset{}
	for p, off := range pos {
		if g.assigned[int32(p)] && off > g.committed[int32(p)] {
			offs[int32(p)] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
	}
	g.mu.Unlock()
	return r.commit(ctx, offs)
}

// commitPending commits the resume offsets of newly assigned partitions.
func (r *Reader) commitPending(ctx context.Context) error {
	g := r.group
	g.mu.Lock()
	offs := map[int32]kgo.EpochOffset{}
	for p, off := range g.pending {
		if g.assigned[p] && off > g.committed[p] {
			offs[p] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
	}
	clear(g.pending)
	g.mu.Unlock()
	return r.commit(ctx, offs)
}

func (r *Reader) commit(ctx context.Context, offs map[int32]kgo.EpochOffset) error {
	if len(offs) == 0 {
		return nil
	}
	cerr := kafka.CommitSync(ctx, r.cl, map[string]map[int32]kgo.EpochOffset{r.topic: offs})
	if cerr != nil {
		return fmt.Errorf("committing group %q: %w", r.group.name, cerr)
	}
	r.group.mu.Lock()
	for p, off := range offs {
		if off.Offset > r.group.committed[p] {
			r.group.committed[p] = off.Offset
		}
	}
	r.group.mu.Unlock()
	return nil
}
