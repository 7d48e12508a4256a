// Command v2produce measures the gateway's v2 produce path against franz-go
// producing directly, in one run on one machine, and prints the ratios:
//
//	go run ./test/bench/v2produce [-duration 5s] [-size 100]
//
// It builds kgate, starts `kgate serve` on its embedded broker in a
// temporary directory and measures (a) franz-go producing 100-byte records
// straight to the embedded broker, (b) HTTP v2 produce with 1 record per
// request from 64 concurrent clients, (c) HTTP v2 produce with 100 records
// per request. It reports records/s, p50/p99 request latency, the
// gateway's peak RSS (VmHWM), and (b)/(a), (c)/(a).
package main

import (
	"github.com/kgate/kgate/test/bench/benchgw"

	"bytes"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// gatewayEnv is extra environment for the gateway process (-gateway-env).
var gatewayEnv []string

func main() {
	duration := flag.Duration("duration", 3*time.Second, "how long each scenario runs in each round")
	rounds := flag.Int("rounds", 3, "interleaved rounds (the machine is noisy: ratios are taken per round)")
	size := flag.Int("size", 100, "value size in bytes")
	clientsB := flag.Int("clients-single", 64, "concurrent clients for 1 record per request")
	clientsC := flag.Int("clients-batch", 64, "concurrent clients for 100 records per request")
	paced := flag.Float64("paced", 0.5, "also run (b) open-loop at this fraction of its closed-loop rate, to measure latency below saturation (0: skip)")
	env := flag.String("gateway-env", "", "extra KEY=VALUE,... environment for the gateway (GOGC=400, say)")
	baseline := flag.String("baseline", "", "another kgate binary (say, built before a change) whose (b) and (c) run in the same rounds, for this build's ratio to it")
	flag.Parse()
	if *env != "" {
		gatewayEnv = strings.Split(*env, ",")
	}
	if err := run(*duration, *rounds, *size, *clientsB, *clientsC, *paced, *baseline); err != nil {
		fmt.Fprintln(os.Stderr, "v2produce:", err)
		os.Exit(1)
	}
}

type result struct {
	name     string
	records  int64
	elapsed  time.Duration
	lat      []time.Duration
	failures int64
	cpu      time.Duration // gateway process CPU time during the scenario
}

func (r result) rate() float64 { return float64(r.records) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	return r.lat[int(float64(len(r.lat)-1)*p)]
}

func run(d time.Duration, rounds, size, clientsB, clientsC int, paced float64, baseline string) error {
	gw, err := benchgw.Start(gatewayEnv...)
	if err != nil {
		return err
	}
	defer gw.Stop()
	var base *benchgw.Gateway
	if baseline != "" {
		if base, err = benchgw.StartBinary(baseline, gatewayEnv...); err != nil {
			return err
		}
		defer base.Stop()
	}

	value := make([]byte, size)
	_, _ = rand.Read(value)
	fmt.Printf("kgate v2 produce benchmark: %d-byte values, %s per scenario, GOMAXPROCS=%d, %s/%s; ",
		size, d, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)

	// Create the topics through the gateway (explicit creation).
	for _, topic := range []string{"bench-a", "bench-b", "bench-c"} {
		if _, err := httpProduce(http.DefaultClient, gw.URL+"/topics/"+topic, singleBody(value)); err != nil {
			return err
		}
		if base != nil {
			if _, err := httpProduce(http.DefaultClient, base.URL+"/topics/"+topic, singleBody(value)); err != nil {
				return err
			}
		}
	}
	fmt.Printf("%d interleaved rounds; each row is one scenario of one round; ratios are per round, then the median\n", rounds)
	fmt.Printf("\n%-5s %-46s %12s %10s %10s %8s %12s\n", "round", "scenario", "records/s", "p50", "p99", "failed", "gw CPU/rec")
	var ratioB, ratioC, p99B, p99P, vsBaseB, vsBaseC []float64
	for round := 1; round <= rounds; round++ {
		cpu0 := gw.CPU()
		a, err := benchDirect(gw.Broker, "bench-a", value, d)
		if err != nil {
			return err
		}
		a.cpu = gw.CPU() - cpu0
		cpu0 = gw.CPU()
		b := benchHTTP(gw.URL+"/topics/bench-b", singleBody(value), 1, clientsB, d, 0)
		b.cpu = gw.CPU() - cpu0
		b.name = fmt.Sprintf("(b) HTTP v2, 1 record/request, %d clients", clientsB)
		rows := []result{a, b}
		if paced > 0 {
			rate := b.rate() * paced
			cpu0 = gw.CPU()
			bp := benchHTTP(gw.URL+"/topics/bench-b", singleBody(value), 1, clientsB, d, rate)
			bp.cpu = gw.CPU() - cpu0
			bp.name = fmt.Sprintf("(b') same, paced at %.0f req/s (%.0f%%)", rate, paced*100)
			rows = append(rows, bp)
			p99P = append(p99P, float64(bp.pct(0.99)))
		}
		cpu0 = gw.CPU()
		c := benchHTTP(gw.URL+"/topics/bench-c", batchBody(value, 100), 100, clientsC, d, 0)
		c.cpu = gw.CPU() - cpu0
		c.name = fmt.Sprintf("(c) HTTP v2, 100 records/request, %d clients", clientsC)
		rows = append(rows, c)
		if base != nil {
			cpu0 = base.CPU()
			bb := benchHTTP(base.URL+"/topics/bench-b", singleBody(value), 1, clientsB, d, 0)
			bb.cpu = base.CPU() - cpu0
			bb.name = "(b) baseline build"
			cpu0 = base.CPU()
			bc := benchHTTP(base.URL+"/topics/bench-c", batchBody(value, 100), 100, clientsC, d, 0)
			bc.cpu = base.CPU() - cpu0
			bc.name = "(c) baseline build"
			rows = append(rows, bb, bc)
			vsBaseB, vsBaseC = append(vsBaseB, b.rate()/bb.rate()), append(vsBaseC, c.rate()/bc.rate())
		}
		for _, r := range rows {
			perRec := "-"
			if r.records > 0 && r.cpu > 0 {
				perRec = (r.cpu / time.Duration(r.records)).String()
			}
			fmt.Printf("%-5d %-46s %12.0f %10s %10s %8d %12s\n", round, r.name, r.rate(), roundD(r.pct(0.50)), roundD(r.pct(0.99)), r.failures, perRec)
		}
		ratioB = append(ratioB, b.rate()/a.rate())
		ratioC = append(ratioC, c.rate()/a.rate())
		p99B = append(p99B, float64(b.pct(0.99)))
	}
	fmt.Printf("\ngateway peak RSS (VmHWM): %s\n", gw.PeakRSS())
	fmt.Printf("median ratio (b)/(a): %.3f   (c)/(a): %.3f\n", median(ratioB), median(ratioC))
	fmt.Printf("median p99 of (b): %s", roundD(time.Duration(median(p99B))))
	if paced > 0 {
		fmt.Printf("   of (b'): %s", roundD(time.Duration(median(p99P))))
	}
	fmt.Printf("\n[targets: (c)/(a) >= 0.50; (b) p99 < 10ms]\n")
	if base != nil {
		fmt.Printf("this build / baseline %s, median of the rounds: (b) %.3f  (c) %.3f\n", baseline, median(vsBaseB), median(vsBaseC))
	}
	return nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func roundD(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(10 * time.Microsecond).String()
}

func singleBody(v []byte) []byte {
	return []byte(`{"records":[{"value":"` + base64.StdEncoding.EncodeToString(v) + `"}]}`)
}

func batchBody(v []byte, n int) []byte {
	rec := `{"value":"` + base64.StdEncoding.EncodeToString(v) + `"}`
	return []byte(`{"records":[` + strings.TrimSuffix(strings.Repeat(rec+",", n), ",") + `]}`)
}

// benchDirect is (a): franz-go producing straight to the embedded broker
// with the gateway's own producer settings (the fair baseline).
func benchDirect(broker, topic string, value []byte, d time.Duration) (result, error) {
	acked, failed, elapsed, err := benchgw.Direct(broker, topic, value, d, true)
	return result{name: "(a) franz-go direct, gateway's producer settings", records: acked, elapsed: elapsed, failures: failed}, err
}

// httpProduce posts one produce request and counts the records the
// gateway acknowledged. It counts `"error_code":null` in the body instead
// of decoding it: the load generator shares the machine with the gateway
// and should cost as little as it can.
func httpProduce(c *http.Client, url string, body []byte) (int, error) {
	resp, err := c.Post(url, "application/vnd.kafka.binary.v2+json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte(`{"offsets":[`)) {
		return 0, fmt.Errorf("produce answered %d: %v %.200s", resp.StatusCode, err, b)
	}
	return bytes.Count(b, []byte(`"error_code":null`)), nil
}

// benchHTTP runs clients that each send requests back to back (closed
// loop), or, with rate > 0, on a fixed schedule of rate/clients requests
// per second each (open loop): latency then counts from the scheduled
// send time, so a stall is not hidden by the clients waiting for it.
func benchHTTP(url string, body []byte, perReq, clients int, d time.Duration, rate float64) result {
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var (
		records, failed atomic.Int64
		mu              sync.Mutex
		lat             []time.Duration
		wg              sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			var interval time.Duration
			if rate > 0 {
				interval = time.Duration(float64(clients) / rate * float64(time.Second))
			}
			next := time.Now()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if interval > 0 {
					if wait := time.Until(next); wait > 0 {
						time.Sleep(wait)
					}
					t0 = next
					next = next.Add(interval)
				}
				n, err := httpProduce(hc, url, body)
				local = append(local, time.Since(t0))
				if err != nil {
					failed.Add(int64(perReq))
					continue
				}
				records.Add(int64(n))
				failed.Add(int64(perReq - n))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{records: records.Load(), elapsed: time.Since(start), lat: lat, failures: failed.Load()}
}
