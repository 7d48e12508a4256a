package ktable_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ktable"
	"github.com/kgate/kgate/internal/testutil"
)

func client(t *testing.T, addr string) *kafka.Client {
	t.Helper()
	kc, err := kafka.New(kafka.Options{Brokers: []string{addr}, Kafka: config.Default().Kafka, Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return kc
}

type state struct {
	mu      sync.Mutex
	m       map[string]string
	applied int
}

func (s *state) apply(k string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied++
	if v == nil {
		delete(s.m, k)
		return
	}
	s.m[k] = string(v)
}

func (s *state) get(k string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	return v, ok
}

func open(t *testing.T, kc *kafka.Client) (*ktable.Table, *state) {
	t.Helper()
	s := &state{m: map[string]string{}}
	tb, err := ktable.Open(t.Context(), kc, ktable.Options{Topic: "_state", Apply: s.apply, Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tb.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return tb, s
}

// TestTableFollowsAndCompacts: writes by one table reach another at once;
// the topic is compacted for real, so a replay sees each key once (or
// twice: the last batch is never compacted), and deleted keys stay
// deleted.
func TestTableFollowsAndCompacts(t *testing.T) {
	addr := testutil.StartBroker(t, broker.CompactionInterval(100*time.Millisecond))
	kc := client(t, addr)
	a, sa := open(t, kc)
	b, sb := open(t, client(t, addr))
	for i := range 50 {
		if err := a.Put(t.Context(), ktable.KV{Key: "k", Value: fmt.Appendf(nil, "v%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Put(t.Context(), ktable.KV{Key: "gone", Value: []byte("x")}, ktable.KV{Key: "gone"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := sa.get("k"); v != "v49" {
		t.Fatalf("writer reads %q", v)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := b.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := sb.get("k"); v != "v49" {
		t.Fatalf("follower reads %q", v)
	}
	// Wait for compaction: a fresh replay applies few records.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, sc := open(t, kc)
		sc.mu.Lock()
		n := sc.applied
		sc.mu.Unlock()
		if _, ok := sc.get("gone"); ok {
			t.Fatal("a deleted key came back")
		}
		if v, _ := sc.get("k"); v != "v49" {
			t.Fatalf("replay reads %q", v)
		}
		if n <= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the topic was not compacted: a replay applied %d records", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The topic was created explicitly as a compacted topic.
	dc, err := kc.Admin().DescribeTopicConfigs(t.Context(), "_state")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range dc[0].Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && *c.Value == "compact" {
			found = true
		}
	}
	if !found {
		t.Error("cleanup.policy is not compact")
	}
}
