package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/singleflight"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/tracing"
)

// ErrUnknownTopic is returned for a topic that does not exist (and was not
// created because auto-creation is off).
var ErrUnknownTopic = errors.New("topic not found")

// ErrUnknownPartition is returned for a partition the topic does not have.
var ErrUnknownPartition = errors.New("partition not found")

// Client is the gateway's connection to Kafka: one idempotent producer
// (acks=all) shared by every request, an admin client, and a cache of
// topic partition counts. It is safe for concurrent use.
type Client struct {
	cl       *kgo.Client
	adm      *kadm.Client
	connOpts []kgo.Opt
	logger   *slog.Logger

	autoCreate        bool
	defaultPartitions int32
	replication       int16
	metaMaxAge        time.Duration
	produceTimeout    time.Duration

	sf singleflight.Group

	mu     sync.RWMutex
	topics map[string]topicEntry

	rr atomic.Uint32 // spreads keyless requests over partitions

	// epoch is the deadline context shared by records produced within
	// the same tenth of a second (one timer per epoch, not per record).
	epoch atomic.Pointer[deadlineEpoch]
}

type deadlineEpoch struct {
	ctx    context.Context
	cancel context.CancelFunc // the deadline ends it; kept for vet
	start  time.Time
}

// epochLength bounds how much earlier than produce_timeout a record may
// time out in exchange for sharing a deadline.
const epochLength = 100 * time.Millisecond

// recordContext returns a context that ends kafka.produce_timeout from
// now (at most epochLength less), shared by records produced together.
func (c *Client) recordContext(now time.Time) context.Context {
	e := c.epoch.Load()
	if e != nil && now.Sub(e.start) < epochLength {
		return e.ctx
	}
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(c.produceTimeout))
	ne := &deadlineEpoch{ctx: ctx, cancel: cancel, start: now}
	if c.epoch.CompareAndSwap(e, ne) {
		return ctx
	}
	cancel()
	if e = c.epoch.Load(); e != nil {
		return e.ctx
	}
	return ctx
}

type topicEntry struct {
	partitions int32
	fetched    time.Time
}

// Options configure New.
type Options struct {
	Brokers []string
	Kafka   config.Kafka
	// AutoCreate creates missing topics (DefaultPartitions, Replication)
	// before producing to them.
	AutoCreate        bool
	DefaultPartitions int32
	Replication       int16 // -1: broker default
	Logger            *slog.Logger
	// Hooks are franz-go hooks (metrics) for the shared producer only:
	// kprom registers its collectors once per registry, so further
	// clients built with NewClient do not get them.
	Hooks []kgo.Hook
	// TLS, when set, is the client's TLS configuration instead of
	// kafka.tls's (kgate's own client of an embedded broker whose Kafka
	// port speaks TLS).
	TLS *tls.Config
	// Dial, when set, opens the client's connections instead of a TCP
	// dial (the embedded broker's Unix socket).
	Dial func(ctx context.Context, network, host string) (net.Conn, error)
}

// New connects the shared producer and admin client. It does not wait for
// the cluster to answer; use Ping for that.
func New(o Options) (*Client, error) {
	conn, err := ConnOpts(o.Brokers, o.Kafka, o.Logger)
	if err != nil {
		return nil, err
	}
	if o.TLS != nil {
		conn = append(conn, kgo.DialTLSConfig(o.TLS))
	} else if o.Dial != nil {
		conn = append(conn, kgo.Dialer(o.Dial))
	}
	codec, err := compression(o.Kafka.Compression)
	if err != nil {
		return nil, err
	}
	popts := append(append([]kgo.Opt(nil), conn...),
		kgo.WithHooks(o.Hooks...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence requires it; stated for the reader
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(o.Kafka.Linger.D()),
		kgo.MaxBufferedRecords(o.Kafka.MaxBufferedRecords),
		// No kgo.RecordDeliveryTimeout: kgo measures it from each
		// record's Timestamp, so a record carrying a client's older
		// timestamp would fail at once. Produce bounds delivery with
		// the record's context instead.
		kgo.ProducerBatchCompression(codec),
		// Batches stay at franz-go's default size (1000012 bytes, under
		// the broker's default message.max.bytes): larger ones, which a
		// busy partition quickly fills, are refused whole with
		// MESSAGE_TOO_LARGE. A single record above it fails as too large
		// (413), as the broker would refuse it too.
		kgo.MetadataMaxAge(o.Kafka.MetadataMaxAge.D()),
	)
	cl, err := kgo.NewClient(popts...)
	if err != nil {
		return nil, fmt.Errorf("creating Kafka client: %w", err)
	}
	parts := o.DefaultPartitions
	if parts < 1 {
		parts = 1
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cl:                cl,
		adm:               kadm.NewClient(cl),
		connOpts:          conn,
		logger:            logger,
		autoCreate:        o.AutoCreate,
		defaultPartitions: parts,
		replication:       o.Replication,
		metaMaxAge:        o.Kafka.MetadataMaxAge.D(),
		produceTimeout:    o.Kafka.ProduceTimeout.D(),
		topics:            make(map[string]topicEntry),
	}, nil
}

func compression(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("unknown compression %q", name)
}

// Kgo returns the shared producer client.
func (c *Client) Kgo() *kgo.Client { return c.cl }

// Admin returns the admin client.
func (c *Client) Admin() *kadm.Client { return c.adm }

// AutoCreate reports whether missing topics are created on produce.
func (c *Client) AutoCreate() bool { return c.autoCreate }

// NewClient builds a further franz-go client (a consumer, say) with the
// same connection settings as the shared producer (not its hooks). The caller
// owns and closes it.
func (c *Client) NewClient(extra ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append(append([]kgo.Opt(nil), c.connOpts...), extra...)...)
}

