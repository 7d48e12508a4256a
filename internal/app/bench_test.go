package app_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// BenchmarkAuthOverhead measures v2 produce throughput (8 concurrent
// clients, one record per request) through four doors in the same run,
// interleaved in batches so that machine noise hits them alike:
//
//	open       a gateway in open development mode (no security stack)
//	anonymous  the secured gateway, no credentials (anonymous may produce)
//	basic      the secured gateway, HTTP Basic (bcrypt cache)
//	jwt        the secured gateway, a Bearer token from POST /login
//
// and reports each as a percentage of open's throughput (basic_%, jwt_%,
// anonymous_%). Run:
//
//	go test -run '^$' -bench AuthOverhead -benchtime 3000x ./internal/app/
func BenchmarkAuthOverhead(b *testing.B) {
	dir := b.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "users.yml"))
	if err != nil {
		b.Fatal(err)
	}
	users := filepath.Join(dir, "users.yml")
	perms := filepath.Join(dir, "permissions.yml")
	noLimits := strings.Replace(string(src), "  limits:\n    requests_per_second: 100\n    daily_bytes: 10Mi\n", "", 1)
	if err := os.WriteFile(users, []byte(noLimits), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(perms, []byte("anonymous:\n  produce: [bench-anonymous]\ncustomer1:\n  produce: [bench-basic, bench-jwt]\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	open := testutil.StartGateway(b, nil)
	sec := testutil.StartGateway(b, func(c *config.Config) { c.Auth.Users, c.Auth.Permissions = users, perms })
	tok := login(b, sec.URL, "customer1")

	type door struct {
		name, url, authz string
		elapsed          time.Duration
		n                int
		ratios           []float64 // per round: open's batch time / this door's
	}
	doors := []*door{
		{name: "open", url: open.URL + "/topics/bench-open"},
		{name: "anonymous", url: sec.URL + "/topics/bench-anonymous"},
		{name: "basic", url: sec.URL + "/topics/bench-basic", authz: seedAuth},
		{name: "jwt", url: sec.URL + "/topics/bench-jwt", authz: "Bearer " + tok},
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
					if d.authz != "" {
						req.Header.Set("Authorization", d.authz)
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
	// Warm up: topics exist, connections open, the password cached.
	for _, d := range doors {
		run(d, workers*4)
		d.elapsed, d.n = 0, 0
	}
	b.ResetTimer()
	// Small batches, the order rotated every round; each round yields a
	// ratio per door and the median of those is reported, so that a
	// burst of load from elsewhere on the machine skews one round, not
	// the result.
	const batch = 64
	for done, round := 0, 0; done < b.N; round++ {
		n := min(batch, b.N-done)
		took := make([]time.Duration, len(doors))
		for i := range doors {
			j := (i + round) % len(doors)
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
		if d.name != "open" {
			b.ReportMetric(100*median(d.ratios), d.name+"_%")
		}
	}
	if b.N < 100 {
		return // the framework's probing run
	}
	fmt.Fprintf(os.Stderr, "auth overhead (median of %d rounds): open %.0f req/s; anonymous %.1f%%, basic %.1f%%, jwt %.1f%% of open\n",
		len(doors[0].ratios), rate(doors[0]), 100*median(doors[1].ratios), 100*median(doors[2].ratios), 100*median(doors[3].ratios))
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
