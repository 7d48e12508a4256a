// Command idleinstances measures what idle v2 consumer instances cost the
// gateway: heap, goroutines, open file descriptors and resident memory per
// instance, with the embedded broker in the same process (as kgate serve
// runs it):
//
//	go run ./test/bench/idleinstances [-n 300] [-settle 45s] [-baseline BIN]
//
// It builds kgate, starts `kgate serve` on its embedded broker in a
// temporary directory (open mode, so that one principal may hold every
// instance), samples the process, creates -n instances (each in its own
// group, subscribed to one topic, read once so that it has joined its
// group), waits -settle (idle connections are reaped, heartbeats settle)
// and samples again. The difference divided by -n is the cost of one idle
// subscribed instance; it also reports the gateway's CPU time over the
// second half of the idle time. It then deletes them and samples once more. With
// -baseline, another kgate binary (say, one built before a change) is
// measured the same way first.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kgate/kgate/test/bench/benchgw"
)

func main() {
	n := flag.Int("n", 300, "instances")
	settle := flag.Duration("settle", 45*time.Second, "how long instances idle before the sample")
	baseline := flag.String("baseline", "", "another kgate binary to measure the same way first")
	flag.Parse()
	if *baseline != "" {
		if err := run("baseline", *baseline, *n, *settle); err != nil {
			fmt.Fprintln(os.Stderr, "idleinstances:", err)
			os.Exit(1)
		}
	}
	if err := run("this build", "", *n, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "idleinstances:", err)
		os.Exit(1)
	}
}

func run(name, bin string, n int, settle time.Duration) error {
	g, err := benchgw.StartBinary(bin,
		"KGATE_CONSUMERS_MAX_INSTANCES="+strconv.Itoa(n+10),
		"KGATE_CONSUMERS_MAX_INSTANCES_PER_PRINCIPAL=0",
		"KGATE_CONSUMERS_MAX_LONG_POLLS_PER_PRINCIPAL=0")
	if err != nil {
		return err
	}
	defer g.Stop()
	c := &http.Client{Timeout: 60 * time.Second}
	if err := post(c, g.URL+"/topics/idle", "application/vnd.kafka.binary.v2+json", `{"records":[{"value":"aWRsZQ=="}]}`, 200); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	before, err := benchgw.Measure(c, g, "kgate_consumer_instances")
	if err != nil {
		return err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			inst := fmt.Sprintf("%s/consumers/idle-%d/instances/i", g.URL, i)
			for _, step := range []struct{ url, body string }{
				{fmt.Sprintf("%s/consumers/idle-%d", g.URL, i), `{"name":"i","format":"binary","auto.offset.reset":"earliest"}`},
				{inst + "/subscription", `{"topics":["idle"]}`},
			} {
				if err := post(c, step.url, "application/vnd.kafka.v2+json", step.body, 0); err != nil {
					errs <- err
					return
				}
			}
			// One read: the instance joins its group and fetches.
			req, _ := http.NewRequest("GET", inst+"/records?timeout=3000", nil)
			req.Header.Set("Accept", "application/vnd.kafka.binary.v2+json")
			resp, err := c.Do(req)
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	created := time.Since(start)
	// CPU over the last half of the idle time: what idling costs once
	// instances have settled.
	time.Sleep(settle / 2)
	cpu0 := g.CPU()
	time.Sleep(settle - settle/2)
	idleCPU := g.CPU() - cpu0
	idle, err := benchgw.Measure(c, g, "kgate_consumer_instances")
	if err != nil {
		return err
	}
	for i := range n {
		req, _ := http.NewRequest("DELETE", fmt.Sprintf("%s/consumers/idle-%d/instances/i", g.URL, i), nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	time.Sleep(5 * time.Second)
	after, err := benchgw.Measure(c, g, "kgate_consumer_instances")
	if err != nil {
		return err
	}
	per := func(f func(benchgw.Sample) float64) float64 { return (f(idle) - f(before)) / float64(n) }
	fmt.Printf("%s: %d idle subscribed instances (created and read once in %v, then idle %v; %0.f instances reported)\n",
		name, n, created.Round(time.Millisecond), settle, idle.Metrics["kgate_consumer_instances"])
	fmt.Printf("  %-22s %12s %12s %12s %14s\n", "", "before", "idle", "deleted", "per instance")
	row := func(label string, f func(benchgw.Sample) float64, unit float64, format string) {
		fmt.Printf("  %-22s %12s %12s %12s %14s\n", label,
			fmt.Sprintf(format, f(before)/unit), fmt.Sprintf(format, f(idle)/unit), fmt.Sprintf(format, f(after)/unit),
			fmt.Sprintf(format, per(f)/unit))
	}
	row("heap in use (KiB)", func(s benchgw.Sample) float64 { return s.Heap }, 1024, "%.0f")
	row("resident (KiB)", func(s benchgw.Sample) float64 { return s.RSS }, 1024, "%.0f")
	row("goroutines", func(s benchgw.Sample) float64 { return s.Goroutines }, 1, "%.1f")
	row("file descriptors", func(s benchgw.Sample) float64 { return s.FDs }, 1, "%.1f")
	row("broker connections", func(s benchgw.Sample) float64 { return s.BrokerConns }, 1, "%.1f")
	fmt.Printf("  gateway CPU while idle: %.1f ms/s (%.2f ms/s per instance); peak RSS %s\n",
		float64(idleCPU.Milliseconds())/(settle-settle/2).Seconds(),
		float64(idleCPU.Milliseconds())/(settle-settle/2).Seconds()/float64(n), g.PeakRSS())
	return nil
}

func post(c *http.Client, url, ct, body string, want int) error {
	resp, err := c.Post(url, ct, strings.NewReader(body))
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 || (want != 0 && resp.StatusCode != want) {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}
