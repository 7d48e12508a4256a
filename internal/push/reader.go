package push

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/tracing"
)

// ReadAheadBytes bounds what a Reader fetches beyond what its caller
// asked for: the Kafka client holds at most one fetch response (of at
// most this many bytes, or one record when a single record is larger)
// until the caller takes its records, and fetches again only then.
const ReadAheadBytes = 1 << 20

// idleConn is how long a Reader's Kafka client keeps a connection it
// does not use.
const idleConn = 5 * time.Second

// defaultMaxWait is Options.MaxWait's default.
const defaultMaxWait = 5 * time.Second

// Item is one record a Reader returns, with the stream's position after
// it (the vector the client resumes from).
type Item struct {
	Record *kgo.Record
	After  string
}

// Reader reads one topic from a Position, every partition, in order per
// partition, keeping the position of what it returned; in group mode
// (OpenGroup) as a member of a consumer group. It is not safe for
// concurrent use (one stream's goroutine drives it), except Commit and
// Close.
type Reader struct {
	topic  string
	cl     *kgo.Client
	pos    Position
	filter Filter
	// pending are records polled and not yet returned (a caller asked
	// for fewer than a filter let through).
	pending []*kgo.Record
	group   *group // nil outside group mode
	tracer  *tracing.Tracer
}

// Options tune a Reader.
type Options struct {
	Filter Filter
	// MaxWait is how long one fetch waits at the broker for records
	// (default 5 s): an idle stream costs one fetch request per MaxWait.
	MaxWait time.Duration
	// Tracer records a span for each returned record that carries a
	// trace context, linked to the stream's (nil: none).
	Tracer *tracing.Tracer
}

// Open starts reading topic at pos (from Resolve). Close it.
func Open(kc *kafka.Client, topic string, pos Position, o Options) (*Reader, error) {
	offsets := make(map[int32]kgo.Offset, len(pos))
	for p, off := range pos {
		offsets[int32(p)] = kgo.NewOffset().At(off)
	}
	if o.MaxWait <= 0 {
		o.MaxWait = defaultMaxWait
	}
	cl, err := kc.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(ReadAheadBytes),
		kgo.FetchMaxPartitionBytes(ReadAheadBytes),
		kgo.FetchMaxWait(o.MaxWait),
		// An idle stream keeps only its fetch connection: the seed and
		// metadata connections go once idle (kgo's default is 20 s).
		kgo.ConnIdleTimeout(idleConn),
		// No KIP-714 client telemetry: each stream's client would push
		// (gzip, a few hundred kB of garbage) on close, for nobody.
		kgo.DisableClientMetrics(),
		// Records deleted by retention while the stream ran: go on at
		// the partition's start (what is left).
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", topic, err)
	}
	return &Reader{topic: topic, cl: cl, pos: append(Position(nil), pos...), filter: o.Filter, tracer: o.Tracer}, nil
}

// Position returns the position after the records returned so far
// (skipped ones included).
func (r *Reader) Position() Position { return append(Position(nil), r.pos...) }

// Next waits for records and returns at most max of them (at least one
// unless it fails), each with the position after it; records the filter
// skips move the position on and are not returned. It returns ctx's
// cause when ctx ends first.
func (r *Reader) Next(ctx context.Context, max int, dst []Item) ([]Item, error) {
	dst = dst[:0]
	for len(dst) == 0 {
		if len(r.pending) == 0 {
			if r.group != nil {
				if err := r.commitPending(ctx); err != nil {
					return dst, err
				}
			}
			fs := r.cl.PollRecords(ctx, max)
			// Records first: they left the client's buffer, and a
			// context that ends as they arrive must not drop them.
			r.pending = fs.Records()
			if len(r.pending) == 0 {
				if err := ctx.Err(); err != nil {
					return dst, context.Cause(ctx)
				}
				var ferr error
				fs.EachError(func(t string, p int32, err error) {
					if ferr == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
						ferr = fmt.Errorf("reading %s/%d: %w", t, p, err)
					}
				})
				if ferr != nil {
					return dst, ferr
				}
				continue
			}
		}
		var buf []byte
		n := 0
		for _, rec := range r.pending {
			if len(dst) == max {
				break
			}
			n++
			if int(rec.Partition) < len(r.pos) {
				r.pos[rec.Partition] = rec.Offset + 1
			}
			if !r.filter.Match(rec) {
				continue
			}
			buf = r.pos.AppendEncode(buf[:0], r.topic)
			dst = append(dst, Item{Record: rec, After: string(buf)})
		}
		r.pending = r.pending[n:]
		if len(r.pending) == 0 {
			r.pending = nil
		}
	}
	if r.tracer.On() {
		group := ""
		if r.group != nil {
			group = r.group.name
		}
		recs := make([]*kgo.Record, len(dst))
		for i, it := range dst {
			recs[i] = it.Record
		}
		r.tracer.Delivered(ctx, "push", group, recs)
	}
	return dst, nil
}

// Close stops reading and closes the Kafka client.
func (r *Reader) Close() { r.cl.Close() }
