package instances

import (
	"context"
	"testing"
)

// TestLookupFresh: a definition written through one replica's directory
// is not in another's until that one reads it; LookupFresh reads the
// topic to its end first and finds it (what a request that reaches
// another replica right after a create relies on), and a name nobody
// wrote stays missing.
func TestLookupFresh(t *testing.T) {
	_, kc := startKafka(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{}, 2)
	defer func() { cancel(); <-done; <-done }()
	open := func() *Directory {
		d, err := OpenDirectory(t.Context(), kc, "_kgate_consumers", nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := open(), open()
	go func() { a.Run(ctx); done <- struct{}{} }()
	def := Definition{Group: "g", Name: "i1", Owner: "alice", Node: "node-a"}
	if err := a.put(t.Context(), def); err != nil {
		t.Fatal(err)
	}
	// b has not read the topic since it opened: the definition is not
	// there yet.
	if _, ok := b.Lookup("g", "i1"); ok {
		t.Fatal("b holds a definition it has not read")
	}
	go func() { b.Run(ctx); done <- struct{}{} }()
	got, ok := b.LookupFresh(t.Context(), "g", "i1")
	if !ok || got.Owner != "alice" || got.Node != "node-a" {
		t.Fatalf("LookupFresh right after the write: %+v, %v", got, ok)
	}
	if _, ok := b.LookupFresh(t.Context(), "g", "nobody"); ok {
		t.Fatal("a name nobody wrote was found")
	}
}
