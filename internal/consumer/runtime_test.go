package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRuntimeOrderOutputsCommits(t *testing.T) {
	t.Parallel()
	kc, addr := testKafka(t)
	createTopic(t, kc, "in", 3)
	const perPartition = 40
	produceN(t, kc, "in", 3, perPartition)

	var (
		mu       sync.Mutex
		last     = map[int32]int64{}
		disorder []string
		active   atomic.Int32
		peak     atomic.Int32
	)
	h := HandlerFunc(func(ctx context.Context, r *kgo.Record) ([]Output, error) {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		if prev, ok := last[r.Partition]; ok && r.Offset != prev+1 {
			disorder = append(disorder, fmt.Sprintf("p%d: %d after %d", r.Partition, r.Offset, prev))
		}
		last[r.Partition] = r.Offset
		mu.Unlock()
		time.Sleep(time.Millisecond)
		return []Output{{Value: append([]byte("out:"), r.Value...)}}, nil
	})
	o := baseOptions(kc, h)
	o.Concurrency = 2
	run := start(t, o)

	outs := readN(t, addr, "out", 3*perPartition, 20*time.Second)
	if len(outs) != 3*perPartition {
		t.Fatalf("%d outputs, want %d", len(outs), 3*perPartition)
	}
	for _, r := range outs {
		p, _ := strconv.Atoi(header(r, HeaderOriginPartition))
		if string(r.Key) != "p"+strconv.Itoa(p) {
			t.Errorf("output key %q for input partition %d", r.Key, p)
		}
		if !strings.HasPrefix(string(r.Value), "out:"+strconv.Itoa(p)+"-") || header(r, HeaderHandler) != "test" || header(r, HeaderOriginTopic) != "in" {
			t.Errorf("output %q headers %v", r.Value, r.Headers)
		}
	}
	waitFor(t, 10*time.Second, "commits", func() bool {
		c := committed(t, kc, "g", "in")
		return c[0] == perPartition && c[1] == perPartition && c[2] == perPartition
	})
	if s := run.rt.Stats(); s.Handled != 3*perPartition || s.Lag != 0 || s.Partitions != 3 {
		t.Errorf("stats %+v", s)
	}
	if got := scrape(t, run.rt, "kgate_handle_lag_records", map[string]string{"topic": "in", "partition": "1"}); got != 0 {
		t.Errorf("lag metric %v", got)
	}
	run.stop(t)
	if len(disorder) > 0 {
		t.Errorf("records out of order: %v", disorder)
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d records handled at once, concurrency is 2", p)
	}
	// After the stop the counts live on in the retired totals.
	if got := scrape(t, run.rt, "kgate_handle_records_handled_total", map[string]string{"handler": "test"}); got != 3*perPartition {
		t.Errorf("handled metric %v", got)
	}
	if got := scrape(t, run.rt, "kgate_handle_duration_seconds", map[string]string{"outcome": "handled"}); got != 3*perPartition {
		t.Errorf("duration histogram count %v", got)
	}
}

