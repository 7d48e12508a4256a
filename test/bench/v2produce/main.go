// Command v2produce measures kgate's v2 produce path against a bare
// net/http server, franz-go producing directly, and (optionally) another
// gateway, in one run on one machine, and prints the ratios against the
// targets of docs/benchmarks.md:
//
//	go run ./test/bench/v2produce [-duration 5s] [-rounds 5] [-rates 10000,20000]
//	                              [-peer URL] [-baseline OLD-KGATE-BINARY]
//
// It builds kgate and, in interleaved rounds, measures:
//
//	(0) bare      net/http in its own process answering every POST with a
//	              fixed produce answer after reading the body: the ceiling
//	(a) direct    franz-go producing to the embedded broker with the
//	              gateway's producer settings
//	(b) embedded  `kgate serve` on its embedded broker, 1 record/request
//	(e) external  `kgate serve` fronting a standalone broker (kgate's kfake
//	              alone in another process), 1 record/request
//	(p) peer      -peer URL with the same load (kafka-pixy, say)
//	(c) batch     kgate embedded, 100 records/request
//	(o) open loop kgate embedded at each -rates rate: p99 counted from the
//	              scheduled send time, and how many requests were shed
//
// Closed-loop scenarios use wrk -t2 when it is on PATH (-load go to use
// Go's client), 64 connections. For each scenario it prints requests/s,
// p50/p99, server CPU per request (the gateway's, plus the broker's for
// (e)), and the scenario's peak RSS (VmHWM reset before each scenario).
// The topics' end offsets are checked against the acknowledged records
// after every kgate scenario: an acknowledged record missing from the log
// is reported as lost.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/test/bench/benchgw"
)

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		if err := runRole(role); err != nil {
			fmt.Fprintln(os.Stderr, "v2produce:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "how long each scenario runs in each round")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds (the machine is noisy: ratios are taken per round, then the median)")
	flag.IntVar(&o.size, "size", 93, "value size in bytes (93: a one-record body of 150 bytes, as in the figures of docs/benchmarks.md)")
	flag.IntVar(&o.clients, "clients", 64, "concurrent connections of the closed-loop scenarios")
	rates := flag.String("rates", "10000,20000", "open-loop rates in requests/s for (o), comma-separated (empty: skip)")
	flag.StringVar(&o.load, "load", "auto", "closed-loop load generator: wrk, go, or auto (wrk when on PATH)")
	flag.StringVar(&o.peer, "peer", "", "URL of another gateway's produce endpoint to run (b)'s load against, say kafka-pixy's http://127.0.0.1:19092/topics/bench-p/messages")
	flag.StringVar(&o.peerBody, "peer-body", "raw", "what -peer is sent: raw (the value as the body, as kafka-pixy takes it) or v2 (kgate's body)")
	flag.StringVar(&o.peerCmd, "peer-cmd", "", "command that starts the peer gateway in front of the standalone broker ({broker} is replaced by its address; topic bench-p is created there), say \"kafka-pixy -kafkaPeers {broker} -tcpAddr 127.0.0.1:19192 -grpcAddr 127.0.0.1:19191\"")
	flag.StringVar(&o.baseline, "baseline", "", "another kgate binary (say, built before a change) whose (b) and (c) run in the same rounds")
	flag.StringVar(&o.only, "only", "", "comma-separated scenarios to run (0,a,b,e,p,c,o): all by default")
	env := flag.String("gateway-env", "", "extra KEY=VALUE,... environment for the gateways (GOGC=400, say)")
	flag.Parse()
	if *env != "" {
		o.env = strings.Split(*env, ",")
	}
	for _, r := range strings.Split(*rates, ",") {
		if r = strings.TrimSpace(r); r != "" {
			f, err := strconv.ParseFloat(r, 64)
			if err != nil || f <= 0 {
				fmt.Fprintf(os.Stderr, "v2produce: -rates: bad rate %q\n", r)
				os.Exit(2)
			}
			o.rates = append(o.rates, f)
		}
	}
	switch o.load {
	case "auto":
		_, err := exec.LookPath("wrk")
		o.wrk = err == nil
	case "wrk":
		o.wrk = true
	case "go":
	default:
		fmt.Fprintln(os.Stderr, "v2produce: -load is wrk, go or auto")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "v2produce:", err)
		os.Exit(1)
	}
}

type options struct {
	duration              time.Duration
	rounds, size, clients int
	rates                 []float64
	load, peer, peerBody  string
	peerCmd               string
	baseline, only        string
	env                   []string
	wrk                   bool
}

