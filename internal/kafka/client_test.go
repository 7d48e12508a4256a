package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/testutil"
)

func newClient(t *testing.T, autoCreate bool) *kafka.Client {
	t.Helper()
	addr := testutil.StartBroker(t)
	k := config.Default().Kafka
	k.ProduceTimeout = config.Duration(5 * time.Second)
	c, err := kafka.New(kafka.Options{Brokers: []string{addr}, Kafka: k, AutoCreate: autoCreate, DefaultPartitions: 3,
		Replication: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestProduceOldTimestamp: a record carrying a client's timestamp far in
// the past is produced (kgo's own delivery timeout would fail it at once:
// it counts from the record's timestamp).
func TestProduceOldTimestamp(t *testing.T) {
	c := newClient(t, true)
	ctx := t.Context()
	tg, err := c.Target(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	p := int32(0)
	old := time.Date(2020, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for _, cctx := range []context.Context{context.WithoutCancel(ctx), ctx} { // shared and per-record deadlines
		rec, err := tg.Record(p, []byte("k"), []byte("v"), nil, old)
		if err != nil {
			t.Fatal(err)
		}
		res := c.ProduceSync(cctx, []*kgo.Record{rec})[0]
		if res.Err != nil || !res.Timestamp.Equal(old) {
			t.Fatalf("produce: %+v", res)
		}
	}
	f, err := c.FetchPartition(ctx, "old", 0, 0, kafka.FetchOptions{MaxWait: time.Second, MinBytes: 1, MaxBytes: 1 << 20})
	if err != nil || len(f.Records) != 2 || !f.Records[0].Timestamp.Equal(old) || f.HighWatermark != 2 {
		t.Fatalf("fetch: %+v %v", f, err)
	}
}

func TestTargetPartitions(t *testing.T) {
	c := newClient(t, true)
	tg, err := c.Target(t.Context(), "parts")
	if err != nil || tg.Partitions != 3 {
		t.Fatalf("target %+v %v", tg, err)
	}
	for _, p := range []int32{3, 7} {
		if _, err := tg.Partition(p, nil); !errors.Is(err, kafka.ErrUnknownPartition) {
			t.Errorf("partition %d: %v", p, err)
		}
	}
	// Keyed records follow murmur2 (as Java's client); keyless ones share
	// the target's partition.
	k1, _ := tg.Partition(-1, []byte("user-7"))
	if k1 != kafka.KeyPartition([]byte("user-7"), 3) {
		t.Errorf("keyed partition %d", k1)
	}
	a, _ := tg.Partition(-1, nil)
	b, _ := tg.Partition(-1, nil)
	if a != b {
		t.Errorf("keyless records of one target spread: %d, %d", a, b)
	}
	if _, err := c.Target(t.Context(), "bad name"); !errors.Is(err, kafka.ErrUnknownTopic) {
		t.Errorf("invalid name: %v", err)
	}
	off := newClient(t, false)
	if _, err := off.Target(t.Context(), "missing"); !errors.Is(err, kafka.ErrUnknownTopic) {
		t.Errorf("missing topic without auto-creation: %v", err)
	}
}

func TestClusterAndOffsets(t *testing.T) {
	c := newClient(t, true)
	ctx := t.Context()
	ci, err := c.Cluster(ctx)
	if err != nil || ci.ClusterID != "kgate-embedded" || len(ci.Brokers) != 1 || ci.Controller != ci.Brokers[0].NodeID {
		t.Fatalf("cluster %+v %v", ci, err)
	}
	if _, ok := ci.Broker(ci.Brokers[0].NodeID); !ok {
		t.Error("Broker lookup")
	}
	tg, err := c.Target(ctx, "offs")
	if err != nil {
		t.Fatal(err)
	}
	p := int32(1)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := 0; i < 3; i++ {
		r, _ := tg.Record(p, nil, []byte{byte(i)}, nil, base.Add(time.Duration(i)*time.Minute))
		recs = append(recs, r)
	}
	for _, res := range c.ProduceSync(ctx, recs) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	for _, tc := range []struct {
		at   int64
		want int64
	}{
		{kafka.OffsetEarliest, 0}, {kafka.OffsetLatest, 3},
		{base.Add(30 * time.Second).UnixMilli(), 1}, {base.Add(time.Hour).UnixMilli(), -1},
	} {
		if got, err := c.ListOffset(ctx, "offs", 1, tc.at); err != nil || got != tc.want {
			t.Errorf("ListOffset(%d) = %d, %v; want %d", tc.at, got, err, tc.want)
		}
	}
	if _, err := c.ListOffset(ctx, "offs", 7, kafka.OffsetLatest); !errors.Is(err, kafka.ErrUnknownPartition) {
		t.Errorf("unknown partition: %v", err)
	}
	if _, err := c.FetchPartition(ctx, "nope", 0, 0, kafka.FetchOptions{}); !errors.Is(err, kafka.ErrUnknownTopic) {
		t.Errorf("unknown topic: %v", err)
	}
	// A fetch at the end waits at most MaxWait and returns nothing.
	start := time.Now()
	f, err := c.FetchPartition(ctx, "offs", 1, 3, kafka.FetchOptions{MaxWait: 200 * time.Millisecond, MinBytes: 1, MaxBytes: 1 << 20})
	if err != nil || len(f.Records) != 0 || time.Since(start) > 5*time.Second {
		t.Errorf("fetch at the end: %+v %v after %v", f, err, time.Since(start))
	}
	f, err = c.FetchPartition(ctx, "offs", 1, 1, kafka.FetchOptions{MaxWait: time.Second, MinBytes: 1, MaxBytes: 1 << 20})
	if err != nil || len(f.Records) != 2 || f.Records[0].Offset != 1 || f.Records[0].Value[0] != 1 {
		t.Errorf("fetch from 1: %+v %v", f, err)
	}
}

// TestBusyPartitionBatchesFit floods one partition: the batches the
// shared producer builds must stay under the broker's default
// message.max.bytes, or the broker refuses them whole (MESSAGE_TOO_LARGE).
func TestBusyPartitionBatchesFit(t *testing.T) {
	c := newClient(t, true)
	tg, err := c.Target(t.Context(), "busy")
	if err != nil {
		t.Fatal(err)
	}
	const n = 50000
	value := make([]byte, 200)
	p := int32(0)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var first atomic.Value
	ctx := context.WithoutCancel(t.Context())
	wg.Add(n)
	for i := 0; i < n; i++ {
		rec, _ := tg.Record(p, nil, value, nil, time.Time{})
		c.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err.Error())
			}
			wg.Done()
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d records failed, first: %v", f, n, first.Load())
	}
}

// TestProduceSyncInto: results land in the caller's slice (grown when
// short), in order; records without a time of their own share the one
// ProduceSyncInto read, records with one keep it.
func TestProduceSyncInto(t *testing.T) {
	c := newClient(t, true)
	ctx := t.Context()
	tg, err := c.Target(ctx, "into")
	if err != nil {
		t.Fatal(err)
	}
	own := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	krecs := make([]kgo.Record, 4)
	recs := make([]*kgo.Record, len(krecs))
	for i := range krecs {
		ts := time.Time{}
		if i == 2 {
			ts = own
		}
		if err := tg.Fill(&krecs[i], 0, nil, []byte{byte(i)}, nil, ts); err != nil {
			t.Fatal(err)
		}
		recs[i] = &krecs[i]
	}
	before := time.Now().Truncate(time.Millisecond)
	out := c.ProduceSyncInto(ctx, recs, make([]kafka.Result, 1))
	if len(out) != len(recs) {
		t.Fatalf("%d results for %d records", len(out), len(recs))
	}
	for i, res := range out {
		switch {
		case res.Err != nil:
			t.Fatalf("record %d: %v", i, res.Err)
		case res.Offset != int64(i):
			t.Errorf("record %d at offset %d", i, res.Offset)
		case i == 2 && !res.Timestamp.Equal(own):
			t.Errorf("record with its own time stamped %v, want %v", res.Timestamp, own)
		case i != 2 && (!res.Timestamp.Equal(out[0].Timestamp) || res.Timestamp.Before(before)):
			t.Errorf("record %d stamped %v, record 0 %v (produced after %v)", i, res.Timestamp, out[0].Timestamp, before)
		}
	}
	// A long enough slice is reused (with the record filled again: a
	// produced one keeps the context it was produced with).
	if err := tg.Fill(&krecs[0], 0, nil, []byte{9}, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	again := c.ProduceSyncInto(ctx, recs[:1], out)
	if &again[0] != &out[0] || len(again) != 1 || again[0].Err != nil {
		t.Errorf("results not written into the given slice: %+v", again)
	}
}
