package v3_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// BenchmarkStreamProduce compares v3 streaming produce with franz-go
// producing directly to the same embedded broker in the same run: records
// per second over one connection and over 16, each as a ratio of the
// direct rate, all in one process (handy for profiling with -cpuprofile;
// the figures in docs/benchmarks.md come from the out-of-process command
// go run ./test/bench/v3produce). Run it with:
//
//	go test -run '^$' -bench StreamProduce -benchtime 1x ./internal/httpapi/v3/
//
// KGATE_BENCH_RECORDS sets the records per mode (default 200000) and
// KGATE_BENCH_ROUNDS the rounds (default 3). The modes take turns within
// each round and each mode's best round counts, so that load from other
// processes on a shared machine hurts every mode alike.
// KGATE_BENCH_LINGER (a duration) sets kafka.linger for the gateway and
// the direct client alike (default: kgate's default, 0).
func BenchmarkStreamProduce(b *testing.B) {
	n, rounds := envInt("KGATE_BENCH_RECORDS", 200000), envInt("KGATE_BENCH_ROUNDS", 3)
	g := testutil.StartGateway(b, func(c *config.Config) {
		if d, err := time.ParseDuration(os.Getenv("KGATE_BENCH_LINGER")); err == nil {
			c.Kafka.Linger = config.Duration(d)
		}
	})
	value := strings.Repeat("v", 100)
	for i := 0; i < b.N; i++ {
		var direct, one, sixteen, directCPU, oneCPU, sixteenCPU float64
		for r := 0; r < rounds; r++ {
			d, dc := measure(func() float64 { return benchDirect(b, g, fmt.Sprintf("direct-%d-%d", i, r), n, value) }, n)
			o, oc := measure(func() float64 { return benchV3(b, g, fmt.Sprintf("v3one-%d-%d", i, r), n, 1, value) }, n)
			s, sc := measure(func() float64 { return benchV3(b, g, fmt.Sprintf("v3sixteen-%d-%d", i, r), n, 16, value) }, n)
			b.Logf("round %d: franz-go direct %.0f rec/s; v3 1 connection %.0f rec/s (%.0f%%); v3 16 connections %.0f rec/s (%.0f%%); per CPU-second: %.0f, %.0f (%.0f%%), %.0f (%.0f%%)",
				r+1, d, o, 100*o/d, s, 100*s/d, dc, oc, 100*oc/dc, sc, 100*sc/dc)
			direct, one, sixteen = max(direct, d), max(one, o), max(sixteen, s)
			directCPU, oneCPU, sixteenCPU = max(directCPU, dc), max(oneCPU, oc), max(sixteenCPU, sc)
		}
		b.ReportMetric(direct, "direct_rec/s")
		b.ReportMetric(one, "v3_1conn_rec/s")
		b.ReportMetric(sixteen, "v3_16conn_rec/s")
		b.ReportMetric(one/direct, "ratio_1conn")
		b.ReportMetric(sixteen/direct, "ratio_16conn")
		b.ReportMetric(oneCPU/directCPU, "cpu_ratio_1conn")
		b.ReportMetric(sixteenCPU/directCPU, "cpu_ratio_16conn")
		b.Logf("kafka.linger %v; best of %d rounds, %d records of %d bytes: franz-go direct %.0f rec/s; v3 1 connection %.0f rec/s (%.0f%%); v3 16 connections %.0f rec/s (%.0f%%)",
			g.Config.Kafka.Linger.D(), rounds, n, len(value), direct, one, 100*one/direct, sixteen, 100*sixteen/direct)
		b.Logf("records per CPU-second of the whole process (client, gateway and broker): direct %.0f; v3 1 connection %.0f (%.0f%%); v3 16 connections %.0f (%.0f%%)",
			directCPU, oneCPU, 100*oneCPU/directCPU, sixteenCPU, 100*sixteenCPU/directCPU)
	}
}

// measure runs fn (which returns records/s) and also reports the records
// per CPU-second the process spent meanwhile: a figure that load from
// other processes on a shared machine does not distort.
func measure(fn func() float64, n int) (perSecond, perCPUSecond float64) {
	before := cpuTime()
	perSecond = fn()
	return perSecond, float64(n) / (cpuTime() - before).Seconds()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func createTopic(b *testing.B, g *testutil.Gateway, topic string) {
	resp, err := http.Post(g.URL+"/v3/clusters/"+cid+"/topics", "application/json",
		strings.NewReader(`{"topic_name":"`+topic+`","partitions_count":4}`))
	if err != nil || resp.StatusCode != 201 {
		b.Fatalf("creating %s: %v %v", topic, resp, err)
	}
	resp.Body.Close()
}

// benchDirect produces n keyed records with a franz-go client configured
// as kgate's shared producer (idempotent, acks=all, kafka.linger, the same
// buffer and batch limits), waiting for all acks.
func benchDirect(b *testing.B, g *testutil.Gateway, topic string, n int, value string) float64 {
	createTopic(b, g, topic)
	k := g.Config.Kafka
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(k.Linger.D()), kgo.MaxBufferedRecords(k.MaxBufferedRecords))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: []byte(value)}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return float64(n) / el.Seconds()
}

// benchV3 streams n keyed records to v3 over conns concurrent requests
// (n/conns each, chunked) and waits for every receipt.
func benchV3(b *testing.B, g *testutil.Gateway, topic string, n, conns int, value string) float64 {
	createTopic(b, g, topic)
	per := n / conns
	bodies := make([][]byte, conns)
	for c := range bodies {
		var buf bytes.Buffer
		for i := 0; i < per; i++ {
			fmt.Fprintf(&buf, `{"key":{"type":"STRING","data":"k%d-%d"},"value":{"type":"STRING","data":"%s"}}`+"\n", c, i, value)
		}
		bodies[c] = buf.Bytes()
	}
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := g.URL + "/v3/clusters/" + cid + "/topics/" + topic + "/records"
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(body []byte) {
			defer wg.Done()
			// Not a bytes.Reader: the body is sent chunked, as a stream.
			req, _ := http.NewRequest("POST", url, io.NopCloser(bytes.NewReader(body)))
			req.ContentLength = -1
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			got := 0
			for sc.Scan() {
				if !bytes.HasPrefix(sc.Bytes(), []byte(`{"error_code":200,`)) {
					errs <- fmt.Errorf("receipt %d: %s", got, sc.Bytes())
					return
				}
				got++
			}
			if got != per {
				errs <- fmt.Errorf("%d receipts for %d records (%v)", got, per, sc.Err())
			}
		}(bodies[c])
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return float64(per*conns) / el.Seconds()
}
