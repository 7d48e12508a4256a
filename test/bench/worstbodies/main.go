// Command worstbodies sends the request bodies that cost kgate the most
// memory, all at once, and prints the gateway's peak RSS against its
// memory budget (http.memory_budget):
//
//	go run ./test/bench/worstbodies [-duration 20s] [-workers 4] [-budget 256Mi] [-baseline BIN]
//
// It builds kgate, starts one `kgate serve` for its embedded broker and
// another (open mode, with the budget) using that broker as an external
// Kafka, so that the RSS measured is the gateway's and not what the broker
// stores, and for -duration keeps -workers clients of each kind busy:
//
//	tiny     v2 produce of http.max_records_per_request tiny records ({"value":1})
//	toomany  v2 produce of 1,000,000 tiny records (12 MB; refused 413)
//	huge     v2 produce of one 11 MiB binary value (16 MiB of base64 body)
//	deep     v2 produce of a json value nested 100,000 arrays deep
//	stream   v3 streams sending tiny records as fast as they can
//	kastlex  KastleX produce of a 15 MiB body
//
// Each answer's status is counted (503 means the budget was full and the
// client was told to retry). With -baseline it runs the same load against
// another binary (say, one built before the budget) in a second run.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/test/bench/benchgw"
)

func main() {
	duration := flag.Duration("duration", 20*time.Second, "how long the load runs")
	workers := flag.Int("workers", 4, "concurrent clients of each kind")
	budget := flag.String("budget", "256Mi", "the gateway's http.memory_budget")
	baseline := flag.String("baseline", "", "another kgate binary to load the same way, in a second run")
	flag.Parse()
	b, err := config.ParseBytes(*budget)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worstbodies: -budget:", err)
		os.Exit(2)
	}
	bodies := makeBodies()
	fmt.Printf("kgate worst-body memory benchmark: %s, %d clients of each kind, budget %s\n", *duration, *workers, *budget)
	if err := run("this build", "", int64(b), *duration, *workers, bodies); err != nil {
		fmt.Fprintln(os.Stderr, "worstbodies:", err)
		os.Exit(1)
	}
	if *baseline != "" {
		if err := run("baseline "+*baseline, *baseline, int64(b), *duration, *workers, bodies); err != nil {
			fmt.Fprintln(os.Stderr, "worstbodies:", err)
			os.Exit(1)
		}
	}
}

type body struct {
	kind, path, ctype string
	b                 []byte
}

func makeBodies() []body {
	records := func(n int) []byte {
		var buf bytes.Buffer
		buf.WriteString(`{"records":[`)
		for i := range n {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(`{"value":1}`)
		}
		buf.WriteString(`]}`)
		return buf.Bytes()
	}
	const v2JSON, v2Binary = "application/vnd.kafka.json.v2+json", "application/vnd.kafka.binary.v2+json"
	huge := []byte(`{"records":[{"value":"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, 11<<20)) + `"}]}`)
	deep := []byte(`{"records":[{"value":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}]}`)
	return []body{
		{"tiny", "/topics/worst-tiny", v2JSON, records(config.Default().HTTP.MaxRecordsPerRequest)},
		{"toomany", "/topics/worst-toomany", v2JSON, records(1000000)},
		{"huge", "/topics/worst-huge", v2Binary, huge},
		{"deep", "/topics/worst-deep", v2JSON, deep},
		{"kastlex", "/api/v1/messages/worst-kastlex", "application/binary", bytes.Repeat([]byte("k"), 15<<20)},
	}
}

func run(name, bin string, budget int64, d time.Duration, workers int, bodies []body) error {
	// The embedded broker keeps what it stores in memory: it runs in a
	// kgate of its own, and the gateway measured uses it as an external
	// Kafka, so that its RSS is the requests' alone.
	kafka, err := benchgw.Start()
	if err != nil {
		return err
	}
	defer kafka.Stop()
	gw, err := benchgw.StartBinary(bin, "KGATE_BROKERS="+kafka.Broker, fmt.Sprintf("KGATE_HTTP_MEMORY_BUDGET=%d", budget))
	if err != nil {
		return err
	}
	defer gw.Stop()
	cid, err := benchgw.ClusterID(gw.URL)
	if err != nil {
		return err
	}
	for _, t := range []string{"worst-tiny", "worst-toomany", "worst-huge", "worst-deep", "worst-kastlex", "worst-stream"} {
		if err := benchgw.CreateTopic(gw.URL, cid, t); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	statuses := map[string]map[int]int{}
	count := func(kind string, status int) {
		mu.Lock()
		defer mu.Unlock()
		if statuses[kind] == nil {
			statuses[kind] = map[int]int{}
		}
		statuses[kind][status]++
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, bd := range bodies {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					resp, err := client.Post(gw.URL+bd.path, bd.ctype, bytes.NewReader(bd.b))
					if err != nil {
						count(bd.kind, -1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					count(bd.kind, resp.StatusCode)
					if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
						time.Sleep(200 * time.Millisecond) // Retry-After, shortened
					}
				}
			}()
		}
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				n, status := stream(gw.URL+"/v3/clusters/"+cid+"/topics/worst-stream/records", deadline)
				count("stream", status)
				count("stream records", n)
			}
		}()
	}
	wg.Wait()
	peak := gw.PeakRSSBytes()
	fmt.Printf("\n%s: peak RSS (VmHWM) %.1f MiB against a budget of %.1f MiB (%.2f×)\n", name, float64(peak)/(1<<20), float64(budget)/(1<<20), float64(peak)/float64(budget))
	kinds := make([]string, 0, len(statuses))
	for k := range statuses {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		var parts []string
		for st, n := range statuses[k] {
			parts = append(parts, fmt.Sprintf("%d×%d", n, st))
		}
		sort.Strings(parts)
		if k == "stream records" {
			total := 0
			for n, times := range statuses[k] {
				total += n * times
			}
			parts = []string{fmt.Sprintf("%d receipts", total)}
		}
		fmt.Printf("  %-15s %s\n", k, strings.Join(parts, "  "))
	}
	return nil
}

// stream sends tiny records on one v3 stream until deadline, reading the
// receipts, and returns how many came back and the response status.
func stream(url string, deadline time.Time) (int, int) {
	pr, pw := io.Pipe()
	go func() {
		rec := []byte(`{"value":{"type":"JSON","data":1}}`)
		batch := bytes.Repeat(rec, 1000)
		for time.Now().Before(deadline) {
			if _, err := pw.Write(batch); err != nil {
				return
			}
		}
		pw.Close()
	}()
	resp, err := http.Post(url, "application/json", pr)
	if err != nil {
		pw.CloseWithError(err)
		return 0, -1
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		n++
	}
	pw.CloseWithError(io.ErrClosedPipe)
	return n, resp.StatusCode
}
