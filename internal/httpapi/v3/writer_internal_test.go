package v3

import "testing"

// TestWriterWaitsForAnswers: a stream whose body has been read (closed)
// while records are still in flight gives its writer nothing to do
// until the record at its head is answered; only with every slot
// written does closed let it go. (The writer once went on closed alone
// and spun until the last answer.)
func TestWriterWaitsForAnswers(t *testing.T) {
	s := &stream{slots: make([]*slot, streamWindow)}
	for i := range 3 {
		s.slots[i] = &slot{}
	}
	s.tail.Store(3)
	if s.writerMayGo(0) {
		t.Fatal("the writer may go with nothing answered, the body still arriving")
	}
	s.closed.Store(true)
	if s.writerMayGo(0) {
		t.Fatal("the writer may go with three records in flight once the body is read")
	}
	s.slots[1].done.Store(true)
	if s.writerMayGo(0) {
		t.Fatal("the writer may go with its head unanswered (a later record answered)")
	}
	s.slots[0].done.Store(true)
	if !s.writerMayGo(0) {
		t.Fatal("the writer waits with its head answered")
	}
	if !s.writerMayGo(3) {
		t.Fatal("the writer waits with every slot written and the body read")
	}
}
