// Command idlestreams measures what idle push streams (GET
// /v3/clusters/{c}/topics/{t}/records/stream over Server-Sent Events)
// cost the gateway: heap, resident memory, goroutines, file descriptors
// and broker connections per stream, against a baseline sampled in the
// same run before any stream opens, with the embedded broker in the same
// process (as kgate serve runs it):
//
//	go run ./test/bench/idlestreams [-n 1000] [-settle 20s]
//
// It builds kgate, starts `kgate serve` (open mode, stream caps raised to
// -n), creates a topic with one record, samples the process (the
// baseline: no streams), opens -n SSE streams from latest (each waits for
// records; heartbeats every http.stream_heartbeat, 15 s), waits -settle,
// samples again and reports the difference divided by -n. It then closes
// the streams and samples once more.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/kgate/kgate/test/bench/benchgw"
)

func main() {
	n := flag.Int("n", 1000, "streams")
	settle := flag.Duration("settle", 20*time.Second, "how long the streams idle before the sample")
	flag.Parse()
	if err := run(*n, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "idlestreams:", err)
		os.Exit(1)
	}
}

func run(n int, settle time.Duration) error {
	g, err := benchgw.Start(
		"KGATE_HTTP_MAX_STREAMS="+strconv.Itoa(n+10),
		"KGATE_HTTP_MAX_STREAMS_PER_PRINCIPAL="+strconv.Itoa(n+10))
	if err != nil {
		return err
	}
	defer g.Stop()
	c := &http.Client{Timeout: 60 * time.Second}
	cid, err := benchgw.ClusterID(g.URL)
	if err != nil {
		return err
	}
	if err := benchgw.CreateTopic(g.URL, cid, "idle"); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	before, err := benchgw.Measure(c, g)
	if err != nil {
		return err
	}

	url := fmt.Sprintf("%s/v3/clusters/%s/topics/idle/records/stream", g.URL, cid)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Every stream has its own connection (an HTTP/1.1 response in
	// progress holds it).
	sc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}}
	start := time.Now()
	var wg, open sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for range n {
		wg.Add(1)
		open.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			opened := false
			defer func() {
				if !opened {
					open.Done()
				}
			}()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := sc.Do(req)
			<-sem
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				errs <- fmt.Errorf("stream: %d %s", resp.StatusCode, b)
				return
			}
			rd := bufio.NewReader(resp.Body)
			if _, err := rd.ReadString('\n'); err != nil { // "retry: ..."
				errs <- err
				return
			}
			opened = true
			open.Done()
			_, _ = io.Copy(io.Discard, rd) // until the stream is closed
		}()
	}
	open.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	opening := time.Since(start)
	time.Sleep(settle / 2)
	cpu0 := g.CPU()
	time.Sleep(settle - settle/2)
	idleCPU := g.CPU() - cpu0
	idle, err := benchgw.Measure(c, g)
	if err != nil {
		return err
	}
	cancel()
	wg.Wait()
	sc.CloseIdleConnections()
	// The gateway ends each stream when it sees its client gone: wait
	// (up to a minute) until its goroutines are back near the baseline.
	closing := time.Now()
	var after benchgw.Sample
	for {
		time.Sleep(time.Second)
		if after, err = benchgw.Measure(c, g); err != nil {
			return err
		}
		if after.Goroutines <= before.Goroutines+20 || time.Since(closing) > time.Minute {
			break
		}
	}
	drained := time.Since(closing)
	per := func(f func(benchgw.Sample) float64) float64 { return (f(idle) - f(before)) / float64(n) }
	fmt.Printf("%d idle SSE streams (opened in %v, then idle %v; heartbeat 15s)\n", n, opening.Round(time.Millisecond), settle)
	fmt.Printf("  %-22s %12s %12s %12s %12s\n", "", "baseline", "idle", "closed", "per stream")
	row := func(label string, f func(benchgw.Sample) float64, unit float64, format string) {
		fmt.Printf("  %-22s %12s %12s %12s %12s\n", label,
			fmt.Sprintf(format, f(before)/unit), fmt.Sprintf(format, f(idle)/unit), fmt.Sprintf(format, f(after)/unit),
			fmt.Sprintf(format, per(f)/unit))
	}
	row("heap in use (KiB)", func(s benchgw.Sample) float64 { return s.Heap }, 1024, "%.1f")
	row("resident (KiB)", func(s benchgw.Sample) float64 { return s.RSS }, 1024, "%.1f")
	row("goroutines", func(s benchgw.Sample) float64 { return s.Goroutines }, 1, "%.1f")
	row("file descriptors", func(s benchgw.Sample) float64 { return s.FDs }, 1, "%.1f")
	row("broker connections", func(s benchgw.Sample) float64 { return s.BrokerConns }, 1, "%.2f")
	fmt.Printf("  closed streams drained in %v\n", drained.Round(time.Second))
	fmt.Printf("  gateway CPU while idle: %.1f ms/s (%.3f ms/s per stream); peak RSS %s\n",
		float64(idleCPU.Milliseconds())/(settle-settle/2).Seconds(),
		float64(idleCPU.Milliseconds())/(settle-settle/2).Seconds()/float64(n), g.PeakRSS())
	return nil
}
