// Command v3produce measures the gateway's Confluent v3 streaming produce
// against franz-go producing directly, in one run on one machine, and
// prints the ratios:
//
//	go run ./test/bench/v3produce [-duration 5s] [-size 100] [-conns 16] [-rounds 3]
//
// It builds kgate, starts `kgate serve` on its embedded broker in a
// temporary directory (the gateway and its broker in that process, the
// clients in this one) and measures, in turns for each round:
//
//	(a)  franz-go producing straight to the embedded broker with its
//	     defaults (as test/bench/v2produce does), and (a') with the
//	     gateway's own producer settings (idempotent, acks=all, no linger);
//	(b)  one v3 stream (POST .../records, chunked, full duplex) sending
//	     records as fast as it can while reading the receipts;
//	(c)  -conns such streams at once.
//
// Each scenario's best round counts, so that other load on a shared
// machine hurts all of them alike. It reports records/s, the ratios
// (b)/(a) and (c)/(a) (target: at least 0.5), records per CPU-second of
// both processes together (a figure load from elsewhere distorts less),
// and the gateway's peak RSS.
package main

import (
	"github.com/kgate/kgate/test/bench/benchgw"

	"bufio"
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
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "how long each scenario runs")
	size := flag.Int("size", 100, "value size in bytes")
	conns := flag.Int("conns", 16, "concurrent streams in scenario (c)")
	rounds := flag.Int("rounds", 3, "rounds; each scenario's best counts")
	baseline := flag.String("baseline", "", "another kgate binary (say, built before a change) whose (b) and (c) run in the same rounds, for this build's ratio to it")
	flag.Parse()
	if err := run(*duration, *size, *conns, *rounds, *baseline); err != nil {
		fmt.Fprintln(os.Stderr, "v3produce:", err)
		os.Exit(1)
	}
}

type result struct {
	records  int64
	failures int64
	elapsed  time.Duration
	cpu      time.Duration // both processes
}

func (r result) rate() float64   { return float64(r.records) / r.elapsed.Seconds() }
func (r result) perCPU() float64 { return float64(r.records) / r.cpu.Seconds() }
func better(a, b result) result {
	if a.elapsed == 0 || b.rate() > a.rate() {
		return b
	}
	return a
}

