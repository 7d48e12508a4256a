// Command avroproduce measures v2 produce in the avro embedded format
// against the json format in the same run, on the same gateway, and
// prints the ratio (target: at least 0.7):
//
//	go run ./test/bench/avroproduce [-duration 3s] [-rounds 5] [-clients 16] [-records 100]
//
// It builds kgate, starts `kgate serve` on its embedded broker in a
// temporary directory (the gateway and its registry in that process, the
// load generator in this one), registers one Avro record schema and, in
// interleaved rounds, runs for -duration each:
//
//	(j)  json: application/vnd.kafka.json.v2+json, -records records per
//	     request, each value a JSON object;
//	(i)  avro by id: the same values with value_schema_id (what a client
//	     does after its first request);
//	(s)  avro with value_schema: the same values with the full schema in
//	     every request (looked up, already registered, each time).
//
// -clients keep-alive clients send back to back (closed loop). For each
// scenario it prints records/s per round and the gateway's CPU per
// record, and then the ratios (i)/(j) and (s)/(j): the median of the
// per-round ratios, each round's scenarios run back to back so that
// load from elsewhere on a shared machine hurts them alike, and the same
// for records per CPU-second of the gateway process, which such load
// distorts less.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/test/bench/benchgw"
)

const schema = `{"type":"record","name":"Reading","namespace":"bench","fields":[` +
	`{"name":"sensor","type":"string"},{"name":"seq","type":"long"},{"name":"celsius","type":"double"},` +
	`{"name":"ok","type":"boolean"},{"name":"site","type":{"type":"enum","name":"Site","symbols":["NORTH","SOUTH"]}},` +
	`{"name":"tags","type":{"type":"array","items":"string"}},{"name":"note","type":["null","string"],"default":null}]}`

func main() {
	duration := flag.Duration("duration", 3*time.Second, "how long each scenario runs per round")
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	clients := flag.Int("clients", 16, "concurrent keep-alive clients")
	records := flag.Int("records", 100, "records per request")
	flag.Parse()
	if err := run(*duration, *rounds, *clients, *records); err != nil {
		fmt.Fprintln(os.Stderr, "avroproduce:", err)
		os.Exit(1)
	}
}

type scenario struct {
	name, topic, contentType string
	body                     []byte
}

type result struct {
	records int64
	elapsed time.Duration
	cpu     time.Duration
}

func (r result) rate() float64 { return float64(r.records) / r.elapsed.Seconds() }

func (r result) cpuPerRecord() float64 { return r.cpu.Seconds() / float64(max(r.records, 1)) }

func run(d time.Duration, rounds, clients, n int) error {
	g, err := benchgw.Start()
	if err != nil {
		return err
	}
	defer g.Stop()
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}

	// Register the schema once; every avro scenario writes with it.
	reg, _ := json.Marshal(map[string]string{"schema": schema})
	resp, err := cl.Post(g.URL+"/schema-registry/subjects/bench-avro-value/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(reg))
	if err != nil {
		return err
	}
	var id struct {
		ID int `json:"id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&id)
	resp.Body.Close()
	if err != nil || id.ID == 0 {
		return fmt.Errorf("registering the schema: %d, %v", resp.StatusCode, err)
	}

	// The json and avro records are the same values (unions in Avro's
	// JSON encoding, which json shows as the same object).
	var recs []string
	for i := range n {
		note := `null`
		if i%2 == 1 {
			note = `{"string":"calibrated"}`
		}
		recs = append(recs, fmt.Sprintf(`{"value":{"sensor":"sensor-%03d","seq":%d,"celsius":%d.25,"ok":true,"site":"NORTH","tags":["roof","east"],"note":%s}}`, i, 1000000+i, i%40, note))
	}
	records := "[" + strings.Join(recs, ",") + "]"
	quoted, _ := json.Marshal(schema)
	scenarios := []scenario{
		{"(j) json", "bench-json", "application/vnd.kafka.json.v2+json", []byte(`{"records":` + records + `}`)},
		{"(i) avro, value_schema_id", "bench-avro", "application/vnd.kafka.avro.v2+json", []byte(`{"value_schema_id":` + strconv.Itoa(id.ID) + `,"records":` + records + `}`)},
		{"(s) avro, value_schema", "bench-avro", "application/vnd.kafka.avro.v2+json", []byte(`{"value_schema":` + string(quoted) + `,"records":` + records + `}`)},
	}
	// One request each first: topics created, schema resolved, and any
	// refusal reported before measuring.
	for _, s := range scenarios {
		if _, err := post(cl, g.URL, s); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}

	fmt.Printf("avro vs json v2 produce: %d records/request, %d clients, %d rounds of %s, GOMAXPROCS(here)=%d\n",
		n, clients, rounds, d, runtime.GOMAXPROCS(0))
	all := make([][]result, len(scenarios))
	for round := range rounds {
		for i, s := range scenarios {
			cpu0 := g.CPU()
			r, err := closedLoop(cl, g.URL, s, clients, d, n)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			r.cpu = g.CPU() - cpu0
			all[i] = append(all[i], r)
			fmt.Printf("round %d %-28s %9.0f records/s  gateway CPU %.2f µs/record\n", round+1, s.name, r.rate(),
				float64(r.cpu.Nanoseconds())/1e3/float64(max(r.records, 1)))
		}
	}
	fmt.Println()
	for i, s := range scenarios {
		var rates []float64
		for _, r := range all[i] {
			rates = append(rates, r.rate())
		}
		fmt.Printf("%-28s median %9.0f records/s\n", s.name, median(rates))
	}
	for i := 1; i < len(scenarios); i++ {
		var ratios []float64
		for round := range rounds {
			ratios = append(ratios, all[i][round].rate()/all[0][round].rate())
		}
		sort.Float64s(ratios)
		var cpu []float64
		for round := range rounds {
			cpu = append(cpu, all[0][round].cpuPerRecord()/all[i][round].cpuPerRecord())
		}
		sort.Float64s(cpu)
		fmt.Printf("ratio %s / (j) json: records/s median %.2f (rounds %.2f-%.2f; target >= 0.7); records per gateway CPU-second median %.2f (rounds %.2f-%.2f)\n",
			scenarios[i].name[:3], median(ratios), ratios[0], ratios[len(ratios)-1], median(cpu), cpu[0], cpu[len(cpu)-1])
	}
	return nil
}

// closedLoop sends s's body from clients goroutines back to back for d
// and counts the records of 200 answers; any other answer fails it.
func closedLoop(cl *http.Client, base string, s scenario, clients int, d time.Duration, n int) (result, error) {
	var acked atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := post(cl, base, s); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				acked.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	return result{records: acked.Load(), elapsed: time.Since(start)}, firstErr
}

func post(cl *http.Client, base string, s scenario) (int, error) {
	resp, err := cl.Post(base+"/topics/"+s.topic, s.contentType, bytes.NewReader(s.body))
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Contains(body, []byte(`"error_code":4`)) || bytes.Contains(body, []byte(`"error_code":5`)) {
		return resp.StatusCode, fmt.Errorf("answer %d %.300s", resp.StatusCode, body)
	}
	return resp.StatusCode, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
