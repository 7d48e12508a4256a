package e2e

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// paced sends user's one-record produce requests to url at rate per
// second for d (open loop: each at its scheduled time, whatever the
// answers), and counts the answers; lat holds the accepted requests'
// latencies.
type paced struct {
	ok, limited, other atomic.Int64
	mu                 sync.Mutex
	lat                []time.Duration
}

func pace(url, user string, rate int, d time.Duration) *paced {
	p := &paced{}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; time.Duration(i)*interval < d; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(`{"records":[{"value":"x"}]}`))
			req.Header.Set("Content-Type", "application/vnd.kafka.json.v2+json")
			req.SetBasicAuth(user, "alicepw")
			sent := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				p.other.Add(1)
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				p.ok.Add(1)
				p.mu.Lock()
				p.lat = append(p.lat, time.Since(sent))
				p.mu.Unlock()
			case http.StatusTooManyRequests:
				p.limited.Add(1)
			default:
				p.other.Add(1)
			}
		})
	}
	wg.Wait()
	return p
}

func (p *paced) p99() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lat) == 0 {
		return 0
	}
	l := slices.Clone(p.lat)
	slices.Sort(l)
	return l[len(l)*99/100]
}

// TestScaleOutRateLimit: carol, limited to R requests/s for the cluster,
// sends 10 R through the load balancer (round-robin over three replicas)
// for 10 s: at most 1.1 R x 10 s + her burst are accepted, the rest are
// 429 (with per-node limits she would get 3 R), and she still gets most of
// her rate; alice, sending meanwhile, is refused nothing. Alice's p99 before
// and during the flood is logged (timings are not asserted: the machine
// is shared).
func TestScaleOutRateLimit(t *testing.T) {
	s := startScaleOut(t)
	alice := s.lb + "/topics/" + scaleTopic
	before := pace(alice, "alice", 20, 2*time.Second)
	const secs = 10
	var during *paced
	done := make(chan struct{})
	go func() {
		defer close(done)
		during = pace(alice, "alice", 20, secs*time.Second)
	}()
	carol := pace(s.lb+"/topics/"+limitedTopic, "carol", 10*limitedRate, secs*time.Second)
	<-done
	ok := carol.ok.Load()
	t.Logf("carol at %d requests/s for %ds through haproxy: %d accepted, %d refused with 429, %d other (limit %d/s, burst %d)",
		10*limitedRate, secs, ok, carol.limited.Load(), carol.other.Load(), limitedRate, limitedBurst)
	t.Logf("alice's p99: %v alone, %v during carol's flood", before.p99(), during.p99())
	if max := int64(1.1*limitedRate*secs) + limitedBurst; ok > max {
		t.Errorf("%d of carol's requests accepted, more than 1.1 x %d/s x %ds + burst %d = %d", ok, limitedRate, secs, limitedBurst, max)
	}
	if min := int64(0.8 * limitedRate * secs); ok < min {
		t.Errorf("%d of carol's requests accepted, less than 0.8 x %d/s x %ds = %d", ok, limitedRate, secs, min)
	}
	if carol.other.Load() != 0 {
		t.Errorf("%d of carol's answers were neither 200 nor 429", carol.other.Load())
	}
	for name, p := range map[string]*paced{"alone": before, "during": during} {
		if p.limited.Load() != 0 || p.other.Load() != 0 {
			t.Errorf("alice %s: %d accepted, %d refused with 429, %d other", name, p.ok.Load(), p.limited.Load(), p.other.Load())
		}
	}
}
