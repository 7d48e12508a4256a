package app_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// clusterRate is customer1's request rate in the cluster-limit tests, and
// its burst.
const clusterRate, clusterBurst = 20, 20

// threeReplicas starts three gateways on one Kafka cluster (the first's
// embedded broker), with customer1 limited to clusterRate requests/s,
// and waits until each knows all three.
func threeReplicas(t *testing.T) []*testutil.Gateway {
	t.Helper()
	users, perms := secureFiles(t)
	b, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	limited := strings.Replace(string(b), "    requests_per_second: 100\n", "    requests_per_second: 20\n    request_burst: 20\n", 1)
	if limited == string(b) {
		t.Fatal("testdata/users.yml: customer1's limits moved")
	}
	users = filepath.Join(t.TempDir(), "users.yml")
	if err := os.WriteFile(users, []byte(limited), 0o600); err != nil {
		t.Fatal(err)
	}
	sasl := config.SASL{Mechanism: "SCRAM-SHA-512", Username: "kgate", Password: superuserPW}
	fast := func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Kafka.SASL = sasl
		c.Cluster.HeartbeatInterval = config.Duration(250 * time.Millisecond)
		c.Cluster.NodeTimeout = config.Duration(2 * time.Second)
	}
	a := testutil.StartGateway(t, fast)
	gs := []*testutil.Gateway{a}
	for range 2 {
		c := testutil.GatewayConfig(t)
		fast(&c)
		c.Brokers = []string{a.Info.BrokerAddr}
		c.Auth.JWT.KeyFile = auth.GeneratedKeyPath(a.Config.DataDir, "ES512")
		gs = append(gs, testutil.StartGatewayConfig(t, c))
	}
	for _, u := range []string{"customer1", "customer2"} {
		if r := produceV2(t, a, u, "Authorization", basic(u)); r.status != 200 {
			t.Fatalf("first produce of %s: %d %s", u, r.status, r.body)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, g := range gs {
		for len(nodeIDs(t, g)) != 3 {
			if time.Now().After(deadline) {
				t.Fatalf("%s lists %v, want three replicas", g.URL, nodeIDs(t, g))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return gs
}

// flood sends user's produce requests (to the topic of its name) at rate per second for d, the
// i-th to targets[i % len(targets)], and counts the answers by status
// (per target) as they come back.
type floodResult struct {
	ok, limited, other atomic.Int64
	perTarget          []atomic.Int64 // 200s
}

func flood(t *testing.T, targets []*testutil.Gateway, user string, rate int, d time.Duration) *floodResult {
	t.Helper()
	res := &floodResult{perTarget: make([]atomic.Int64, len(targets))}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(at))
		k := i % len(targets)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", targets[k].URL+"/topics/"+user, strings.NewReader(seedBody))
			req.Header.Set("Content-Type", mtJSONv2)
			req.Header.Set("Authorization", basic(user))
			resp, err := client.Do(req)
			if err != nil {
				res.other.Add(1)
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				res.ok.Add(1)
				res.perTarget[k].Add(1)
			case http.StatusTooManyRequests:
				res.limited.Add(1)
			default:
				res.other.Add(1)
			}
		}()
	}
	wg.Wait()
	return res
}

// TestClusterRateLimit: a tenant limited to R requests/s that sends 10 R
// round-robin over three replicas for 10 s gets at most 1.1 R x 10 s plus
// its burst accepted, and the rest refused with 429 (not R per replica,
// 3 R in all, as with limits kept per node); it still gets most of its
// rate (at least 0.8 R), and another tenant sending at the same time is
// refused nothing.
func TestClusterRateLimit(t *testing.T) {
	gs := threeReplicas(t)
	const secs = 10
	var other *floodResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		other = flood(t, gs, "customer2", 10, secs*time.Second)
	}()
	r := flood(t, gs, "customer1", 10*clusterRate, secs*time.Second)
	<-done
	ok, limited := r.ok.Load(), r.limited.Load()
	t.Logf("customer1 at %d requests/s for %ds over 3 replicas: %d accepted (%d, %d, %d), %d refused with 429, %d other; limit %d/s, burst %d",
		10*clusterRate, secs, ok, r.perTarget[0].Load(), r.perTarget[1].Load(), r.perTarget[2].Load(), limited, r.other.Load(), clusterRate, clusterBurst)
	if max := int64(1.1*clusterRate*secs) + clusterBurst; ok > max {
		t.Errorf("%d requests accepted, more than 1.1 x %d/s x %ds + burst %d = %d", ok, clusterRate, secs, clusterBurst, max)
	}
	if min := int64(0.8 * clusterRate * secs); ok < min {
		t.Errorf("%d requests accepted, less than 0.8 x %d/s x %ds = %d: the replicas' shares add up to less than the limit", ok, clusterRate, secs, min)
	}
	if ok+limited != 10*clusterRate*secs || r.other.Load() != 0 {
		t.Errorf("%d answers other than 200 and 429", r.other.Load())
	}
	if other.limited.Load() != 0 || other.other.Load() != 0 || other.ok.Load() != 10*secs {
		t.Errorf("customer2 at 10 requests/s meanwhile: %d accepted, %d refused, %d other", other.ok.Load(), other.limited.Load(), other.other.Load())
	}
}

// TestClusterRateLimitFollowsDemand: a tenant whose requests all reach one
// replica (one keep-alive connection behind a layer-4 balancer) gets that
// replica's share grown to nearly all of its limit within a few
// heartbeats, not a third of it.
func TestClusterRateLimitFollowsDemand(t *testing.T) {
	gs := threeReplicas(t)
	// Let the replicas see the demand on gs[0] only.
	flood(t, gs[:1], "customer1", 4*clusterRate, 2*time.Second)
	const secs = 4
	r := flood(t, gs[:1], "customer1", 4*clusterRate, secs*time.Second)
	ok := r.ok.Load()
	t.Logf("customer1 at %d requests/s for %ds to one replica: %d accepted, %d refused", 4*clusterRate, secs, ok, r.limited.Load())
	// Its share: Floor/3 + (1 - Floor) x all of the demand = 0.93.
	if min := int64(0.75 * clusterRate * secs); ok < min {
		t.Errorf("%d accepted by the one replica it uses, less than 0.75 x %d/s x %ds = %d", ok, clusterRate, secs, min)
	}
	if max := int64(1.1*clusterRate*secs) + clusterBurst; ok > max {
		t.Errorf("%d accepted, more than %d", ok, max)
	}
}
