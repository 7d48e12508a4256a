package app_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// BenchmarkIdleInstances measures what one idle, subscribed v2 consumer
// instance costs: live heap (after a GC), goroutines and open file
// descriptors, with the gateway and its embedded broker in this process
// (so both ends of each connection count, as they do in kgate serve).
// It creates 300 instances, each in its own group and subscribed to one
// topic, reads each once (it joins its group and fetches), lets them
// idle (KGATE_BENCH_IDLE, default 45s: idle instances stop fetching and
// their unused connections are reaped), and reports the difference per
// instance. Run:
//
//	go test -run '^$' -bench IdleInstances -benchtime 1x ./internal/app/
//
// test/bench/idleinstances measures the same on a kgate serve process
// (resident memory, descriptors and broker connections from outside).
// KGATE_BENCH_HEAPPROFILE=file writes the idle heap's profile.
func BenchmarkIdleInstances(b *testing.B) {
	const n = 300
	idle := 45 * time.Second
	if s := os.Getenv("KGATE_BENCH_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		idle = d
	}
	for range b.N {
		g := testutil.StartGateway(b, func(c *config.Config) {
			c.Consumers.MaxInstances = n + 10
			c.Consumers.MaxInstancesPerPrincipal = 0
			c.Consumers.MaxLongPollsPerPrincipal = 0
		})
		if r := do(b, "POST", g.URL+"/topics/idle", `{"records":[{"value":"aWRsZQ=="}]}`, "Content-Type", "application/vnd.kafka.binary.v2+json"); r.status != http.StatusOK {
			b.Fatalf("produce: %d %s", r.status, r.body)
		}
		time.Sleep(2 * time.Second)
		before := sampleProcess()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		var failed sync.Once
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				base := fmt.Sprintf("%s/consumers/idle-%d", g.URL, i)
				for _, st := range []struct{ url, body string }{
					{base, `{"name":"i","format":"binary","auto.offset.reset":"earliest"}`},
					{base + "/instances/i/subscription", `{"topics":["idle"]}`},
				} {
					resp, err := http.Post(st.url, "application/vnd.kafka.v2+json", strings.NewReader(st.body))
					if err != nil || resp.StatusCode >= 300 {
						failed.Do(func() { b.Errorf("POST %s: %v %v", st.url, err, resp) })
						return
					}
					resp.Body.Close()
				}
				req, _ := http.NewRequest("GET", base+"/instances/i/records?timeout=3000", nil)
				req.Header.Set("Accept", "application/vnd.kafka.binary.v2+json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		if b.Failed() {
			return
		}
		time.Sleep(idle)
		after := sampleProcess()
		if path := os.Getenv("KGATE_BENCH_HEAPPROFILE"); path != "" {
			// The live heap of the idle instances, for go tool pprof.
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
		per := func(a, b float64) float64 { return (b - a) / n }
		b.ReportMetric(per(before.heap, after.heap), "heap-B/instance")
		b.ReportMetric(per(before.goroutines, after.goroutines), "goroutines/instance")
		b.ReportMetric(per(before.fds, after.fds), "fds/instance")
		fmt.Printf("%d idle instances after %v: live heap %.0f -> %.0f KiB (%.1f KiB each), goroutines %.0f -> %.0f (%.1f each), fds %.0f -> %.0f (%.1f each)\n",
			n, idle, before.heap/1024, after.heap/1024, per(before.heap, after.heap)/1024,
			before.goroutines, after.goroutines, per(before.goroutines, after.goroutines),
			before.fds, after.fds, per(before.fds, after.fds))
		g.Stop()
	}
}

type processSample struct{ heap, goroutines, fds float64 }

// sampleProcess measures this process after two GCs (so that the heap
// is what is live).
func sampleProcess() processSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return processSample{heap: float64(ms.HeapAlloc), goroutines: float64(runtime.NumGoroutine()), fds: float64(len(fds))}
}
