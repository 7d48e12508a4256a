package cluster_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/cluster"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/testutil"
)

func client(t *testing.T, broker string) *kafka.Client {
	t.Helper()
	kc, err := kafka.New(kafka.Options{Brokers: []string{broker}, Kafka: config.Default().Kafka})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return kc
}

func ids(ns []cluster.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

// waitNodes polls m until its live nodes are want, or fails after 10 s.
func waitNodes(t *testing.T, m *cluster.Membership, want ...string) []cluster.Node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := m.Nodes()
		if slices.Equal(ids(got), want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("live nodes %v, want %v", ids(got), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func start(t *testing.T, kc *kafka.Client, id string, load cluster.Load) (*cluster.Membership, context.CancelFunc, chan error) {
	t.Helper()
	m, err := cluster.Open(t.Context(), kc, cluster.Options{Topic: "_kgate_nodes", Interval: 100 * time.Millisecond, Timeout: time.Second,
		Self: cluster.Node{ID: id, URL: "http://" + id + ":8082", Version: "test", Started: time.Now().UTC()},
		Load: func() cluster.Load { return load }, Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return m, cancel, done
}

// TestMembership: two replicas on one broker see each other with what
// they announced; one that leaves cleanly is gone from the other's view
// at once; one that stops heartbeating without leaving (a crash) drops
// out after the node timeout; a replica that starts later sees the ones
// there before it.
func TestMembership(t *testing.T) {
	broker := testutil.StartBroker(t)
	kc := client(t, broker)
	a, stopA, doneA := start(t, kc, "node-a", cluster.Load{InFlightRequests: 3})
	defer stopA()
	b, stopB, doneB := start(t, client(t, broker), "node-b", cluster.Load{ConsumerInstances: 2})
	nodes := waitNodes(t, a, "node-a", "node-b")
	waitNodes(t, b, "node-a", "node-b")
	if n := nodes[1]; n.URL != "http://node-b:8082" || n.Version != "test" || n.Load.ConsumerInstances != 2 || n.Started.IsZero() {
		t.Errorf("node-b as node-a sees it: %+v", n)
	}

	// node-b leaves cleanly: node-a drops it well before the timeout.
	left := time.Now()
	stopB()
	if err := <-doneB; err != nil {
		t.Fatalf("node-b's Run: %v", err)
	}
	waitNodes(t, a, "node-a")
	if d := time.Since(left); d > 900*time.Millisecond {
		t.Errorf("node-b left, yet node-a listed it for %s (the timeout is 1s)", d)
	}

	// node-c's last heartbeat, then silence (a crash): it drops out after
	// the timeout.
	hb, _ := json.Marshal(cluster.Node{ID: "node-c", URL: "http://node-c:8082", Heartbeat: time.Now().UTC()})
	if err := kc.Kgo().ProduceSync(t.Context(), &kgo.Record{Topic: "_kgate_nodes", Key: []byte("node-c"), Value: hb}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitNodes(t, a, "node-a", "node-c")
	crashed := time.Now()
	waitNodes(t, a, "node-a")
	if d := time.Since(crashed); d > 3*time.Second {
		t.Errorf("a silent node was listed %s after its heartbeat (timeout 1s)", d)
	}

	// A replica starting now sees node-a, not the departed ones.
	d, stopD, doneD := start(t, client(t, broker), "node-d", cluster.Load{})
	waitNodes(t, d, "node-a", "node-d")
	stopD()
	<-doneD
	stopA()
	<-doneA
}

// TestMembershipAlone: without Kafka (open development mode) a node
// knows itself only, live for as long as it runs.
func TestMembershipAlone(t *testing.T) {
	m, err := cluster.Open(t.Context(), nil, cluster.Options{Topic: "_kgate_nodes", Interval: time.Second, Timeout: 5 * time.Second,
		Self: cluster.Node{ID: "solo", URL: "http://127.0.0.1:8082"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Nodes(); len(got) != 1 || got[0].ID != "solo" || time.Since(got[0].Heartbeat) > time.Second {
		t.Fatalf("Nodes() = %+v, want solo, heartbeating now", got)
	}
}

// TestMembershipDrainAndReload: a node that drains stays a member but is
// no longer anyone's Peer; a reload one node announces is heard once by
// each other node (not by itself), and a node that starts later hears
// none of the announcements made before it.
func TestMembershipDrainAndReload(t *testing.T) {
	broker := testutil.StartBroker(t)
	heard := make(chan string, 10)
	open := func(id string, reload func(string)) (*cluster.Membership, context.CancelFunc, chan error) {
		t.Helper()
		m, err := cluster.Open(t.Context(), client(t, broker), cluster.Options{Topic: "_kgate_nodes", Interval: 100 * time.Millisecond, Timeout: 5 * time.Second,
			Self:   cluster.Node{ID: id, URL: "http://" + id + ":8082", Version: "test", Started: time.Now().UTC()},
			Reload: reload, Logger: testutil.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return m, cancel, done
	}
	a, _, _ := open("node-a", func(from string) { heard <- "a heard " + from })
	b, _, _ := open("node-b", func(from string) { heard <- "b heard " + from })
	waitNodes(t, a, "node-a", "node-b")
	waitNodes(t, b, "node-a", "node-b")
	if id, _, ok := a.Peer(); !ok || id != "node-b" {
		t.Fatalf("a's peer: %q %v, want node-b", id, ok)
	}

	announced := time.Now()
	if err := a.AnnounceReload(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-heard:
		if got != "b heard node-a" {
			t.Fatalf("heard %q, want b heard node-a", got)
		}
		t.Logf("node-b heard node-a's reload %v after it was announced", time.Since(announced).Round(time.Millisecond))
	case <-time.After(time.Second):
		t.Fatal("node-b did not hear the reload within a second")
	}
	// Heartbeats repeat the count: no second reload.
	c, _, _ := open("node-c", func(from string) { heard <- "c heard " + from })
	waitNodes(t, c, "node-a", "node-b", "node-c")
	// Nothing more is heard while every node heartbeats twice more.
	since := time.Now().Add(100 * time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fresh := 0
		for _, n := range c.Nodes() {
			if n.Heartbeat.After(since) {
				fresh++
			}
		}
		if fresh == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the nodes stopped heartbeating")
		}
	}
	select {
	case got := <-heard:
		t.Fatalf("heard %q after one announcement was heard", got)
	default:
	}

	if err := b.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor := time.Now().Add(5 * time.Second)
	for {
		ns := a.Nodes()
		if len(ns) == 3 && ns[1].ID == "node-b" && ns[1].Draining {
			break
		}
		if time.Now().After(waitFor) {
			t.Fatalf("node-a sees %+v, want node-b draining and still listed", ns)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 20 {
		if id, _, ok := a.Peer(); !ok || id != "node-c" {
			t.Fatalf("a's peer with node-b draining: %q %v, want node-c", id, ok)
		}
	}
}