// Ping checks that a broker answers.
func (c *Client) Ping(ctx context.Context) error { return c.cl.Ping(ctx) }

// ProduceTimeout is how long a record may wait for its acknowledgement.
func (c *Client) ProduceTimeout() time.Duration { return c.produceTimeout }

// Flush waits for every buffered record to be acknowledged or to fail.
func (c *Client) Flush(ctx context.Context) error { return c.cl.Flush(ctx) }

// Close flushes nothing and closes the clients; call Flush first.
func (c *Client) Close() { c.cl.Close() }

// Partitions returns the topic's partition count from the cache, asking
// the cluster on a miss or when the entry is older than metadata_max_age.
// It returns ErrUnknownTopic for a missing topic.
func (c *Client) Partitions(ctx context.Context, topic string) (int32, error) {
	c.mu.RLock()
	e, ok := c.topics[topic]
	c.mu.RUnlock()
	if ok && time.Since(e.fetched) < c.metaMaxAge {
		return e.partitions, nil
	}
	return c.refresh(ctx, topic)
}

// Invalidate drops the cached metadata of topic (after an admin change).
func (c *Client) Invalidate(topic string) {
	c.mu.Lock()
	delete(c.topics, topic)
	c.mu.Unlock()
}

func (c *Client) refresh(ctx context.Context, topic string) (int32, error) {
	v, err, _ := c.sf.Do("meta/"+topic, func() (any, error) {
		td, err := c.Topic(ctx, topic)
		if errors.Is(err, ErrUnknownTopic) {
			c.Invalidate(topic)
		}
		if err != nil {
			return int32(0), err
		}
		n := int32(len(td.Partitions))
		c.mu.Lock()
		c.topics[topic] = topicEntry{partitions: n, fetched: time.Now()}
		c.mu.Unlock()
		return n, nil
	})
	return v.(int32), err
}

// EnsureTopic returns the topic's partition count, creating the topic
// first when it is missing and auto-creation is on. Without auto-creation
// a missing topic is ErrUnknownTopic at once.
func (c *Client) EnsureTopic(ctx context.Context, topic string) (int32, error) {
	n, err := c.Partitions(ctx, topic)
	if !errors.Is(err, ErrUnknownTopic) || !c.autoCreate {
		return n, err
	}
	if err := c.CreateTopicIfMissing(ctx, topic, c.defaultPartitions, c.replication, nil); err != nil {
		return 0, err
	}
	return c.refresh(ctx, topic)
}

// CreateTopic creates a topic explicitly (never through the broker's
// auto-create) and logs it.
func (c *Client) CreateTopic(ctx context.Context, topic string, partitions int32, replication int16, configs map[string]*string) error {
	_, err, _ := c.sf.Do("create/"+topic, func() (any, error) {
		resp, err := c.adm.CreateTopic(ctx, partitions, replication, configs, topic)
		if err != nil {
			return nil, err
		}
		if resp.Err != nil {
			return nil, resp.Err
		}
		c.logger.Info("topic created", "topic", topic, "partitions", partitions)
		return nil, nil
	})
	if err == nil {
		c.Invalidate(topic)
	}
	return err
}

// CreateTopicIfMissing is CreateTopic for kgate's own topics and workers'
// topics: one that already exists is fine (as it was made, whatever its
// settings).
func (c *Client) CreateTopicIfMissing(ctx context.Context, topic string, partitions int32, replication int16, configs map[string]*string) error {
	if err := c.CreateTopic(ctx, topic, partitions, replication, configs); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return err
	}
	return nil
}

// Result is the outcome of producing one record.
type Result struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Err       error
}

