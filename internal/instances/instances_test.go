package instances_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/instances"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
	"github.com/kgate/kgate/internal/testutil"
)

// Every goroutine the registry and its instances start is gone when the
// test that made them ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// registry runs a registry on a fresh embedded broker until the test ends.
func registry(t *testing.T, mutate func(*instances.Options)) (*instances.Registry, *kafka.Client) {
	t.Helper()
	cfg := config.Default()
	kc, err := kafka.New(kafka.Options{Brokers: []string{testutil.StartBroker(t)}, Kafka: cfg.Kafka, AutoCreate: true, Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	o := instances.Options{Kafka: kc, Config: cfg.Consumers, Logger: testutil.Logger(), PatternInterval: 200 * time.Millisecond}
	if mutate != nil {
		mutate(&o)
	}
	reg := instances.New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		reg.Close()
		kc.Close()
	})
	return reg, kc
}

func produce(t *testing.T, kc *kafka.Client, topic, value string) {
	t.Helper()
	if _, err := kc.EnsureTopic(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	if err := kc.Kgo().ProduceSync(t.Context(), &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

var settings = instances.Settings{Format: record.BinaryFormat, Reset: "earliest", RequestTimeout: time.Second}

// read reads until want records arrived (10s at most) and returns their
// topics.
func read(t *testing.T, in *instances.Instance, want int) []string {
	t.Helper()
	var topics []string
	for deadline := time.Now().Add(10 * time.Second); len(topics) < want && time.Now().Before(deadline); {
		b, err := in.Read(t.Context(), instances.ReadRequest{Deadline: time.Now().Add(300 * time.Millisecond), MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		var recs []struct{ Topic string }
		if err := json.Unmarshal(b.Body, &recs); err != nil {
			t.Fatalf("%s: %v", b.Body, err)
		}
		for _, r := range recs {
			topics = append(topics, r.Topic)
		}
	}
	return topics
}

// TestPatternResolvedHere: a pattern matches whole names, never internal
// topics without an admin, matches nothing at first without failing,
// and picks up a topic made later.
func TestPatternResolvedHere(t *testing.T) {
	reg, kc := registry(t, nil)
	produce(t, kc, "_internal", "x")
	produce(t, kc, "logs-a", "a")
	produce(t, kc, "xlogs-b", "b")
	in, err := reg.Create(t.Context(), "g", instances.Owner{}, settings)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Subscribe(t.Context(), nil, "(_.*|logs-.*)"); err != nil {
		t.Fatal(err)
	}
	if got := in.Subscription(); !slices.Equal(got, []string{"logs-a"}) {
		t.Fatalf("subscription %v, want [logs-a]", got)
	}
	if got := read(t, in, 1); !slices.Equal(got, []string{"logs-a"}) {
		t.Fatalf("read %v", got)
	}
	produce(t, kc, "logs-c", "c")
	if got := read(t, in, 1); !slices.Equal(got, []string{"logs-c"}) {
		t.Fatalf("after logs-c appeared: read %v", got)
	}

	empty, err := reg.Create(t.Context(), "g2", instances.Owner{}, settings)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.Subscribe(t.Context(), nil, "nothing-.*"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, err := empty.Read(t.Context(), instances.ReadRequest{Deadline: time.Now().Add(300 * time.Millisecond), MaxBytes: 1})
	if err != nil || string(b.Body) != "[]" || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("a pattern matching nothing: %s %v after %v, want [] after the wait", b.Body, err, time.Since(start))
	}
	var pe *instances.PatternError
	if err := empty.Subscribe(t.Context(), nil, "(("); !errors.As(err, &pe) {
		t.Fatalf("bad pattern: %v", err)
	}
}

// TestCapsPerPrincipal: a principal's instances are bounded on their
// own, below the node's bound.
func TestCapsPerPrincipal(t *testing.T) {
	reg, _ := registry(t, func(o *instances.Options) {
		o.Config.MaxInstances, o.Config.MaxInstancesPerPrincipal = 3, 2
	})
	var ex *ratelimit.Exceeded
	for i, want := range []bool{true, true, false} {
		_, err := reg.Create(t.Context(), "g", instances.Owner{}, instances.Settings{Format: record.BinaryFormat})
		if ok := err == nil; ok != want || !ok && !errors.As(err, &ex) {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	if ex.RetryAfter <= 0 {
		t.Errorf("refusal without a retry time: %+v", ex)
	}
	if _, err := reg.Acquire(t.Context(), "g", "nope", instances.Owner{}); !errors.Is(err, instances.ErrNotFound) {
		t.Errorf("unknown instance: %v", err)
	}
}

// TestDrainAlone: without a directory (instances cannot move), a
// draining registry refuses creates with ErrDraining, so that the client
// retries through the load balancer, and keeps serving the instances it
// holds until Close.
func TestDrainAlone(t *testing.T) {
	reg, _ := registry(t, nil)
	owner := instances.Owner{}
	in, err := reg.Create(t.Context(), "g", owner, instances.Settings{Name: "kept", Format: record.BinaryFormat, Reset: "earliest"})
	if err != nil {
		t.Fatal(err)
	}
	reg.Drain(t.Context())
	if !reg.Draining() {
		t.Error("Draining() is false after Drain")
	}
	if _, err := reg.Create(t.Context(), "g", owner, instances.Settings{Name: "new", Format: record.BinaryFormat}); !errors.Is(err, instances.ErrDraining) {
		t.Errorf("create while draining: %v, want ErrDraining", err)
	}
	got, err := reg.Acquire(t.Context(), "g", "kept", owner)
	if err != nil || got != in {
		t.Fatalf("acquiring the instance held while draining: %v", err)
	}
	got.Release()
	if got.HandedOver() {
		t.Error("an instance that cannot move counts as handed over")
	}
}