func run(d time.Duration, size, conns, rounds int, baseline string) error {
	gw, err := benchgw.Start()
	if err != nil {
		return err
	}
	defer gw.Stop()
	var base *benchgw.Gateway
	var baseRecords string
	if baseline != "" {
		if base, err = benchgw.StartBinary(baseline); err != nil {
			return err
		}
		defer base.Stop()
		bcid, err := benchgw.ClusterID(base.URL)
		if err != nil {
			return err
		}
		baseRecords = base.URL + "/v3/clusters/" + bcid + "/topics/"
	}

	value := make([]byte, size)
	_, _ = rand.Read(value)
	fmt.Printf("kgate v3 streaming produce benchmark: %d-byte values, %s per scenario, %d rounds, GOMAXPROCS=%d, %s/%s\n",
		size, d, rounds, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)

	cid, err := benchgw.ClusterID(gw.URL)
	if err != nil {
		return err
	}
	records := gw.URL + "/v3/clusters/" + cid + "/topics/"
	var a, a2, b, c, bb, bc result
	var allPeak, streamPeak int64              // the gateway's VmHWM: over everything, over its v3 streams
	var ratiosB, ratiosC, cpuB, cpuC []float64 // this build / baseline, per round
	for r := 0; r < rounds; r++ {
		roundOn := func(g *benchgw.Gateway, name string, f func(topic string) (result, error)) (result, error) {
			topic := fmt.Sprintf("bench-%s-%d", name, r)
			gcid, err := benchgw.ClusterID(g.URL)
			if err != nil {
				return result{}, err
			}
			if err := benchgw.CreateTopic(g.URL, gcid, topic); err != nil {
				return result{}, err
			}
			before := g.CPU() + benchgw.SelfCPU()
			res, err := f(topic)
			res.cpu = g.CPU() + benchgw.SelfCPU() - before
			return res, err
		}
		round := func(name string, f func(topic string) (result, error)) (result, error) { return roundOn(gw, name, f) }
		ra, err := round("a", func(t string) (result, error) { return benchDirect(gw.Broker, t, value, d, false) })
		if err != nil {
			return err
		}
		ra2, err := round("a2", func(t string) (result, error) { return benchDirect(gw.Broker, t, value, d, true) })
		if err != nil {
			return err
		}
		var rb, rc, rbb, rbc result
		thisBuild := func() error {
			// The embedded broker also took (a)'s load: the peak of the
			// streams alone is taken from here.
			allPeak = max(allPeak, gw.PeakRSSBytes())
			gw.ResetPeakRSS()
			defer func() { streamPeak = max(streamPeak, gw.PeakRSSBytes()) }()
			var err error
			if rb, err = round("b", func(t string) (result, error) { return benchStreams(records+t+"/records", value, 1, d) }); err != nil {
				return err
			}
			rc, err = round("c", func(t string) (result, error) { return benchStreams(records+t+"/records", value, conns, d) })
			return err
		}
		baseBuild := func() error {
			if base == nil {
				return nil
			}
			var err error
			if rbb, err = roundOn(base, "bb", func(t string) (result, error) { return benchStreams(baseRecords+t+"/records", value, 1, d) }); err != nil {
				return err
			}
			rbc, err = roundOn(base, "bc", func(t string) (result, error) { return benchStreams(baseRecords+t+"/records", value, conns, d) })
			return err
		}
		// The builds take turns going first, so that a slow spell of the
		// machine does not always fall on the same one.
		first, second := thisBuild, baseBuild
		if r%2 == 1 {
			first, second = baseBuild, thisBuild
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		fmt.Printf("round %d: (a) %.0f  (a') %.0f  (b) %.0f  (c) %.0f records/s\n", r+1, ra.rate(), ra2.rate(), rb.rate(), rc.rate())
		a, a2, b, c = better(a, ra), better(a2, ra2), better(b, rb), better(c, rc)
		if base != nil {
			fmt.Printf("         baseline (b) %.0f  (c) %.0f records/s; this build / baseline: (b) %.3f  (c) %.3f\n", rbb.rate(), rbc.rate(), rb.rate()/rbb.rate(), rc.rate()/rbc.rate())
			bb, bc = better(bb, rbb), better(bc, rbc)
			ratiosB, ratiosC = append(ratiosB, rb.rate()/rbb.rate()), append(ratiosC, rc.rate()/rbc.rate())
			cpuB, cpuC = append(cpuB, rb.perCPU()/rbb.perCPU()), append(cpuC, rc.perCPU()/rbc.perCPU())
		}
	}

	fmt.Printf("\n%-62s %12s %14s %8s\n", "scenario (best round)", "records/s", "records/CPU-s", "failed")
	for _, row := range []struct {
		name string
		r    result
	}{
		{"(a)  franz-go direct, defaults", a},
		{"(a') franz-go direct, the gateway's producer settings", a2},
		{"(b)  v3 stream, 1 connection", b},
		{fmt.Sprintf("(c)  v3 streams, %d connections", conns), c},
	} {
		fmt.Printf("%-62s %12.0f %14.0f %8d\n", row.name, row.r.rate(), row.r.perCPU(), row.r.failures)
	}
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	fmt.Printf("\ngateway peak RSS (VmHWM) while its v3 streams ran: %s; over every scenario: %s (its embedded broker also takes (a)'s load)\n",
		mib(streamPeak), mib(max(allPeak, streamPeak, gw.PeakRSSBytes())))
	fmt.Printf("ratio (b)/(a): %.3f   (c)/(a): %.3f   [target: >= 0.70]\n", b.rate()/a.rate(), c.rate()/a.rate())
	fmt.Printf("ratio (b)/(a'): %.3f  (c)/(a'): %.3f\n", b.rate()/a2.rate(), c.rate()/a2.rate())
	fmt.Printf("CPU efficiency (b)/(a): %.3f   (c)/(a): %.3f\n", b.perCPU()/a.perCPU(), c.perCPU()/a.perCPU())
	if base != nil {
		fmt.Printf("\nbaseline %s: best (b) %.0f  (c) %.0f records/s, peak RSS %s\n", baseline, bb.rate(), bc.rate(), base.PeakRSS())
		fmt.Printf("this build / baseline, median of the rounds: records/s (b) %.3f  (c) %.3f;  records/CPU-s (b) %.3f  (c) %.3f\n",
			median(ratiosB), median(ratiosC), median(cpuB), median(cpuC))
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

func benchDirect(broker, topic string, value []byte, d time.Duration, gatewaySettings bool) (result, error) {
	acked, failed, elapsed, err := benchgw.Direct(broker, topic, value, d, gatewaySettings)
	return result{records: acked, elapsed: elapsed, failures: failed}, err
}

// benchStreams runs conns v3 streams for d: each writes records as fast as
// the connection takes them (a chunked body) and reads receipts at the
// same time; the scenario ends when every stream has its last receipt.
func benchStreams(url string, value []byte, conns int, d time.Duration) (result, error) {
	rec := []byte(`{"value":{"type":"BINARY","data":"` + base64.StdEncoding.EncodeToString(value) + `"}}` + "\n")
	chunk := bytes.Repeat(rec, 256)
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, pw := io.Pipe()
			go func() {
				for time.Now().Before(deadline) {
					if _, err := pw.Write(chunk); err != nil {
						return
					}
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", url, pr)
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				pr.CloseWithError(err)
				errs <- err
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReaderSize(resp.Body, 64<<10)
			for {
				line, err := br.ReadSlice('\n')
				if len(line) > 0 {
					if bytes.HasPrefix(line, []byte(`{"error_code":200,`)) {
						ok.Add(1)
					} else {
						failed.Add(1)
					}
				}
				if err == io.EOF {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	for err := range errs {
		return result{}, err
	}
	return result{records: ok.Load(), failures: failed.Load(), elapsed: el}, nil
}