func TestRuntimeFailures(t *testing.T) {
	t.Parallel()
	kc, addr := testKafka(t)
	createTopic(t, kc, "in", 1)
	attempts := map[string]int{}
	var mu sync.Mutex
	h := HandlerFunc(func(ctx context.Context, r *kgo.Record) ([]Output, error) {
		mu.Lock()
		attempts[string(r.Value)]++
		n := attempts[string(r.Value)]
		mu.Unlock()
		switch string(r.Value) {
		case "malformed":
			return nil, Malformed(errors.New("bad json"))
		case "permanent":
			return nil, Permanent(errors.New("gone for good"))
		case "flaky":
			if n < 3 {
				return nil, errors.New("try again")
			}
		case "always":
			return nil, errors.New("still broken")
		case "panic":
			panic("boom")
		}
		return []Output{{Value: r.Value}}, nil
	})
	o := baseOptions(kc, h)
	o.MaxAttempts = 3
	values := []string{"ok1", "malformed", "flaky", "permanent", "always", "panic", "ok2"}
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: "in", Key: []byte("k-" + v), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t-" + v)}}})
	}
	for _, r := range kc.ProduceSync(t.Context(), recs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	run := start(t, o)

	dlq := readN(t, addr, "dlq", 4, 20*time.Second)
	outs := readN(t, addr, "out", 3, 10*time.Second)
	var outVals []string
	for _, r := range outs {
		outVals = append(outVals, string(r.Value))
	}
	if fmt.Sprint(outVals) != "[ok1 flaky ok2]" {
		t.Errorf("outputs %v, want [ok1 flaky ok2] in order", outVals)
	}
	want := map[string]struct {
		reason   string
		attempts string
		err      string
	}{
		"malformed": {ReasonMalformed, "1", "bad json"},
		"permanent": {ReasonPermanent, "1", "gone for good"},
		"always":    {ReasonExhausted, "3", "still broken"},
		"panic":     {ReasonPanic, "1", "handler panicked: boom"},
	}
	if len(dlq) != len(want) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(want))
	}
	for _, r := range dlq {
		w, ok := want[string(r.Value)]
		if !ok {
			t.Errorf("unexpected dead letter %q", r.Value)
			continue
		}
		got := map[string]string{
			"reason": header(r, HeaderDLQReason), "attempts": header(r, HeaderDLQAttempts), "error": header(r, HeaderDLQError),
			"handler": header(r, HeaderDLQHandler), "group": header(r, HeaderDLQGroup), "topic": header(r, HeaderDLQOriginTopic),
			"partition": header(r, HeaderDLQOriginPartition), "trace": header(r, "trace"),
		}
		if got["reason"] != w.reason || got["attempts"] != w.attempts || got["error"] != w.err || got["handler"] != "test" ||
			got["group"] != "g" || got["topic"] != "in" || got["partition"] != "0" || got["trace"] != "t-"+string(r.Value) ||
			string(r.Key) != "k-"+string(r.Value) {
			t.Errorf("dead letter %q: %v", r.Value, got)
		}
		off, err := strconv.Atoi(header(r, HeaderDLQOriginOffset))
		if err != nil || values[off] != string(r.Value) {
			t.Errorf("dead letter %q: origin offset %q", r.Value, header(r, HeaderDLQOriginOffset))
		}
	}
	waitFor(t, 10*time.Second, "commit of everything", func() bool { return committed(t, kc, "g", "in")[0] == int64(len(values)) })
	s := run.rt.Stats()
	// failed attempts: malformed 1, flaky 2, permanent 1, always 3, panic 1
	if s.Handled != 3 || s.DeadLettered != 4 || s.Failed != 8 || s.Retried != 4 {
		t.Errorf("stats %+v", s)
	}
	if got := scrape(t, run.rt, "kgate_handle_records_dead_lettered_total", map[string]string{"reason": ReasonExhausted}); got != 1 {
		t.Errorf("dead-lettered{exhausted} = %v", got)
	}
	if got := scrape(t, run.rt, "kgate_handle_retries_total", nil); got != 4 {
		t.Errorf("retries = %v", got)
	}
}

