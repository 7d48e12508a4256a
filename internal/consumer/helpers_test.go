package consumer

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/testutil"
)

// testKafka connects kgate's Kafka layer to a fresh embedded broker.
func testKafka(t testing.TB) (*kafka.Client, string) {
	t.Helper()
	addr := testutil.StartBroker(t)
	kc := newKafka(t, addr)
	return kc, addr
}

func newKafka(t testing.TB, addr string) *kafka.Client {
	t.Helper()
	cfg := config.Default()
	cfg.Kafka.ProduceTimeout = config.Duration(10 * time.Second)
	kc, err := kafka.New(kafka.Options{Brokers: []string{addr}, Kafka: cfg.Kafka, Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return kc
}

func createTopic(t testing.TB, kc *kafka.Client, topic string, partitions int32) {
	t.Helper()
	if err := kc.CreateTopic(t.Context(), topic, partitions, -1, nil); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

// produceN produces n records to every partition of topic, keyed
// "p<partition>" with values "<partition>-<i>", and waits for them.
func produceN(t *testing.T, kc *kafka.Client, topic string, partitions int32, n int) {
	t.Helper()
	var recs []*kgo.Record
	for p := range partitions {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte("p" + strconv.Itoa(int(p))),
				Value: []byte(fmt.Sprintf("%d-%d", p, i))})
		}
	}
	for _, r := range kc.ProduceSync(t.Context(), recs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// readN reads topic from the start until it has n records or the
// timeout passes.
func readN(t *testing.T, addr, topic string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// committed returns the group's committed offsets for topic by partition.
func committed(t *testing.T, kc *kafka.Client, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := kc.Admin().FetchOffsets(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

// baseOptions are fast settings for tests.
func baseOptions(kc *kafka.Client, h Handler) Options {
	return Options{
		Client:           kc,
		Topics:           []string{"in"},
		Group:            "g",
		HandlerName:      "test",
		Handler:          h,
		OutputTopic:      "out",
		DLQTopic:         "dlq",
		Concurrency:      4,
		MaxAttempts:      3,
		Backoff:          Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond},
		HandlerTimeout:   5 * time.Second,
		RevokeGrace:      2 * time.Second,
		CreateTopics:     true,
		Partitions:       3,
		SessionTimeout:   6 * time.Second,
		RebalanceTimeout: 10 * time.Second,
		Logger:           testutil.Logger(),
		ConsumerOpts:     []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)},
	}
}

// running is a runtime started in the background.
type running struct {
	rt     *Runtime
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func start(t *testing.T, o Options) *running {
	t.Helper()
	rt, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{rt: rt, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- rt.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the runtime and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("runtime did not stop within 30s")
		}
	})
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func header(r *kgo.Record, k string) string {
	v, _ := Header(r, k)
	return v
}

// scrape gathers the runtime's metrics and returns the value of the
// series name{labels} (counters, gauges; histograms give their count).
func scrape(t *testing.T, rt *Runtime, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(rt)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}
