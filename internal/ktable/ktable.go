// Package ktable materializes a compacted, single-partition Kafka topic as
// shared state: every gateway replays it from the start before serving and
// then follows it, so that a write by one replica reaches all of them
// within a fetch round trip. kgate keeps its revocable tokens and quota
// usage this way.
package ktable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
)

// ApplyFunc receives every record of the topic in offset order; a nil
// value is a tombstone. It is called from one goroutine at a time.
type ApplyFunc func(key string, value []byte)

// Options configure Open.
type Options struct {
	Topic string
	// SegmentInterval is the topic's segment.ms; Kafka compacts only
	// rolled segments. The embedded broker compacts every
	// broker.compaction_interval whatever the segments.
	SegmentInterval time.Duration
	// DeleteRetention is how long tombstones survive compaction, so that
	// a replica that was away that long still sees deletions.
	DeleteRetention time.Duration
	Apply           ApplyFunc
	Logger          *slog.Logger
}

// Table is a followed compacted topic. Its methods are safe for
// concurrent use.
type Table struct {
	kc     *kafka.Client
	cl     *kgo.Client
	topic  string
	apply  ApplyFunc
	logger *slog.Logger

	// mu guards next and wakes waiters when it moves.
	mu   sync.Mutex
	cond *sync.Cond
	next int64 // offset after the last applied record
	done bool
}

// Open creates the topic if it is missing (explicitly, compacted, one
// partition), replays it up to its current end and returns the table.
// Run must then follow it.
func Open(ctx context.Context, kc *kafka.Client, o Options) (*Table, error) {
	if o.Apply == nil {
		return nil, errors.New("ktable: no apply function")
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if o.DeleteRetention <= 0 {
		o.DeleteRetention = 24 * time.Hour
	}
	if o.SegmentInterval <= 0 {
		o.SegmentInterval = 10 * time.Minute
	}
	configs := map[string]*string{
		"cleanup.policy":      ptr("compact"),
		"segment.ms":          ptr(strconv.FormatInt(o.SegmentInterval.Milliseconds(), 10)),
		"delete.retention.ms": ptr(strconv.FormatInt(o.DeleteRetention.Milliseconds(), 10)),
	}
	if err := kc.CreateTopicIfMissing(ctx, o.Topic, 1, -1, configs); err != nil {
		return nil, fmt.Errorf("creating state topic %q: %w", o.Topic, err)
	}
	cl, err := kc.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("state topic %q consumer: %w", o.Topic, err)
	}
	t := &Table{kc: kc, cl: cl, topic: o.Topic, apply: o.Apply, logger: logger}
	t.cond = sync.NewCond(&t.mu)
	end, err := t.endOffset(ctx)
	if err != nil {
		cl.Close()
		return nil, err
	}
	for t.applied() < end {
		// A poll that sees nothing for a while means the tail was
		// compacted away (an expired tombstone): the replay is complete.
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		before := t.applied()
		err := t.poll(pctx)
		cancel()
		if ctx.Err() != nil {
			cl.Close()
			return nil, fmt.Errorf("replaying %q: %w", o.Topic, ctx.Err())
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			cl.Close()
			return nil, fmt.Errorf("replaying %q: %w", o.Topic, err)
		}
		if t.applied() == before && pctx.Err() != nil {
			logger.Debug("state topic replay ended before its end offset (compacted tail)", "topic", o.Topic, "end", end, "applied", before)
			break
		}
	}
	return t, nil
}

func ptr(s string) *string { return &s }

// Topic returns the topic's name.
func (t *Table) Topic() string { return t.topic }

// Run follows the topic until ctx is done, then closes the consumer.
func (t *Table) Run(ctx context.Context) error {
	defer func() {
		t.cl.Close()
		t.mu.Lock()
		t.done = true
		t.cond.Broadcast()
		t.mu.Unlock()
	}()
	for ctx.Err() == nil {
		if err := t.poll(ctx); err != nil && ctx.Err() == nil {
			t.logger.Warn("following state topic", "topic", t.topic, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func (t *Table) poll(ctx context.Context) error {
	fs := t.cl.PollFetches(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ferr error
	fs.EachError(func(_ string, _ int32, err error) {
		if !errors.Is(err, context.Canceled) {
			ferr = err
		}
	})
	last := int64(-1)
	fs.EachRecord(func(r *kgo.Record) {
		t.apply(string(r.Key), r.Value)
		last = r.Offset
	})
	if last >= 0 {
		t.mu.Lock()
		if last+1 > t.next {
			t.next = last + 1
		}
		t.cond.Broadcast()
		t.mu.Unlock()
	}
	return ferr
}

func (t *Table) applied() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next
}

func (t *Table) endOffset(ctx context.Context) (int64, error) {
	ends, err := t.kc.Admin().ListEndOffsets(ctx, t.topic)
	if err != nil {
		return 0, fmt.Errorf("end offset of %q: %w", t.topic, err)
	}
	o, ok := ends.Lookup(t.topic, 0)
	if !ok {
		return 0, fmt.Errorf("end offset of %q: partition 0 missing", t.topic)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("end offset of %q: %w", t.topic, o.Err)
	}
	return o.Offset, nil
}

// CatchUp waits until every record written before the call has been
// applied, or ctx ends. Compaction never removes a topic's last record
// unless it is a tombstone older than delete.retention.ms; in that rare
// case CatchUp waits for ctx, so callers bound it with a short timeout.
func (t *Table) CatchUp(ctx context.Context) error {
	end, err := t.endOffset(ctx)
	if err != nil {
		return err
	}
	return t.waitFor(ctx, end)
}

func (t *Table) waitFor(ctx context.Context, end int64) error {
	stop := context.AfterFunc(ctx, func() {
		t.mu.Lock()
		t.cond.Broadcast()
		t.mu.Unlock()
	})
	defer stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.next < end && !t.done {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.cond.Wait()
	}
	return nil
}

// Put writes records (nil value: tombstone) synchronously with acks=all
// and waits until this table has applied them, so that a caller reads its
// own writes.
func (t *Table) Put(ctx context.Context, kvs ...KV) error {
	if len(kvs) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(kvs))
	for i, kv := range kvs {
		recs[i] = &kgo.Record{Topic: t.topic, Partition: 0, Key: []byte(kv.Key), Value: kv.Value}
	}
	res := t.kc.ProduceSync(ctx, recs)
	var last int64 = -1
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("writing to %q: %w", t.topic, r.Err)
		}
		if r.Offset > last {
			last = r.Offset
		}
	}
	return t.waitFor(ctx, last+1)
}

// KV is one record to Put.
type KV struct {
	Key   string
	Value []byte // nil: tombstone
}
