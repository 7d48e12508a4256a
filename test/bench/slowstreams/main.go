// Command slowstreams measures what long-lived v3 produce streams that
// send a record now and then (a device's, an agent's) hold in the
// gateway once each has sent more records than a stream's window:
//
//	go run ./test/bench/slowstreams [-n 200] [-records 5000] [-baseline BIN]
//
// It builds kgate, starts `kgate serve` (open mode, stream caps raised to
// -n) and, with -baseline, another kgate binary beside it. On each
// gateway it opens -n streams to a fresh topic; each sends -records
// records one at a time, waiting for each receipt, then stays open. With
// every stream open it samples the gateway's resident memory against
// the sample taken before the first stream, and reports the difference
// per stream. The streams then close.
package main

import (
	"bufio"
	"bytes"
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
	n := flag.Int("n", 200, "streams")
	records := flag.Int("records", 5000, "records each stream sends, one at a time")
	baseline := flag.String("baseline", "", "another kgate binary (say, built before a change) measured the same way")
	flag.Parse()
	if err := run(*n, *records, *baseline); err != nil {
		fmt.Fprintln(os.Stderr, "slowstreams:", err)
		os.Exit(1)
	}
}

func run(n, records int, baseline string) error {
	env := []string{"KGATE_HTTP_MAX_STREAMS=" + strconv.Itoa(n+10), "KGATE_HTTP_MAX_STREAMS_PER_PRINCIPAL=" + strconv.Itoa(n+10)}
	fmt.Printf("kgate slow v3 produce streams: %d streams, %d records each sent one at a time, then held open\n\n", n, records)
	fmt.Printf("%-16s %12s %12s %14s %10s\n", "build", "RSS before", "RSS open", "per stream", "took")
	builds := []struct{ name, bin string }{{"this build", ""}}
	if baseline != "" {
		builds = append(builds, struct{ name, bin string }{"baseline", baseline})
	}
	for _, b := range builds {
		if err := measure(b.name, b.bin, env, n, records); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
	}
	return nil
}

func measure(name, bin string, env []string, n, records int) error {
	g, err := benchgw.StartBinary(bin, env...)
	if err != nil {
		return err
	}
	defer g.Stop()
	cid, err := benchgw.ClusterID(g.URL)
	if err != nil {
		return err
	}
	if err := benchgw.CreateTopic(g.URL, cid, "slow"); err != nil {
		return err
	}
	url := g.URL + "/v3/clusters/" + cid + "/topics/slow/records"
	time.Sleep(time.Second)
	before := g.RSSBytes()

	start := time.Now()
	sent := make(chan error, n)
	release := make(chan struct{})
	var done sync.WaitGroup
	tr := &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	rec := []byte(`{"value":{"type":"JSON","data":{"device":"cam-7","reading":42.5}}}` + "\n")
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			sent <- stream(hc, url, rec, records, release)
		}()
	}
	for range n {
		if err := <-sent; err != nil {
			close(release)
			done.Wait()
			return err
		}
	}
	took := time.Since(start)
	time.Sleep(2 * time.Second) // answers settle
	open := g.RSSBytes()
	close(release)
	done.Wait()
	fmt.Printf("%-16s %9.1f MiB %9.1f MiB %11.1f KiB %10s\n", name, mib(before), mib(open), float64(open-before)/float64(n)/1024, took.Round(time.Millisecond))
	return nil
}

// stream sends records one at a time on one produce stream, each after
// the previous one's receipt, reports, and holds the stream open until
// release closes.
func stream(hc *http.Client, url string, rec []byte, records int, release <-chan struct{}) error {
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", url, pr)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	answers := make(chan error, 1)
	go func() {
		resp, err := hc.Do(req)
		if err != nil {
			answers <- err
			return
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 && !bytes.HasPrefix(line, []byte(`{"error_code":200,`)) {
				answers <- fmt.Errorf("receipt %s", strings.TrimSpace(string(line)))
				return
			}
			if err != nil {
				answers <- err
				return
			}
			answers <- nil
		}
	}()
	var first error
	for range records {
		if _, err := pw.Write(rec); err != nil {
			first = err
			break
		}
		if err := <-answers; err != nil {
			first = err
			break
		}
	}
	if first != nil {
		pw.CloseWithError(first)
		<-release
		return first
	}
	go func() { <-release; pw.Close() }()
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