// ProduceSync produces recs (Topic and Partition set) and returns one
// Result per record, in the same order, once the broker acknowledged or
// failed every one of them. Records not sent within the produce timeout
// fail. (franz-go's RecordDeliveryTimeout is not used: it counts from the
// record's timestamp, which clients may set in the past.)
//
// Records without a timestamp of their own are stamped with one time,
// read when ProduceSync starts. Records carry ctx's trace context, if
// any, in traceparent and tracestate headers, unless they have a
// traceparent of their own; so do those of Produce and ProduceAt.
func (c *Client) ProduceSync(ctx context.Context, recs []*kgo.Record) []Result {
	return c.ProduceSyncInto(ctx, recs, nil)
}

// ProduceSyncInto is ProduceSync with the results written into out,
// which is grown when it is shorter than recs: a caller that keeps out
// from one call to the next produces without allocating per record.
func (c *Client) ProduceSyncInto(ctx context.Context, recs []*kgo.Record, out []Result) []Result {
	ctx, cancel := context.WithTimeout(ctx, c.produceTimeout)
	defer cancel()
	// One callback for the whole request: franz-go sets partition, offset
	// and timestamp on each record, so only errors need keeping.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs map[*kgo.Record]error
	)
	done := func(r *kgo.Record, err error) {
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = kgo.ErrRecordTimeout
			}
			mu.Lock()
			if errs == nil {
				errs = make(map[*kgo.Record]error)
			}
			errs[r] = err
			mu.Unlock()
		}
		wg.Done()
	}
	wg.Add(len(recs))
	trace := tracing.RecordHeaders(ctx)
	// Records without a time of their own get the same one: franz-go
	// would read the clock for each (a visible share of a large
	// request's CPU).
	now := time.Now()
	for _, r := range recs {
		tracing.AddRecordHeaders(r, trace)
		if r.Timestamp.IsZero() {
			r.Timestamp = now
		}
		c.cl.Produce(ctx, r, done)
	}
	wg.Wait()
	out = slices.Grow(out[:0], len(recs))[:len(recs)]
	for i, r := range recs {
		out[i] = Result{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
		if errs != nil {
			out[i].Err = errs[r]
		}
	}
	return out
}

// Produce buffers one record (Topic and Partition set) and calls done when
// the broker acknowledged or failed it. It may block while the producer
// buffer is full. A record not sent within kafka.produce_timeout (or ctx's
// own deadline, when it has one) fails with kgo.ErrRecordTimeout, whatever
// its own timestamp says.
func (c *Client) Produce(ctx context.Context, r *kgo.Record, done func(*kgo.Record, error)) {
	c.ProduceAt(ctx, time.Time{}, r, func(r *kgo.Record, err error) {
		if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = kgo.ErrRecordTimeout
		}
		done(r, err)
	})
}

// ProduceAt is Produce for the hot path: callers that read the clock once
// for many records pass it as now (it stamps a record without a timestamp
// and starts its produce timeout; zero reads the clock), and a record past
// its produce timeout fails with context.DeadlineExceeded (done maps it).
func (c *Client) ProduceAt(ctx context.Context, now time.Time, r *kgo.Record, done func(*kgo.Record, error)) {
	tracing.AddRecordHeaders(r, tracing.RecordHeaders(ctx))
	if _, ok := ctx.Deadline(); ok || c.produceTimeout <= 0 {
		c.cl.Produce(ctx, r, done)
		return
	}
	if ctx.Done() != nil {
		rctx, cancel := context.WithTimeout(ctx, c.produceTimeout)
		c.cl.Produce(rctx, r, func(r *kgo.Record, err error) {
			cancel()
			done(r, err)
		})
		return
	}
	// The caller's context cannot end (context.WithoutCancel, say): share
	// a deadline with the records produced around now.
	if now.IsZero() {
		now = time.Now()
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = now
	}
	c.cl.Produce(c.recordContext(now), r, done)
}

// Partitioner chooses partitions for one request's records, as Kafka's
// Java client does: murmur2 of the key for keyed records; one partition
// for all keyless records of the request, moving on between requests.
type Partitioner struct {
	n       int32
	keyless int32
}

// Partitioner returns a partitioner for one request to a topic of n
// partitions.
func (c *Client) Partitioner(n int32) Partitioner {
	return Partitioner{n: n, keyless: int32(c.rr.Add(1) % uint32(n))}
}

// For returns the partition for a record with key (nil: keyless).
func (p Partitioner) For(key []byte) int32 {
	if key == nil {
		return p.keyless
	}
	return KeyPartition(key, p.n)
}

// ValidTopic reports whether name is a legal Kafka topic name: 1 to 249
// characters of [a-zA-Z0-9._-], and not "." or "..".
func ValidTopic(name string) bool {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
