package logging

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is an output that counts its writes and can be held.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	hold   chan struct{} // if set, each write waits for a receive
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.hold != nil {
		<-r.hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	return r.buf.Write(p)
}

func (r *recorder) snapshot() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String(), r.writes
}

func line(i int) []byte { return []byte(fmt.Sprintf("line %05d\n", i)) }

func wantLines(t *testing.T, got string, n int) {
	t.Helper()
	var want strings.Builder
	for i := range n {
		want.Write(line(i))
	}
	if got != want.String() {
		t.Fatalf("output is not the %d lines in order:\n%.300s", n, got)
	}
}

// TestWriterBatches: a burst of lines is written in a few writes, in
// order, within an interval or two, and nothing is lost.
func TestWriterBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &recorder{}
		w := NewWriter(out, 10*time.Millisecond, 0, nil)
		w.Start()
		defer w.Close()
		for i := range 1000 {
			if _, err := w.Write(line(i)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(25 * time.Millisecond)
		synctest.Wait()
		got, writes := out.snapshot()
		wantLines(t, got, 1000)
		if writes > 2 {
			t.Errorf("1000 lines took %d writes, want at most 2", writes)
		}
		// A line on its own, after a quiet time, goes out at once.
		time.Sleep(time.Second)
		_, _ = w.Write(line(1000))
		synctest.Wait()
		if got, _ := out.snapshot(); !strings.HasSuffix(got, string(line(1000))) {
			t.Errorf("a line after a quiet time was not written at once")
		}
		if w.Dropped() != 0 {
			t.Errorf("dropped %d lines", w.Dropped())
		}
	})
}

// TestWriterDropsWhenFull: when the output stalls, lines beyond the
// buffer are dropped whole, counted, and reported by one notice line once
// the output moves again; the lines kept stay in order.
func TestWriterDropsWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &recorder{hold: make(chan struct{})}
		w := NewWriter(out, time.Millisecond, 10*len(line(0)), func(n uint64) []byte {
			return []byte(fmt.Sprintf("dropped %d\n", n))
		})
		w.Start()
		_, _ = w.Write(line(0))
		synctest.Wait() // the writer holds line 0 in a stalled write
		for i := 1; i <= 30; i++ {
			_, _ = w.Write(line(i))
		}
		if got := w.Dropped(); got != 20 {
			t.Errorf("Dropped() = %d, want 20 (10 lines fit)", got)
		}
		close(out.hold)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, _ := out.snapshot()
		var want strings.Builder
		for i := 0; i <= 10; i++ {
			want.Write(line(i))
		}
		want.WriteString("dropped 20\n")
		if got != want.String() {
			t.Errorf("output:\n%s\nwant:\n%s", got, want.String())
		}
	})
}

// TestWriterClose: Close writes what is buffered at once; later writes go
// straight to the output; Close twice is harmless.
func TestWriterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &recorder{}
		w := NewWriter(out, time.Hour, 0, nil)
		w.Start()
		_, _ = w.Write(line(0))
		synctest.Wait()
		_, _ = w.Write(line(1)) // waits for the hour-long interval
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(line(2))
		_ = w.Close()
		got, _ := out.snapshot()
		wantLines(t, got, 3)
	})
}

// TestWriterConcurrent: many goroutines' lines all arrive whole (run
// with -race).
func TestWriterConcurrent(t *testing.T) {
	out := &recorder{}
	w := NewWriter(out, time.Millisecond, 0, nil)
	w.Start()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				_, _ = w.Write([]byte(fmt.Sprintf("g%d %05d\n", g, i)))
			}
		})
	}
	wg.Wait()
	_ = w.Close()
	got, _ := out.snapshot()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	next := map[string]int{}
	for _, l := range lines {
		var g string
		var i int
		if _, err := fmt.Sscanf(l, "%s %d", &g, &i); err != nil || next[g] != i {
			t.Fatalf("line %q out of order or torn (want %s %05d)", l, g, next[g])
		}
		next[g]++
	}
}