func (o options) runs(s string) bool {
	if o.only == "" {
		return true
	}
	for _, x := range strings.Split(o.only, ",") {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// row is one scenario of one round.
type row struct {
	key, name string
	load
	cpu  time.Duration // server CPU during the scenario (gateway + broker where one is separate)
	peak int64         // server peak RSS during the scenario, bytes (-1 unknown)
	lost int64         // acknowledged records not in the log
}

func (r row) cpuPerReq() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

// server is a process whose CPU and memory a scenario charges.
type server interface {
	CPU() time.Duration
	ResetPeakRSS()
	PeakRSSBytes() int64
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "v2produce")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := benchgw.Build(dir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	bare, bareURL, err := benchgw.StartProcLine(self, nil, roleEnv+"="+roleBare)
	if err != nil {
		return err
	}
	defer bare.Stop()
	gw, err := benchgw.StartBinary(bin, o.env...)
	if err != nil {
		return err
	}
	defer gw.Stop()
	standalone, brokerAddr, err := benchgw.StartProcLine(self, nil, roleEnv+"="+roleBroker)
	if err != nil {
		return err
	}
	defer standalone.Stop()
	ext, err := benchgw.StartBinary(bin, append([]string{"KGATE_BROKERS=" + brokerAddr}, o.env...)...)
	if err != nil {
		return err
	}
	defer ext.Stop()
	var base *benchgw.Gateway
	if o.baseline != "" {
		if base, err = benchgw.StartBinary(o.baseline, o.env...); err != nil {
			return err
		}
		defer base.Stop()
	}

	value := make([]byte, o.size)
	_, _ = rand.Read(value)
	single, batch := singleBody(value), batchBody(value, 100)
	const v2 = "application/vnd.kafka.binary.v2+json"
	// Topics are created explicitly, through each gateway's v3 API.
	for _, g := range []*benchgw.Gateway{gw, ext, base} {
		if g == nil {
			continue
		}
		cid, err := benchgw.ClusterID(g.URL)
		if err != nil {
			return err
		}
		for _, topic := range []string{"bench-a", "bench-b", "bench-c", "bench-o"} {
			if g == ext && topic == "bench-a" {
				continue
			}
			if err := benchgw.CreateTopic(g.URL, cid, topic); err != nil {
				return err
			}
		}
	}
	offsets := func(broker, topic string) func() int64 {
		return func() int64 { return endOffsets(broker, topic) }
	}
	// The peer fronts the same standalone broker, with its topic made
	// there beforehand.
	if err := createTopic(brokerAddr, "bench-p"); err != nil {
		return err
	}
	var peerProc *benchgw.Proc
	if o.peerCmd != "" {
		f := strings.Fields(strings.ReplaceAll(o.peerCmd, "{broker}", brokerAddr))
		if peerProc, err = benchgw.StartProcQuiet(f[0], f[1:]); err != nil {
			return err
		}
		defer peerProc.Stop()
		time.Sleep(2 * time.Second) // no readiness line to wait for
	}
	var peer target
	if o.peer != "" {
		peer = target{url: o.peer, contentType: v2, body: single, perReq: 1}
		if o.peerBody == "raw" {
			peer = target{url: o.peer, contentType: "text/plain", body: value, perReq: 1}
		}
	}

	gen := "Go's net/http client"
	if o.wrk {
		gen = "wrk -t2"
	}
	fmt.Printf("kgate v2 produce benchmark: %d-byte values, %s per scenario, %d connections (%s), GOMAXPROCS=%d, %s/%s\n",
		o.size, o.duration, o.clients, gen, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("%d interleaved rounds; each row is one scenario of one round; ratios are per round, then the median\n", o.rounds)
	fmt.Printf("\n%-5s %-52s %10s %10s %9s %9s %7s %7s %10s %9s\n", "round", "scenario", "req/s", "records/s", "p50", "p99", "shed", "failed", "CPU/req", "peak RSS")

	all := map[string][]row{}
	closed := func(key, name string, t target, srv []server, check func() int64) (row, error) {
		for _, s := range srv {
			s.ResetPeakRSS()
		}
		before := int64(-1)
		if check != nil {
			before = check()
		}
		cpu0 := cpuOf(srv)
		l, err := closedLoop(t, o.clients, o.duration, o.wrk)
		if err != nil {
			return row{}, err
		}
		r := row{key: key, name: name, load: l, cpu: cpuOf(srv) - cpu0, peak: peakOf(srv)}
		if check != nil {
			time.Sleep(200 * time.Millisecond) // wrk's last requests in flight
			if written := check() - before; written < l.records {
				r.lost = l.records - written
			}
		}
		return r, nil
	}
	for round := 1; round <= o.rounds; round++ {
		var rows []row
		add := func(r row, err error) error {
			if err != nil {
				return err
			}
			rows = append(rows, r)
			return nil
		}
		if o.runs("0") {
			if err := add(closed("0", "(0) bare net/http, fixed answer", target{url: bareURL + "/topics/bench-b", contentType: v2, body: single, perReq: 1}, []server{bare}, nil)); err != nil {
				return err
			}
		}
		if o.runs("a") {
			gw.ResetPeakRSS()
			cpu0 := gw.CPU()
			acked, failed, elapsed, err := benchgw.Direct(gw.Broker, "bench-a", value, o.duration, true)
			if err != nil {
				return err
			}
			rows = append(rows, row{key: "a", name: "(a) franz-go direct, gateway's producer settings",
				load: load{records: acked, failed: failed, elapsed: elapsed}, cpu: gw.CPU() - cpu0, peak: -1})
		}
		if o.runs("b") {
			if err := add(closed("b", "(b) kgate embedded, 1 record/request", target{url: gw.URL + "/topics/bench-b", contentType: v2, body: single, perReq: 1}, []server{gw}, offsets(gw.Broker, "bench-b"))); err != nil {
				return err
			}
		}
		if o.runs("e") {
			if err := add(closed("e", "(e) kgate fronting a standalone broker, 1 record/req", target{url: ext.URL + "/topics/bench-b", contentType: v2, body: single, perReq: 1}, []server{ext, standalone}, offsets(brokerAddr, "bench-b"))); err != nil {
				return err
			}
		}
		if o.peer != "" && o.runs("p") {
			var srv []server
			if peerProc != nil {
				srv = []server{peerProc, standalone}
			}
			if err := add(closed("p", "(p) peer "+o.peer, peer, srv, offsets(brokerAddr, "bench-p"))); err != nil {
				return err
			}
		}
		if o.runs("c") {
			if err := add(closed("c", "(c) kgate embedded, 100 records/request", target{url: gw.URL + "/topics/bench-c", contentType: v2, body: batch, perReq: 100}, []server{gw}, offsets(gw.Broker, "bench-c"))); err != nil {
				return err
			}
		}
		if o.runs("o") {
			for _, rate := range o.rates {
				gw.ResetPeakRSS()
				cpu0 := gw.CPU()
				l := goLoad(target{url: gw.URL + "/topics/bench-o", contentType: v2, body: single, perReq: 1}, o.clients, o.duration, rate)
				rows = append(rows, row{key: fmt.Sprintf("o%.0f", rate), name: fmt.Sprintf("(o) kgate embedded, open loop at %.0f req/s", rate),
					load: l, cpu: gw.CPU() - cpu0, peak: gw.PeakRSSBytes()})
			}
		}
		if base != nil {
			if err := add(closed("bb", "(b) baseline build", target{url: base.URL + "/topics/bench-b", contentType: v2, body: single, perReq: 1}, []server{base}, offsets(base.Broker, "bench-b"))); err != nil {
				return err
			}
			if err := add(closed("bc", "(c) baseline build", target{url: base.URL + "/topics/bench-c", contentType: v2, body: batch, perReq: 100}, []server{base}, offsets(base.Broker, "bench-c"))); err != nil {
				return err
			}
		}
		for _, r := range rows {
			all[r.key] = append(all[r.key], r)
			fmt.Printf("%-5d %-52s %10s %10s %9s %9s %7d %7d %10s %9s\n", round, r.name, num(r.reqRate()), num(r.recRate()),
				roundD(r.p50), roundD(r.p99), r.shed, r.failed+r.lost, us(r.cpuPerReq()), mib(r.peak))
			if r.lost > 0 {
				fmt.Printf("      LOST: %d acknowledged records are not in the log\n", r.lost)
			}
		}
	}
	report(o, all)
	return nil
}

// report prints the medians of the ratios the targets use.
func report(o options, all map[string][]row) {
	ratio := func(num, den string, f func(row) float64) (float64, bool) {
		a, b := all[num], all[den]
		if len(a) == 0 || len(a) != len(b) {
			return 0, false
		}
		var xs []float64
		for i := range a {
			if d := f(b[i]); d > 0 {
				xs = append(xs, f(a[i])/d)
			}
		}
		return median(xs), len(xs) > 0
	}
	req := func(r row) float64 { return r.reqRate() }
	rec := func(r row) float64 { return r.recRate() }
	fmt.Println()
	line := func(what string, v float64, ok bool, target string) {
		if ok {
			fmt.Printf("%-58s %8.3f   target %s\n", what, v, target)
		}
	}
	v, ok := ratio("b", "0", req)
	line("(b)/(0) embedded, 1 record/request vs bare net/http", v, ok, ">= 0.60")
	v, ok = ratio("e", "0", req)
	line("(e)/(0) fronting a standalone broker vs bare net/http", v, ok, ">= 0.55")
	v, ok = ratio("b", "p", req)
	line("(b)/(p) embedded vs the peer", v, ok, ">= 1.3 (the peer fronting a broker)")
	v, ok = ratio("e", "p", req)
	line("(e)/(p) fronting a standalone broker vs the peer", v, ok, ">= 1.3")
	v, ok = ratio("c", "a", rec)
	line("(c)/(a) 100 records/request vs franz-go direct (records/s)", v, ok, ">= 0.50")
	v, ok = ratio("b", "bb", req)
	line("(b) this build / baseline build", v, ok, "no regression")
	v, ok = ratio("c", "bc", rec)
	line("(c) this build / baseline build", v, ok, "no regression")
	med := func(key string, f func(row) float64) (float64, bool) {
		var xs []float64
		for _, r := range all[key] {
			xs = append(xs, f(r))
		}
		return median(xs), len(xs) > 0
	}
	if v, ok := med("b", func(r row) float64 { return float64(r.cpuPerReq()) / 1e3 }); ok {
		fmt.Printf("%-58s %8.1f µs target <= 35 µs\n", "(b) server CPU per request, incl. the embedded broker", v)
	}
	if v, ok := med("e", func(r row) float64 { return float64(r.cpuPerReq()) / 1e3 }); ok {
		fmt.Printf("%-58s %8.1f µs\n", "(e) server CPU per request, gateway + broker", v)
	}
	if v, ok := med("0", func(r row) float64 { return float64(r.cpuPerReq()) / 1e3 }); ok {
		fmt.Printf("%-58s %8.1f µs\n", "(0) bare server CPU per request", v)
	}
	for _, rate := range o.rates {
		key := fmt.Sprintf("o%.0f", rate)
		if v, ok := med(key, func(r row) float64 { return float64(r.p99) }); ok {
			shed, _ := med(key, func(r row) float64 { return float64(r.shed) })
			fmt.Printf("%-58s %8s   target < 10ms (shed: median %.0f requests)\n", fmt.Sprintf("(o) p99 at %.0f req/s offered, open loop", rate), roundD(time.Duration(v)), shed)
		}
	}
	// The embedded broker keeps an index entry in memory for every batch
	// it stores (and reads the log at start), so the embedded gateway's
	// resident set grows with the data written over the rounds, whatever
	// the load: the first round, on a fresh data directory, shows what
	// the load costs; fronting a broker (e) shows the gateway alone.
	var peak, peak1, peakE int64 = -1, -1, -1
	var lost int64
	for key, rows := range all {
		if key == "0" || key == "bb" || key == "bc" {
			continue
		}
		for i, r := range rows {
			switch {
			case key == "e":
				peakE = max(peakE, r.peak)
			case i == 0:
				peak1 = max(peak1, r.peak)
				fallthrough
			default:
				peak = max(peak, r.peak)
			}
			lost += r.lost
		}
	}
	fmt.Printf("%-58s %8s   target < 64 MiB\n", "kgate embedded, peak RSS over round 1's scenarios", mib(peak1))
	fmt.Printf("%-58s %8s   target < 64 MiB\n", "kgate fronting a standalone broker, peak RSS", mib(peakE))
	fmt.Printf("%-58s %8s   (grows with the batches stored)\n", "kgate embedded, peak RSS over every round", mib(peak))
	fmt.Printf("%-58s %8d   target 0\n", "acknowledged records missing from the log", lost)
}

func cpuOf(srv []server) time.Duration {
	var d time.Duration
	for _, s := range srv {
		d += s.CPU()
	}
	return d
}

func peakOf(srv []server) int64 {
	if len(srv) == 0 {
		return -1
	}
	return srv[0].PeakRSSBytes()
}

// createTopic creates topic, one partition, on broker.
func createTopic(broker, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic)
	return err
}

// endOffsets sums topic's partitions' end offsets on broker (-1: unknown).
func endOffsets(broker, topic string) int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return -1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return -1
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func num(f float64) string {
	if f == 0 {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', 0, 64)
}

func mib(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
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

func us(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/1e3)
}
