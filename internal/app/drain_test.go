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

// TestDrainHandsOver: a replica told to stop drains while it is still a
// member (a node timeout far longer than the test): its /readyz answers
// 503 at once; a create that reaches it is forwarded to the other
// replica (its base_uri naming the address the client used); its
// instance with auto-commit, which delivered six records of
// ten, is handed over: the other replica creates it again at once and
// delivers from the seventh (what was delivered was committed, nothing
// more), whether the request reaches it or the draining replica; so
// does a manually assigned instance with auto-commit, from its fourth.
func TestDrainHandsOver(t *testing.T) {
	a, b := replicaPair(t, "customer1:\n  produce: [c1-events]\n  fetch: [c1-events]\n  consume: [customer1-*]\nadmin:\n  admin: true\n",
		func(c *config.Config) {
			c.Cluster.DrainDelay = config.Duration(3 * time.Second)
			c.Cluster.NodeTimeout = config.Duration(time.Minute)
		})
	var recs []string
	for i := range 10 {
		recs = append(recs, fmt.Sprintf(`{"value":%d}`, i))
	}
	if r := do(t, "POST", a.URL+"/topics/c1-events", `{"records":[`+strings.Join(recs, ",")+`]}`,
		"Content-Type", "application/vnd.kafka.json.v2+json", "Authorization", basic("customer1")); r.status != 200 {
		t.Fatalf("produce: %d %s", r.status, r.body)
	}
	ctl := func(g *testutil.Gateway, method, path, body string) response {
		t.Helper()
		return do(t, method, g.URL+path, body, "Content-Type", mtV2, "Authorization", basic("customer1"))
	}
	if r := ctl(b, "POST", "/consumers/customer1-d", `{"name":"i1","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"true"}`); r.status != 200 {
		t.Fatalf("create on B: %d %s", r.status, r.body)
	}
	base := "/consumers/customer1-d/instances/i1"
	if r := ctl(b, "POST", base+"/subscription", `{"topics":["c1-events"]}`); r.status != 204 {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	type rec struct {
		Offset int64 `json:"offset"`
		Value  int   `json:"value"`
	}
	// readFrom reads instance inst once through g (one record at most).
	readFrom := func(g *testutil.Gateway, inst string) ([]rec, response) {
		t.Helper()
		r := do(t, "GET", g.URL+inst+"/records?timeout=300&max_bytes=1", "", "Accept", "application/vnd.kafka.json.v2+json", "Authorization", basic("customer1"))
		var got []rec
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
		}
		return got, r
	}
	read := func(g *testutil.Gateway) ([]rec, response) { return readFrom(g, base) }
	// readOnB reads n records of inst through B.
	readOnB := func(inst string, n int) {
		t.Helper()
		delivered := 0
		for deadline := time.Now().Add(20 * time.Second); delivered < n; {
			if time.Now().After(deadline) {
				t.Fatalf("read %d records of %s", delivered, inst)
			}
			got, r := readFrom(b, inst)
			if r.status != 200 {
				t.Fatalf("read on B: %d %s", r.status, r.body)
			}
			delivered += len(got)
		}
	}
	readOnB(base, 6)
	// A manual assignment with auto-commit, three records delivered: no
	// group client commits for it, the handover does.
	if r := ctl(b, "POST", "/consumers/customer1-e", `{"name":"i3","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"true"}`); r.status != 200 {
		t.Fatalf("create i3 on B: %d %s", r.status, r.body)
	}
	assigned := "/consumers/customer1-e/instances/i3"
	if r := ctl(b, "POST", assigned+"/assignments", `{"partitions":[{"topic":"c1-events","partition":0}]}`); r.status != 204 {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	readOnB(assigned, 3)
	holderB := ctl(b, "GET", base+"/subscription", "").header.Get("Kgate-Instance-Node")

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b.Stop()
	}()
	start := time.Now()
	eventually(t, "B's /readyz answering 503", func() bool {
		return do(t, "GET", b.URL+"/readyz", "").status == 503
	})
	// Still a member (draining), so nothing waits for B to leave.
	if ids := nodeIDs(t, a); len(ids) != 2 {
		t.Fatalf("A lists %v while B drains, want both", ids)
	}
	// A create reaching B goes to A.
	r := ctl(b, "POST", "/consumers/customer1-d", `{"name":"i2"}`)
	if r.status != 200 || r.header.Get("Kgate-Instance-Node") == holderB || r.header.Get("Kgate-Node") != holderB {
		t.Errorf("a create reaching draining B: %d %s, held by %q, answered by %q", r.status, r.body,
			r.header.Get("Kgate-Instance-Node"), r.header.Get("Kgate-Node"))
	}
	// Its base_uri names the address the client used, not the replica
	// that holds it.
	if u, _ := r.json(t)["base_uri"].(string); u != b.URL+"/consumers/customer1-d/instances/i2" {
		t.Errorf("the forwarded create's base_uri is %q, want it under %s", u, b.URL)
	}
	// The instance, handed over, goes on from the seventh record,
	// through B (forwarded) or through A.
	var after []rec
	for i := 0; len(after) < 4; i++ {
		if time.Since(start) > 3*time.Second {
			t.Fatalf("within the drain delay, read %+v after the handover", after)
		}
		g := []*testutil.Gateway{b, a}[i%2]
		got, r := read(g)
		switch {
		case r.status == 503:
			continue // moving: retried
		case r.status != 200:
			t.Fatalf("read after the handover: %d %s", r.status, r.body)
		case len(got) > 0 && r.header.Get("Kgate-Instance-Node") == holderB:
			t.Fatalf("B delivered %+v after it drained", got)
		}
		after = append(after, got...)
	}
	for {
		if time.Since(start) > 3*time.Second {
			t.Fatal("within the drain delay, the assigned instance read nothing after the handover")
		}
		got, r := readFrom(a, assigned)
		if r.status == 503 || r.status == 200 && len(got) == 0 {
			continue
		}
		if r.status != 200 || got[0].Offset != 3 {
			t.Fatalf("the assigned instance after the handover: %d %s, want offset 3 first", r.status, r.body)
		}
		break
	}
	if m := do(t, "GET", b.URL+"/metrics", "", "Authorization", basic("admin")); !strings.Contains(string(m.body), "\nkgate_consumer_instances_handed_over_total 2\n") {
		t.Errorf("B's metrics do not count two instances handed over (%d)", m.status)
	}
	if after[0].Offset != 6 || after[3].Value != 9 {
		t.Errorf("after the handover read %+v, want offsets 6 to 9", after)
	}
	t.Logf("B (%s) drained; A took its instance over and delivered from offset %d %v after the stop began", holderB,
		after[0].Offset, time.Since(start).Round(time.Millisecond))
	<-stopped
}
