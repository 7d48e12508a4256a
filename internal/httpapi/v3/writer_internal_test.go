package v3

import "testing"

// TestWriterWaitsForAnswers: a stream whose body has been read (closed)
// while records are still in flight gives its writer nothing to do
// until the record at its head is answered; only with every slot
// written does closed let it go. (The writer once went on closed alone
// and spun until the last answer.)
func TestWriterWaitsForAnswers(t *testing.T) {
	s := &stream{}
	r := &ring{slots: make([]*slot, firstRing)}
	s.ring.Store(r)
	for i := range 3 {
		r.slots[i] = &slot{}
	}
	s.tail.Store(3)
	if s.writerMayGo(0) {
		t.Fatal("the writer may go with nothing answered, the body still arriving")
	}
	s.closed.Store(true)
	if s.writerMayGo(0) {
		t.Fatal("the writer may go with three records in flight once the body is read")
	}
	r.slots[1].done.Store(true)
	if s.writerMayGo(0) {
		t.Fatal("the writer may go with its head unanswered (a later record answered)")
	}
	r.slots[0].done.Store(true)
	if !s.writerMayGo(0) {
		t.Fatal("the writer waits with its head answered")
	}
	if !s.writerMayGo(3) {
		t.Fatal("the writer waits with every slot written and the body read")
	}
}

// TestRingGrows: a stream's ring of slots stays at its first size while
// its records are answered as they come (a device's stream), doubles
// when the records in flight fill it, keeps every record in flight at
// its place when it does, and never passes streamWindow.
func TestRingGrows(t *testing.T) {
	s := &stream{space: make(chan struct{}, 1)}
	s.ring.Store(&ring{slots: make([]*slot, firstRing)})
	// One record in flight at a time, three windows' worth.
	for range 3 * streamWindow {
		s.reserve()
		s.publish()
		s.head.Add(1) // the writer wrote its receipt
	}
	if n := len(s.ring.Load().slots); n != firstRing {
		t.Fatalf("one record at a time: %d slots, want %d", n, firstRing)
	}
	// A whole window in flight: the ring grows to it, and each record's
	// slot is where the writer will look for it, whatever ring it loads.
	var inFlight []*slot
	var rings []*ring
	for range streamWindow {
		rings = append(rings, s.ring.Load())
		inFlight = append(inFlight, s.reserve())
		s.publish()
	}
	if n := len(s.ring.Load().slots); n != streamWindow {
		t.Fatalf("a window in flight: %d slots, want %d", n, streamWindow)
	}
	h := s.head.Load()
	for i, sl := range inFlight {
		at := h + uint64(i)
		if s.ring.Load().at(at) != sl {
			t.Fatalf("record %d of the window is not at its place in the grown ring", i)
		}
		// A writer that loaded an older ring after this record was
		// published finds it there too.
		for _, r := range rings[i+1:] {
			if r.at(at) != sl {
				t.Fatalf("record %d of the window is not at its place in a ring loaded after it", i)
			}
		}
	}
	// Answered and written, the window's slots are reused, not added to.
	s.head.Add(streamWindow)
	for range 2 * streamWindow {
		s.reserve()
		s.publish()
		s.head.Add(1)
	}
	if n := len(s.ring.Load().slots); n != streamWindow {
		t.Fatalf("after the window: %d slots, want %d", n, streamWindow)
	}
}
