package cluster

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// TestShares: the shares of a key add up to 1 over the live replicas and
// follow demand, with the floor for a replica that saw none; keys nobody
// reported, and a node alone, get 1/N and 1.
func TestShares(t *testing.T) {
	now := time.Now()
	m := &Membership{o: Options{Timeout: 5 * time.Second, Now: func() time.Time { return now }}, nodes: map[string]Node{}}
	m.table = nil
	put := func(id string, demand map[string]float64, age time.Duration) {
		b, _ := json.Marshal(Node{ID: id, Heartbeat: now.Add(-age), Demand: demand})
		m.apply(id, b)
	}
	put("a", map[string]float64{"t1": 30, "t2": 5}, 0)
	put("b", map[string]float64{"t1": 10}, 0)
	put("c", nil, 0)
	put("dead", map[string]float64{"t1": 1000}, time.Minute) // past the timeout: not counted
	shares := map[string]*Shares{}
	for _, id := range []string{"a", "b", "c"} {
		shares[id] = NewShares(m, id)
		shares[id].Compute()
	}
	for _, key := range []string{"t1", "t2", "unknown"} {
		sum := 0.0
		for _, s := range shares {
			sum += s.Share(key)
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("%s: shares add up to %v", key, sum)
		}
	}
	want := map[string]float64{"a": Floor/3 + (1-Floor)*30/40, "b": Floor/3 + (1-Floor)*10/40, "c": Floor / 3}
	for id, w := range want {
		if got := shares[id].Share("t1"); math.Abs(got-w) > 1e-9 {
			t.Errorf("node %s: share of t1 %v, want %v", id, got, w)
		}
	}
	if got := shares["c"].Share("unknown"); math.Abs(got-1.0/3) > 1e-9 {
		t.Errorf("a key nobody reported: %v, want 1/3", got)
	}
	// A node not yet read back counts itself.
	s := NewShares(m, "new")
	s.Compute()
	if s.Replicas() != 4 || math.Abs(s.Share("unknown")-0.25) > 1e-9 || s.Share("t1") != Floor/4 {
		t.Errorf("a node not read back: %d replicas, shares %v %v", s.Replicas(), s.Share("unknown"), s.Share("t1"))
	}
	// Alone: everything.
	alone := &Membership{o: Options{Timeout: time.Second, Now: time.Now}, nodes: map[string]Node{}}
	b, _ := json.Marshal(Node{ID: "x", Heartbeat: time.Now(), Demand: map[string]float64{"t1": 5}})
	alone.apply("x", b)
	sx := NewShares(alone, "x")
	sx.Compute()
	if sx.Share("t1") != 1 || sx.Share("other") != 1 {
		t.Errorf("a node alone: %v %v, want all", sx.Share("t1"), sx.Share("other"))
	}
}