func TestRuntimeShutdownGrace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		grace     time.Duration
		block     time.Duration
		committed int64 // offset committed after the stop
	}{
		{"in-flight record finishes", 5 * time.Second, 300 * time.Millisecond, 2},
		{"in-flight record abandoned", 100 * time.Millisecond, time.Minute, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kc, _ := testKafka(t)
			createTopic(t, kc, "in", 1)
			for _, r := range kc.ProduceSync(t.Context(), []*kgo.Record{
				{Topic: "in", Value: []byte("quick")}, {Topic: "in", Value: []byte("slow")}, {Topic: "in", Value: []byte("never")},
			}) {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			started := make(chan struct{})
			var handled []string
			var mu sync.Mutex
			h := HandlerFunc(func(ctx context.Context, r *kgo.Record) ([]Output, error) {
				if string(r.Value) == "slow" {
					close(started)
					select {
					case <-time.After(tt.block):
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				mu.Lock()
				handled = append(handled, string(r.Value))
				mu.Unlock()
				return nil, nil
			})
			o := baseOptions(kc, h)
			o.RevokeGrace = tt.grace
			o.HandlerTimeout = 2 * time.Minute
			run := start(t, o)
			select {
			case <-started:
			case <-time.After(20 * time.Second):
				t.Fatal("slow record never started")
			}
			run.stop(t)
			if got := committed(t, kc, "g", "in")[0]; got != tt.committed {
				t.Errorf("committed %d, want %d (handled %v)", got, tt.committed, handled)
			}
			for _, v := range handled {
				if v == "never" {
					t.Error("a record was handled after the stop began")
				}
			}
		})
	}
}

// TestRuntimeRebalance runs two workers in one group: while the second
// joins and takes partitions away from the first, no partition is ever
// handled by both at once, nothing is lost, and duplicates stay few.
func TestRuntimeRebalance(t *testing.T) {
	t.Parallel()
	kc, addr := testKafka(t)
	createTopic(t, kc, "in", 4)
	const perPartition = 150
	produceN(t, kc, "in", 4, perPartition)

	var (
		mu       sync.Mutex
		owner    = map[int32]string{} // partition -> worker handling it now
		overlaps []string
		seen     = map[string]int{}
		bWorked  atomic.Bool
	)
	handler := func(name string) Handler {
		return HandlerFunc(func(ctx context.Context, r *kgo.Record) ([]Output, error) {
			mu.Lock()
			if o := owner[r.Partition]; o != "" && o != name {
				overlaps = append(overlaps, fmt.Sprintf("p%d handled by %s and %s", r.Partition, o, name))
			}
			owner[r.Partition] = name
			seen[string(r.Value)]++
			mu.Unlock()
			// The first worker goes slowly until the second has taken
			// work, so that it cannot finish everything before the
			// second joins (that would test no rebalance at all).
			if name == "b" {
				bWorked.Store(true)
			}
			if name == "a" && !bWorked.Load() {
				time.Sleep(20 * time.Millisecond)
			} else {
				time.Sleep(2 * time.Millisecond)
			}
			mu.Lock()
			owner[r.Partition] = ""
			mu.Unlock()
			return []Output{{Value: r.Value}}, nil
		})
	}
	a := start(t, baseOptions(kc, handler("a")))
	waitFor(t, 20*time.Second, "first records", func() bool { return a.rt.Stats().Handled > 50 })
	ob := baseOptions(kc, handler("b"))
	b := start(t, ob)
	waitFor(t, 30*time.Second, "everything handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 4*perPartition
	})
	waitFor(t, 10*time.Second, "commits", func() bool {
		c := committed(t, kc, "g", "in")
		for p := range int32(4) {
			if c[p] != perPartition {
				return false
			}
		}
		return true
	})
	if b.rt.Stats().Handled == 0 {
		t.Error("the second worker handled nothing: no rebalance happened")
	}
	a.stop(t)
	b.stop(t)
	mu.Lock()
	defer mu.Unlock()
	if len(overlaps) > 0 {
		t.Errorf("partitions handled concurrently by two workers: %v", overlaps)
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	// Revoked partitions are committed after their in-flight record
	// finished, so the new owner starts exactly where the old one
	// stopped.
	if dups != 0 {
		t.Errorf("%d duplicates across a cooperative rebalance", dups)
	}
	outs := readN(t, addr, "out", 4*perPartition, 10*time.Second)
	if len(outs) != 4*perPartition {
		t.Errorf("%d outputs, want %d", len(outs), 4*perPartition)
	}
}

func TestRuntimeMissingTopics(t *testing.T) {
	t.Parallel()
	kc, _ := testKafka(t)
	o := baseOptions(kc, HandlerFunc(func(context.Context, *kgo.Record) ([]Output, error) { return nil, nil }))
	o.CreateTopics = false
	rt, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	err = rt.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Run = %v, want a missing topic error", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	kc, _ := testKafka(t)
	h := HandlerFunc(func(context.Context, *kgo.Record) ([]Output, error) { return nil, nil })
	tests := []struct {
		name   string
		mutate func(*Options)
	}{
		{"no topics", func(o *Options) { o.Topics = nil }},
		{"no group", func(o *Options) { o.Group = "" }},
		{"no dlq", func(o *Options) { o.DLQTopic = "" }},
		{"bad topic", func(o *Options) { o.Topics = []string{"a b"} }},
		{"output is input", func(o *Options) { o.OutputTopic = "in" }},
		{"dlq is input", func(o *Options) { o.DLQTopic = "in" }},
		{"no handler", func(o *Options) { o.Handler = nil }},
	}
	for _, tt := range tests {
		o := baseOptions(kc, h)
		tt.mutate(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	lowest := func(n int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		n      int
		hint   time.Duration
		lo, hi time.Duration
	}{
		{1, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 0, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 0, 500 * time.Millisecond, time.Second},
		{50, 0, 500 * time.Millisecond, time.Second},
		{1, 700 * time.Millisecond, 700 * time.Millisecond, 700 * time.Millisecond},
		{1, time.Hour, time.Second, time.Second},
	}
	for _, tt := range tests {
		lo, hi := b.Delay(tt.n, tt.hint, lowest), b.Delay(tt.n, tt.hint, highest)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("Delay(%d, %s) in [%s, %s], want [%s, %s]", tt.n, tt.hint, lo, hi, tt.lo, tt.hi)
		}
		for range 20 {
			if d := b.Delay(tt.n, tt.hint, nil); d < tt.lo || d > tt.hi {
				t.Errorf("Delay(%d) = %s out of [%s, %s]", tt.n, d, tt.lo, tt.hi)
			}
		}
	}
}

func TestRuntimeHandlerTimeout(t *testing.T) {
	t.Parallel()
	kc, addr := testKafka(t)
	createTopic(t, kc, "in", 1)
	var calls atomic.Int32
	h := HandlerFunc(func(ctx context.Context, r *kgo.Record) ([]Output, error) {
		calls.Add(1)
		switch string(r.Value) {
		case "hangs":
			<-ctx.Done() // until the watchdog cancels the attempt
			return nil, ctx.Err()
		case "slow-but-done":
			time.Sleep(300 * time.Millisecond) // ignores ctx, succeeds late
		}
		return []Output{{Value: r.Value}}, nil
	})
	kc.ProduceSync(t.Context(), []*kgo.Record{{Topic: "in", Value: []byte("hangs")}, {Topic: "in", Value: []byte("slow-but-done")}, {Topic: "in", Value: []byte("ok")}})
	o := baseOptions(kc, h)
	o.HandlerTimeout = 100 * time.Millisecond
	o.MaxAttempts = 2
	start(t, o)
	dlq := readN(t, addr, "dlq", 1, 20*time.Second)
	if len(dlq) != 1 || header(dlq[0], HeaderDLQReason) != ReasonExhausted || !strings.Contains(header(dlq[0], HeaderDLQError), "handler timed out after 100ms") {
		t.Fatalf("dead letters %v", dlq)
	}
	outs := readN(t, addr, "out", 2, 20*time.Second)
	if len(outs) != 2 || string(outs[0].Value) != "slow-but-done" || string(outs[1].Value) != "ok" {
		t.Fatalf("outputs %v", outs)
	}
}

// TestRuntimeStuckPartition: one partition's handler hangs while its
// backlog grows past MaxQueued; the other partition keeps being handled
// (the stuck partition's fetching is paused, and its backlog stops
// counting against the poll loop's limit).
func TestRuntimeStuckPartition(t *testing.T) {
	t.Parallel()
	kc, _ := testKafka(t)
	createTopic(t, kc, "in", 2)
	release := make(chan struct{})
	var handled [2]atomic.Int32
	h := HandlerFunc(func(ctx context.Context, r *kgo.Record) ([]Output, error) {
		if r.Partition == 0 && r.Offset == 0 {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		handled[r.Partition].Add(1)
		return nil, nil
	})
	o := baseOptions(kc, h)
	o.MaxQueued = 10
	o.OutputTopic = ""
	run := start(t, o)
	produce := func(p int32, n int) {
		var recs []*kgo.Record
		for range n {
			recs = append(recs, &kgo.Record{Topic: "in", Partition: p, Value: []byte("x")})
		}
		for _, res := range kc.ProduceSync(t.Context(), recs) {
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		}
	}
	produce(0, 1)
	waitFor(t, 20*time.Second, "the stuck record to start", func() bool { return run.rt.Stats().InFlight == 1 })
	produce(0, 200) // piles up behind the stuck record
	time.Sleep(300 * time.Millisecond)
	produce(1, 200)
	waitFor(t, 20*time.Second, "partition 1 to be handled while partition 0 is stuck", func() bool { return handled[1].Load() == 200 })
	if n := handled[0].Load(); n != 0 {
		t.Fatalf("partition 0 handled %d records past its stuck one", n)
	}
	close(release)
	waitFor(t, 20*time.Second, "partition 0 to catch up", func() bool { return handled[0].Load() == 201 })
}
