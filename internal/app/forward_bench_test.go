package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// replicaPair starts two gateways on A's embedded broker sharing a node
// secret, the sample users without their limits, and perms; mutate, if
// set, changes both configurations.
func replicaPair(tb testing.TB, perms string, mutate func(*config.Config)) (a, b *testutil.Gateway) {
	tb.Helper()
	dir := tb.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "users.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	users := filepath.Join(dir, "users.yml")
	permsFile := filepath.Join(dir, "permissions.yml")
	secret := filepath.Join(dir, "node-secret")
	noLimits := strings.Replace(string(src), "  limits:\n    requests_per_second: 100\n    daily_bytes: 10Mi\n", "", 1)
	for path, body := range map[string]string{users: noLimits, permsFile: perms, secret: "forwarding-bench-secret-0123456789"} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	sasl := config.SASL{Mechanism: "SCRAM-SHA-512", Username: "kgate", Password: superuserPW}
	a = testutil.StartGateway(tb, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions, c.Cluster.SecretFile = users, permsFile, secret
		c.Kafka.SASL = sasl
		if mutate != nil {
			mutate(c)
		}
	})
	cfgB := testutil.GatewayConfig(tb)
	cfgB.Brokers = []string{a.Info.BrokerAddr}
	autoCreate := true
	cfgB.AutoCreateTopics = &autoCreate
	cfgB.Auth.Users, cfgB.Auth.Permissions, cfgB.Cluster.SecretFile = users, permsFile, secret
	cfgB.Kafka.SASL = sasl
	if mutate != nil {
		mutate(&cfgB)
	}
	b = testutil.StartGatewayConfig(tb, cfgB)
	deadline := time.Now().Add(10 * time.Second)
	for len(nodeIDs(tb, a)) != 2 || len(nodeIDs(tb, b)) != 2 {
		if time.Now().After(deadline) {
			tb.Fatal("the two gateways do not see each other")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return a, b
}

// BenchmarkForwardedRead measures v2 records reads of one consumer
// instance held by gateway A, through A itself (owner) and through
// gateway B, which forwards each request to A over the authenticated
// node-to-node channel and streams the answer back (forwarded), in the
// same run, interleaved round by round. One op is a seek to the start
// and reads (max_bytes 64 KiB) until all 5000 records of 100 bytes came
// back. It reports records/s for each and forwarded_% (forwarded's
// throughput as a share of the owner's, median of the rounds). Run:
//
//	go test -run '^$' -bench ForwardedRead -benchtime 20x ./internal/app/
func BenchmarkForwardedRead(b *testing.B) {
	a, other := replicaPair(b, "customer1:\n  produce: [bench-fwd]\n  fetch: [bench-fwd]\n  consume: [bench-*]\nadmin:\n  admin: true\n", nil)
	const records = 5000
	value := strings.Repeat("x", 100)
	for done := 0; done < records; done += 500 {
		var recs []string
		for range 500 {
			recs = append(recs, `{"value":"`+value+`"}`)
		}
		r := do(b, "POST", a.URL+"/topics/bench-fwd", `{"records":[`+strings.Join(recs, ",")+`]}`,
			"Content-Type", "application/vnd.kafka.json.v2+json", "Authorization", basic("customer1"))
		if r.status != 200 {
			b.Fatalf("produce: %d %s", r.status, r.body)
		}
	}
	r := do(b, "POST", a.URL+"/consumers/bench-fwd", `{"name":"i1","format":"json","auto.offset.reset":"earliest"}`,
		"Content-Type", mtV2, "Authorization", basic("customer1"))
	if r.status != 200 {
		b.Fatalf("create: %d %s", r.status, r.body)
	}
	path := "/consumers/bench-fwd/instances/i1"
	r = do(b, "POST", a.URL+path+"/assignments", `{"partitions":[{"topic":"bench-fwd","partition":0}]}`,
		"Content-Type", mtV2, "Authorization", basic("customer1"))
	if r.status != 204 {
		b.Fatalf("assign: %d %s", r.status, r.body)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	call := func(method, url, body string, headers ...string) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", basic("customer1"))
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp, got
	}
	// readAll seeks to the start through base and reads every record.
	readAll := func(base string, wantHolder string) time.Duration {
		start := time.Now()
		resp, body := call("POST", base+path+"/positions/beginning", `{"partitions":[{"topic":"bench-fwd","partition":0}]}`, "Content-Type", mtV2)
		if resp.StatusCode != 204 {
			b.Fatalf("seek: %d %s", resp.StatusCode, body)
		}
		for n := 0; n < records; {
			resp, body := call("GET", base+path+"/records?max_bytes=65536", "", "Accept", "application/vnd.kafka.json.v2+json")
			if resp.StatusCode != 200 {
				b.Fatalf("read: %d %s", resp.StatusCode, body)
			}
			if h := resp.Header.Get("Kgate-Instance-Node"); h != wantHolder {
				b.Fatalf("read answered for holder %q, want %q", h, wantHolder)
			}
			var recs []json.RawMessage
			if err := json.Unmarshal(body, &recs); err != nil {
				b.Fatal(err)
			}
			n += len(recs)
		}
		return time.Since(start)
	}
	holder := nodeIDs(b, a)
	resp, _ := call("GET", a.URL+"/healthz", "")
	owner := resp.Header.Get("Kgate-Node")
	if !slices.Contains(holder, owner) {
		b.Fatalf("gateway A is %q, not among %v", owner, holder)
	}
	// Warm up both paths (connections, the fetch session).
	readAll(a.URL, owner)
	readAll(other.URL, owner)
	b.ResetTimer()
	var ownerT, fwdT time.Duration
	var ratios []float64
	for i := range b.N {
		var o, f time.Duration
		if i%2 == 0 {
			o, f = readAll(a.URL, owner), readAll(other.URL, owner)
		} else {
			f, o = readAll(other.URL, owner), readAll(a.URL, owner)
		}
		ownerT, fwdT = ownerT+o, fwdT+f
		ratios = append(ratios, float64(o)/float64(f))
	}
	b.StopTimer()
	slices.Sort(ratios)
	n := float64(b.N) * records
	b.ReportMetric(n/ownerT.Seconds(), "owner_records/s")
	b.ReportMetric(n/fwdT.Seconds(), "forwarded_records/s")
	b.ReportMetric(100*ratios[len(ratios)/2], "forwarded_%")
	b.Log(fmt.Sprintf("owner %.0f records/s, forwarded %.0f records/s", n/ownerT.Seconds(), n/fwdT.Seconds()))
}
