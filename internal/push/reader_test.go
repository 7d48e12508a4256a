package push_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/push"
	"github.com/kgate/kgate/internal/testutil"
)

// setup starts a broker with topic (n partitions, each holding records
// 0..per-1, timestamps base+i minutes) and returns kgate's client and a
// plain franz-go client.
func setup(t *testing.T, topic string, n int32, per int, base time.Time) (*kafka.Client, *kgo.Client) {
	t.Helper()
	addr := testutil.StartBroker(t)
	kc, err := kafka.New(kafka.Options{Brokers: []string{addr}, Kafka: config.Default().Kafka, Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), n, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for p := range n {
		for i := range per {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i), Timestamp: base.Add(time.Duration(i) * time.Minute)})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return kc, cl
}

func TestResolve(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	kc, cl := setup(t, "resolve", 3, 5, base)
	adm := kadm.NewClient(cl)
	// Retention deleted partition 2's first two records.
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "resolve", Partition: 2, At: 2})
	if _, err := adm.DeleteRecords(t.Context(), del); err != nil {
		t.Fatal(err)
	}
	ts := base.Add(3 * time.Minute)
	for _, c := range []struct {
		name  string
		start push.Start
		want  push.Position
	}{
		{"latest", push.Start{From: push.FromLatest}, push.Position{5, 5, 5}},
		{"earliest", push.Start{From: push.FromEarliest}, push.Position{0, 0, 2}},
		{"offsets", push.Start{From: push.FromLatest, Offsets: map[int32]int64{0: 1, 2: 0}}, push.Position{1, 5, 2}},
		{"timestamp", push.Start{Timestamp: &ts}, push.Position{3, 3, 3}},
		{"resume", push.Start{Resume: push.Position{4, 5, 1}, From: push.FromLatest}, push.Position{4, 5, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := push.Resolve(t.Context(), kc, "resolve", c.start)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	late := base.Add(time.Hour)
	if got, err := push.Resolve(t.Context(), kc, "resolve", push.Start{Timestamp: &late}); err != nil || !cmp.Equal(got, push.Position{5, 5, 5}) {
		t.Errorf("a timestamp after every record: %v %v, want the ends", got, err)
	}
	for _, bad := range []push.Start{
		{Resume: push.Position{6, 0, 0}},
		{Resume: push.Position{0, 0, 0, 0}},
		{Offsets: map[int32]int64{1: 6}},
		{Offsets: map[int32]int64{3: 0}},
	} {
		if _, err := push.Resolve(t.Context(), kc, "resolve", bad); !errors.Is(err, push.ErrPosition) {
			t.Errorf("Resolve(%+v) = %v, want a position error", bad, err)
		}
	}
	if _, err := push.Resolve(t.Context(), kc, "nope", push.Start{}); !errors.Is(err, kafka.ErrUnknownTopic) {
		t.Errorf("a missing topic: %v", err)
	}
	// Partitions added after a vector was made start at their earliest.
	if _, err := adm.CreatePartitions(t.Context(), 1, "resolve"); err != nil {
		t.Fatal(err)
	}
	kc.Invalidate("resolve")
	if got, err := push.Resolve(t.Context(), kc, "resolve", push.Start{Resume: push.Position{5, 5, 5}}); err != nil || !cmp.Equal(got, push.Position{5, 5, 5, 0}) {
		t.Errorf("resume after a partition was added: %v %v", got, err)
	}
}

// TestReader reads from a position with a filter, at most max records a
// call, each with the position after it, and resumes from any of them.
func TestReader(t *testing.T) {
	kc, _ := setup(t, "read", 2, 6, time.Now())
	rd, err := push.Open(kc, "read", push.Position{0, 0}, push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []push.Item
	for len(got) < 12 {
		items, err := rd.Next(ctx, 5, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > 5 {
			t.Fatalf("%d items for max 5", len(items))
		}
		got = append(got, items...)
	}
	next := map[int32]int64{}
	for _, it := range got {
		if it.Record.Offset != next[it.Record.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", it.Record.Partition, it.Record.Offset, next[it.Record.Partition])
		}
		next[it.Record.Partition]++
		pos, err := push.DecodePosition(it.After, "read")
		if err != nil || pos[it.Record.Partition] != it.Record.Offset+1 {
			t.Fatalf("id %q after %d/%d: %v %v", it.After, it.Record.Partition, it.Record.Offset, pos, err)
		}
	}
	if !cmp.Equal(rd.Position(), push.Position{6, 6}) {
		t.Errorf("Position = %v", rd.Position())
	}
	// Nothing more: Next waits until its context ends.
	short, cancelShort := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelShort()
	if items, err := rd.Next(short, 5, nil); len(items) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("at the end: %d items, %v", len(items), err)
	}

	// A filtered reader skips, but moves on.
	k := []byte("nope")
	fr, err := push.Open(kc, "read", push.Position{0, 3}, push.Options{Filter: push.Filter{Key: &k}})
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	fctx, cancelF := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancelF()
	if items, err := fr.Next(fctx, 5, nil); len(items) != 0 || err == nil {
		t.Errorf("a filter nothing passes: %d items, %v", len(items), err)
	}
	if !cmp.Equal(fr.Position(), push.Position{6, 6}) {
		t.Errorf("filtered reader's position %v, want past every record", fr.Position())
	}
}
