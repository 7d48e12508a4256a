package app_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// BenchmarkKafkaFloodHTTPLatency: what one tenant producing flat out over
// the Kafka port does to another tenant's HTTP produce latency. customer2
// posts one record at a time (v2, Basic, a cached password check) while
// nobody else works (quiet), while customer1, limited to 1 MB/s, floods
// the Kafka port from four clients (limited), and while partner, without
// a byte limit, does the same (unlimited). Phases alternate over rounds
// on the same gateway; the medians of each phase's latencies and their
// ratios to quiet's are reported, with the bytes per second each flood
// got through (from the broker's offsets).
//
//	go test -run '^$' -bench KafkaFloodHTTPLatency -benchtime 3x ./internal/app/
func BenchmarkKafkaFloodHTTPLatency(b *testing.B) {
	const (
		size    = 1000
		clients = 4
		phase   = 2 * time.Second
	)
	users, perms := secureFiles(b)
	src, err := os.ReadFile(users)
	if err != nil {
		b.Fatal(err)
	}
	limited := strings.Replace(string(src), "  limits:\n    requests_per_second: 100\n    daily_bytes: 10Mi\n",
		"  limits:\n    bytes_per_second: 1000000\n    byte_burst: 1000000\n", 1)
	if limited == string(src) {
		b.Fatal("the sample users file changed: customer1's limits not found")
	}
	if err := os.WriteFile(users, []byte(limited), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(perms, []byte("customer1:\n  produce: [flood-limited]\npartner:\n  produce: [flood-unlimited]\ncustomer2:\n  produce: [victim]\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	g := testutil.StartGateway(b, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
	})
	adm := kadm.NewClient(kafkaSuperuser(b, g))
	for _, topic := range []string{"flood-limited", "flood-unlimited", "victim"} {
		if _, err := adm.CreateTopic(b.Context(), 1, 1, nil, topic); err != nil {
			b.Fatalf("creating %s: %v", topic, err)
		}
	}
	if r := produceV2(b, g, "victim", "Authorization", basic("customer2")); r.status != http.StatusOK {
		b.Fatalf("warm-up produce: %d %s", r.status, r.body)
	}
	written := func(topic string) int64 {
		ends, err := adm.ListEndOffsets(b.Context(), topic)
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}

	// measure posts customer2's records one at a time for d.
	measure := func(d time.Duration) []float64 {
		var ms []float64
		for end := time.Now().Add(d); time.Now().Before(end); {
			start := time.Now()
			if r := produceV2(b, g, "victim", "Authorization", basic("customer2")); r.status != http.StatusOK {
				b.Fatalf("produce as customer2: %d %s", r.status, r.body)
			}
			ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		}
		return ms
	}
	value := make([]byte, size)
	rand.Read(value)
	// flood measures while user floods topic over the Kafka port, and
	// returns the latencies and the flood's bytes per second.
	flood := func(user, topic string) ([]float64, float64) {
		ctx, cancel := context.WithCancel(b.Context())
		var wg sync.WaitGroup
		before := written(topic)
		for range clients {
			cl := kafkaClient(b, g, "127.0.0.1", user, passwords[user], kgo.MaxBufferedRecords(256),
				kgo.ProducerBatchCompression(kgo.NoCompression())) // byte limits count the wire, as Kafka's do
			wg.Go(func() {
				for ctx.Err() == nil {
					cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, nil)
				}
			})
		}
		time.Sleep(300 * time.Millisecond) // the flood under way
		start := time.Now()
		ms := measure(phase)
		rate := float64(written(topic)-before) * size / time.Since(start).Seconds()
		cancel()
		wg.Wait()
		return ms, rate
	}

	var quiet, lim, unlim []float64
	var limRate, unlimRate []float64
	b.ResetTimer()
	for range b.N {
		quiet = append(quiet, measure(phase)...)
		ms, rate := flood("customer1", "flood-limited")
		lim, limRate = append(lim, ms...), append(limRate, rate)
		ms, rate = flood("partner", "flood-unlimited")
		unlim, unlimRate = append(unlim, ms...), append(unlimRate, rate)
	}
	b.StopTimer()
	med := func(xs []float64) float64 {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		if len(xs) == 0 {
			return 0
		}
		return xs[len(xs)/2]
	}
	q := med(quiet)
	b.ReportMetric(q, "quiet_ms")
	b.ReportMetric(med(lim), "limited_ms")
	b.ReportMetric(med(lim)/q, "limited_x")
	b.ReportMetric(med(unlim), "unlimited_ms")
	b.ReportMetric(med(unlim)/q, "unlimited_x")
	b.ReportMetric(med(limRate)/1e6, "limited_MB/s")
	b.ReportMetric(med(unlimRate)/1e6, "unlimited_MB/s")
}
