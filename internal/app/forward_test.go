package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestForwardedConsumerInstance: with a node secret, an instance created
// on gateway B is served through gateway A (forwarded to B, which holds
// it), only for its owner; its name is taken on both; when B stops, A
// creates it again from its definition and consumes from the committed
// offsets; a delete through A removes it everywhere.
func TestForwardedConsumerInstance(t *testing.T) {
	a, b := replicaPair(t, "customer1:\n  produce: [c1-events]\n  fetch: [c1-events]\n  consume: [customer1-*]\n"+
		"customer2:\n  fetch: [c1-events]\n  consume: [customer1-*, customer2-*]\nadmin:\n  admin: true\n", nil)
	produce := func(g *testutil.Gateway, from, to int) {
		t.Helper()
		var recs []string
		for i := from; i < to; i++ {
			recs = append(recs, fmt.Sprintf(`{"value":%d}`, i))
		}
		r := do(t, "POST", g.URL+"/topics/c1-events", `{"records":[`+strings.Join(recs, ",")+`]}`,
			"Content-Type", "application/vnd.kafka.json.v2+json", "Authorization", basic("customer1"))
		if r.status != 200 {
			t.Fatalf("produce: %d %s", r.status, r.body)
		}
	}
	produce(a, 0, 10)
	ctl := func(g *testutil.Gateway, user, method, path, body string) response {
		t.Helper()
		return do(t, method, g.URL+path, body, "Content-Type", mtV2, "Authorization", basic(user))
	}
	r := ctl(b, "customer1", "POST", "/consumers/customer1-g", `{"name":"i1","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false"}`)
	if r.status != 200 {
		t.Fatalf("create on B: %d %s", r.status, r.body)
	}
	holderB := r.header.Get("Kgate-Instance-Node")
	if holderB == "" || holderB != r.header.Get("Kgate-Node") {
		t.Fatalf("create answered by %q, holder %q", r.header.Get("Kgate-Node"), holderB)
	}
	if r := ctl(a, "customer1", "POST", "/consumers/customer1-g", `{"name":"i1"}`); r.status != 409 || r.errorCode() != 40902 {
		t.Errorf("the same name on A: %d %s, want 409 40902", r.status, r.body)
	}
	base := "/consumers/customer1-g/instances/i1"
	r = ctl(a, "customer1", "POST", base+"/assignments", `{"partitions":[{"topic":"c1-events","partition":0}]}`)
	if r.status != 204 || r.header.Get("Kgate-Instance-Node") != holderB || r.header.Get("Kgate-Node") == holderB {
		t.Fatalf("assign through A: %d %s (answered by %q for holder %q)", r.status, r.body, r.header.Get("Kgate-Node"), r.header.Get("Kgate-Instance-Node"))
	}
	// Another principal does not see it through either gateway.
	for _, g := range []*testutil.Gateway{a, b} {
		if r := ctl(g, "customer2", "GET", base+"/assignments", ""); r.status != 404 || r.errorCode() != 40403 {
			t.Errorf("customer2 asking for customer1's instance: %d %s, want 404 40403", r.status, r.body)
		}
	}
	type rec struct {
		Offset int64 `json:"offset"`
		Value  int   `json:"value"`
	}
	read := func(g *testutil.Gateway) ([]rec, string) {
		t.Helper()
		r := do(t, "GET", g.URL+base+"/records?timeout=300", "", "Accept", "application/vnd.kafka.json.v2+json", "Authorization", basic("customer1"))
		if r.status != 200 {
			t.Fatalf("read: %d %s", r.status, r.body)
		}
		var recs []rec
		if err := json.Unmarshal(r.body, &recs); err != nil {
			t.Fatal(err)
		}
		return recs, r.header.Get("Kgate-Instance-Node")
	}
	readN := func(g *testutil.Gateway, n int) ([]rec, string) {
		t.Helper()
		var all []rec
		var holder string
		deadline := time.Now().Add(20 * time.Second)
		for len(all) < n {
			if time.Now().After(deadline) {
				t.Fatalf("read %d of %d records", len(all), n)
			}
			recs, h := read(g)
			all, holder = append(all, recs...), h
		}
		return all, holder
	}
	got, holder := readN(a, 10)
	if holder != holderB || got[0].Value != 0 {
		t.Fatalf("read through A: first %+v from holder %q", got[0], holder)
	}
	// Commit the first six through A; the rest were delivered, not committed.
	if r := ctl(a, "customer1", "POST", base+"/offsets", `{"offsets":[{"topic":"c1-events","partition":0,"offset":5}]}`); r.status != 200 {
		t.Fatalf("commit through A: %d %s", r.status, r.body)
	}

	b.Stop()
	produce(a, 10, 12)
	var after []rec
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("after B stopped, A reads %+v", after)
		}
		r := do(t, "GET", a.URL+base+"/records?timeout=300", "", "Accept", "application/vnd.kafka.json.v2+json", "Authorization", basic("customer1"))
		if r.status == 503 {
			time.Sleep(20 * time.Millisecond) // forwarded to B until membership drops it
			continue
		}
		if r.status != 200 {
			t.Fatalf("read after B stopped: %d %s", r.status, r.body)
		}
		var recs []rec
		if err := json.Unmarshal(r.body, &recs); err != nil {
			t.Fatal(err)
		}
		if h := r.header.Get("Kgate-Instance-Node"); h != r.header.Get("Kgate-Node") {
			t.Fatalf("after B stopped the holder is %q, answered by %q", h, r.header.Get("Kgate-Node"))
		}
		after = append(after, recs...)
		if len(after) >= 6 {
			break
		}
	}
	if after[0].Offset != 6 || after[len(after)-1].Value != 11 {
		t.Errorf("after B stopped A delivered %+v, want offsets 6 to 11 (from the committed offset)", after)
	}
	if r := ctl(a, "customer1", "DELETE", base, ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := ctl(a, "customer1", "GET", base+"/assignments", ""); r.status != 404 {
		t.Errorf("after delete: %d %s", r.status, r.body)
	}
}

