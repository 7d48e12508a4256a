package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// events records what the components of a test group do, in order.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.got = append(e.got, s)
	e.mu.Unlock()
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

// testGroup returns a group of components a, b and c; b's run returns
// failB at once when it is not nil.
func testGroup(ev *events, failB error) *group {
	g := &group{logger: slog.New(slog.DiscardHandler)}
	for _, name := range []string{"a", "b", "c"} {
		g.add(name, func(ctx context.Context) error {
			if name == "b" && failB != nil {
				return failB
			}
			<-ctx.Done()
			ev.add(name + " returned")
			return ctx.Err() // context.Canceled counts as no error
		}, func() { ev.add(name + " stopped") })
	}
	return g
}

// TestGroupStopsInReverse: each component's run has returned and its stop
// has been called before the component added before it is stopped.
func TestGroupStopsInReverse(t *testing.T) {
	ev := &events{}
	g := testGroup(ev, nil)
	ctx, cancel := context.WithCancel(t.Context())
	err := g.run(ctx, func() { ev.add("started"); cancel() })
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := []string{"started", "c returned", "c stopped", "b returned", "b stopped", "a returned", "a stopped"}
	if diff := cmp.Diff(want, ev.list()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestGroupComponentFails: a component that returns stops the group,
// in the same order, and its error is the group's.
func TestGroupComponentFails(t *testing.T) {
	ev := &events{}
	boom := errors.New("boom")
	err := testGroup(ev, boom).run(t.Context(), nil)
	if !errors.Is(err, boom) {
		t.Fatalf("run: %v, want %v", err, boom)
	}
	want := []string{"c returned", "c stopped", "b stopped", "a returned", "a stopped"}
	if diff := cmp.Diff(want, ev.list()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestGroupAbort: after a failed start every component added is run with
// a done context and stopped, in reverse.
func TestGroupAbort(t *testing.T) {
	ev := &events{}
	testGroup(ev, nil).abort()
	want := []string{"c returned", "c stopped", "b returned", "b stopped", "a returned", "a stopped"}
	if diff := cmp.Diff(want, ev.list()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
