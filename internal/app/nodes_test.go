package app_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/testutil"
)

type nodesAnswer struct {
	Nodes []struct {
		ID      string `json:"node_id"`
		URL     string `json:"url"`
		Version string `json:"version"`
	} `json:"nodes"`
}

func nodeIDs(t testing.TB, g *testutil.Gateway) []string {
	ids, _ := nodeList(t, g)
	return ids
}

// nodeList returns the ids and URLs g lists at /admin/nodes.
func nodeList(t testing.TB, g *testutil.Gateway) (ids, urls []string) {
	t.Helper()
	r := do(t, "GET", g.URL+"/admin/nodes", "", "Authorization", basic("admin"))
	if r.status != 200 {
		t.Fatalf("GET /admin/nodes: %d %s", r.status, r.body)
	}
	var a nodesAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatal(err)
	}
	for _, n := range a.Nodes {
		if n.Version == "" {
			t.Errorf("node %s announced no version: %s", n.ID, r.body)
		}
		ids, urls = append(ids, n.ID), append(urls, n.URL)
	}
	return ids, urls
}

// TestAdminNodes: two gateways on one Kafka cluster each list both at
// /admin/nodes (admin only); when one stops, the other lists itself
// alone within a second.
func TestAdminNodes(t *testing.T) {
	a, b, _ := twoGateways(t)
	var want []string
	deadline := time.Now().Add(10 * time.Second)
	for len(want) != 2 && time.Now().Before(deadline) {
		want = nodeIDs(t, a)
		time.Sleep(50 * time.Millisecond)
	}
	if len(want) != 2 || want[0] == want[1] {
		t.Fatalf("gateway A lists %v, want two distinct nodes", want)
	}
	got, urls := nodeList(t, b)
	if !slices.Equal(got, want) {
		t.Errorf("gateway B lists %v, A lists %v", got, want)
	}
	// Each announces the address its listener bound (listen is port 0).
	slices.Sort(urls)
	wantURLs := []string{a.URL, b.URL}
	slices.Sort(wantURLs)
	if !slices.Equal(urls, wantURLs) {
		t.Errorf("the nodes' URLs are %v, want %v", urls, wantURLs)
	}
	if r := do(t, "GET", a.URL+"/admin/nodes", "", "Authorization", basic("customer1")); r.status != 403 {
		t.Errorf("customer1 asking for the nodes: %d, want 403", r.status)
	}
	b.Stop()
	stopped := time.Now()
	for len(nodeIDs(t, a)) != 1 {
		if time.Since(stopped) > time.Second {
			t.Fatalf("a second after gateway B stopped, A still lists %v", nodeIDs(t, a))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