// TestForwardedInstanceExpires: an instance that expires on the replica
// holding it is gone on every replica: the other one answers 404 and
// does not create it again.
func TestForwardedInstanceExpires(t *testing.T) {
	a, b := replicaPair(t, "customer1:\n  fetch: [c1-events]\n  consume: [customer1-*]\nadmin:\n  admin: true\n",
		func(c *config.Config) { c.Consumers.InstanceTimeout = config.Duration(time.Second) })
	r := do(t, "POST", b.URL+"/consumers/customer1-x", `{"name":"e1"}`, "Content-Type", mtV2, "Authorization", basic("customer1"))
	if r.status != 200 {
		t.Fatalf("create on B: %d %s", r.status, r.body)
	}
	path := "/consumers/customer1-x/instances/e1/subscription"
	if r := do(t, "GET", a.URL+path, "", "Authorization", basic("customer1")); r.status != 200 || r.header.Get("Kgate-Instance-Node") == r.header.Get("Kgate-Node") {
		t.Fatalf("through A: %d %s, holder %q", r.status, r.body, r.header.Get("Kgate-Instance-Node"))
	}
	// B expires it (nobody uses it); only B's metrics are asked meanwhile.
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := do(t, "GET", b.URL+"/metrics", "", "Authorization", basic("admin"))
		if strings.Contains(string(m.body), "\nkgate_consumer_instances 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B did not expire the instance")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, g := range []*testutil.Gateway{a, b, a} {
		if r := do(t, "GET", g.URL+path, "", "Authorization", basic("customer1")); r.status != 404 || r.errorCode() != 40403 {
			t.Errorf("after expiry: %d %s, want 404 40403", r.status, r.body)
		}
	}
}
