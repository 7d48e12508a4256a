package app_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// BenchmarkTracingOverhead measures v2 produce throughput (8 concurrent
// clients, one record per request, open mode) through four doors in the
// same run, interleaved in batches in a random order every round (as
// BenchmarkAuthOverhead does, with a rotation):
//
//	off         tracing off, no traceparent
//	propagate   tracing off, a traceparent on each request (carried
//	            into the record's headers, no span)
//	on          tracing on (every trace sampled, exported to a receiver
//	            on loopback that reads and discards), no traceparent
//	on_parent   tracing on, a sampled traceparent on each request
//
// and reports each as a percentage of off's throughput (median of the
// rounds). Run:
//
//	go test -run '^$' -bench TracingOverhead -benchtime 8000x ./internal/app/
func BenchmarkTracingOverhead(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(sink.Close)
	off := testutil.StartGateway(b, nil)
	on := testutil.StartGateway(b, func(c *config.Config) {
		c.Tracing.OTLPEndpoint = sink.URL
		c.Tracing.ExportInterval = config.Duration(time.Second)
	})
	type door struct {
		name, url, traceparent string
		elapsed                time.Duration
		n                      int
		ratios                 []float64
	}
	doors := []*door{
		{name: "off", url: off.URL + "/topics/bench-off"},
		{name: "propagate", url: off.URL + "/topics/bench-propagate", traceparent: incoming},
		{name: "on", url: on.URL + "/topics/bench-on"},
		{name: "on_parent", url: on.URL + "/topics/bench-on-parent", traceparent: incoming},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const workers = 8
	run := func(d *door, n int) {
		var wg sync.WaitGroup
		start := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += workers {
					req, _ := http.NewRequest("POST", d.url, strings.NewReader(seedBody))
					req.Header.Set("Content-Type", mtJSONv2)
					if d.traceparent != "" {
						req.Header.Set("Traceparent", d.traceparent)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("%s: %d", d.name, resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
		d.elapsed += time.Since(start)
		d.n += n
	}
	for _, d := range doors { // topics exist, connections open
		run(d, workers*4)
		d.elapsed, d.n = 0, 0
	}
	b.ResetTimer()
	const batch = 64
	rng := rand.New(rand.NewPCG(1, 2))
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		took := make([]time.Duration, len(doors))
		// A random order each round: the door run after a traced one
		// pays for its batch export, so a rotation (the same door always
		// after the same other) would bias the ratios.
		for _, j := range rng.Perm(len(doors)) {
			before := doors[j].elapsed
			run(doors[j], n)
			took[j] = doors[j].elapsed - before
		}
		for j, d := range doors {
			d.ratios = append(d.ratios, float64(took[0])/float64(took[j]))
		}
		done += n
	}
	b.StopTimer()
	rate := func(d *door) float64 { return float64(d.n) / d.elapsed.Seconds() }
	for _, d := range doors {
		b.ReportMetric(rate(d), d.name+"_req/s")
		if d.name != "off" {
			b.ReportMetric(100*median(d.ratios), d.name+"_%")
		}
	}
	if b.N < 100 {
		return // the framework's probing run
	}
	fmt.Fprintf(os.Stderr, "tracing overhead (median of %d rounds): off %.0f req/s; propagate %.1f%%, on %.1f%%, on_parent %.1f%% of off\n",
		len(doors[0].ratios), rate(doors[0]), 100*median(doors[1].ratios), 100*median(doors[2].ratios), 100*median(doors[3].ratios))
}
