package consumer

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
)

// BenchmarkRuntimeVsBareConsumer measures the runtime with a no-op
// handler against a bare franz-go group consumer (poll and count, with
// autocommit) reading the same records from the same embedded broker in
// the same run. Each round runs both, in alternating order; it reports
// the median over rounds of the runtime's rate as a fraction of the bare
// consumer's ("ratio", the target is 0.7 or more), the same for CPU time
// per event ("cpu-ratio": bare CPU per event / runtime CPU per event,
// less sensitive to a busy machine), and the median rates. Run it with
//
//	go test -run '^$' -bench RuntimeVsBareConsumer -benchtime 6x ./internal/consumer
//
// KGATE_BENCH_RECORDS sets the records per round (default 200000).
func BenchmarkRuntimeVsBareConsumer(b *testing.B) {
	n := 200000
	if s := os.Getenv("KGATE_BENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const partitions = 4
	kc, addr := testKafka(b)
	createTopic(b, kc, "in", partitions)
	createTopic(b, kc, "dlq", 1)
	value := make([]byte, 100)
	const batch = 10000
	for i := 0; i < n; i += batch {
		recs := make([]*kgo.Record, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			recs = append(recs, &kgo.Record{Topic: "in", Partition: int32(j % partitions), Value: value})
		}
		for _, r := range kc.ProduceSync(context.Background(), recs) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}

	var ratios, cpuRatios, bareRates, rtRates []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var bareWall, rtWall, bareCPU, rtCPU time.Duration
		run := []func(){
			func() { bareWall, bareCPU = measure(func() { bareConsume(b, addr, fmt.Sprintf("bare-%d", i), n) }) },
			func() { rtWall, rtCPU = measure(func() { runtimeConsume(b, kc, fmt.Sprintf("rt-%d", i), n) }) },
		}
		if i%2 == 1 {
			run[0], run[1] = run[1], run[0]
		}
		run[0]()
		run[1]()
		bareRates = append(bareRates, float64(n)/bareWall.Seconds())
		rtRates = append(rtRates, float64(n)/rtWall.Seconds())
		ratios = append(ratios, bareWall.Seconds()/rtWall.Seconds())
		cpuRatios = append(cpuRatios, bareCPU.Seconds()/rtCPU.Seconds())
	}
	b.StopTimer()
	b.ReportMetric(median(bareRates), "bare-events/s")
	b.ReportMetric(median(rtRates), "runtime-events/s")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(cpuRatios), "cpu-ratio")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// measure returns fn's wall time and the process's CPU time meanwhile.
func measure(fn func()) (wall, cpu time.Duration) {
	c0, t0 := cpuTime(), time.Now()
	fn()
	return time.Since(t0), cpuTime() - c0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareConsume is the baseline: a franz-go group consumer that polls and
// counts until it has seen n records.
func bareConsume(b *testing.B, addr, group string, n int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics("in"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("bare consumer: %d of %d records", got, n)
		}
		got += fs.NumRecords()
	}
}

// runtimeConsume runs the runtime with a handler that only counts, until
// n records are handled (and so marked for commit).
func runtimeConsume(b *testing.B, kc *kafka.Client, group string, n int) {
	var count atomic.Int64
	done := make(chan struct{})
	h := HandlerFunc(func(context.Context, *kgo.Record) ([]Output, error) {
		if count.Add(1) == int64(n) {
			close(done)
		}
		return nil, nil
	})
	o := baseOptions(kc, h)
	o.Group = group
	o.OutputTopic = ""
	o.Logger = nil
	o.ConsumerOpts = nil
	o.CreateTopics = false
	rt, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- rt.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("runtime: %d of %d records", count.Load(), n)
	}
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}
