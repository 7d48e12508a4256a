// Package logging holds the process log's output: an asynchronous,
// bounded writer that turns one write system call per log line (an access
// log line per request is most of them) into one per batch.
package logging

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of NewWriter's options.
const (
	// DefaultInterval is the shortest time between two writes to the
	// output: a line waits at most this long (plus one write) to appear.
	DefaultInterval = 10 * time.Millisecond
	// DefaultMaxBuffered bounds the bytes waiting to be written; lines
	// that do not fit are dropped and counted.
	DefaultMaxBuffered = 4 << 20
)

// Writer buffers whole writes (slog handlers write one line per call) and
// writes them to its output in batches from one goroutine: at most one
// write every interval, so the cost of a log line is a copy, not a
// system call. When the output cannot keep up and maxBuffered bytes are
// waiting, further lines are dropped, counted (Dropped) and reported by
// a line of the notice function once there is room. Lines keep their
// order. Writes after Close go straight to the output.
//
// Start runs the writing goroutine and Close stops it after writing
// everything buffered. Writer is safe for concurrent use.
type Writer struct {
	out      io.Writer
	interval time.Duration
	max      int
	notice   func(dropped uint64) []byte

	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	stopped  chan struct{}
	dropped  atomic.Uint64

	// mu guards the fields below it.
	mu      sync.Mutex
	buf     []byte
	spare   []byte
	unnoted uint64 // dropped since the last notice
	closed  bool
	started bool
}

// NewWriter returns a Writer to out that writes at most once every
// interval (0: DefaultInterval) and holds at most maxBuffered bytes (0:
// DefaultMaxBuffered). notice, if set, returns the line that reports n
// dropped lines (in the log's own format).
func NewWriter(out io.Writer, interval time.Duration, maxBuffered int, notice func(n uint64) []byte) *Writer {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if maxBuffered <= 0 {
		maxBuffered = DefaultMaxBuffered
	}
	return &Writer{out: out, interval: interval, max: maxBuffered, notice: notice,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
}

// Write buffers p, or drops it when the buffer is full. It never blocks
// on the output (before Start and after Close it writes directly).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed || !w.started {
		w.mu.Unlock()
		return w.out.Write(p)
	}
	if len(w.buf)+len(p) > w.max {
		w.unnoted++
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Dropped is how many lines were dropped because the output could not
// keep up.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Start starts the goroutine that writes the buffered lines; Close stops
// it.
func (w *Writer) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return
	}
	w.started = true
	go w.run()
}

// Close writes what is buffered, stops the writing goroutine and waits
// for it. Later writes go straight to the output.
func (w *Writer) Close() error {
	w.mu.Lock()
	started := w.started
	w.mu.Unlock()
	if !started {
		return nil
	}
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.stopped
	return nil
}

func (w *Writer) run() {
	defer close(w.stopped)
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			w.flush(true)
			return
		}
		w.flush(false)
		// At most one write per interval: lines that arrive meanwhile
		// go out together with the next.
		t.Reset(w.interval)
		select {
		case <-t.C:
		case <-w.stop:
			t.Stop()
			w.flush(true)
			return
		}
	}
}

// flush writes the buffered lines (and a notice of dropped ones); last
// also marks the writer closed under the same lock, so no line is
// buffered after the final write.
func (w *Writer) flush(last bool) {
	w.mu.Lock()
	b := w.buf
	w.buf, w.spare = w.spare[:0], nil
	n := w.unnoted
	w.unnoted = 0
	if last {
		w.closed = true
	}
	w.mu.Unlock()
	if len(b) > 0 {
		_, _ = w.out.Write(b)
	}
	if n > 0 && w.notice != nil {
		_, _ = w.out.Write(w.notice(n))
	}
	w.mu.Lock()
	if cap(b) <= 1<<20 { // keep the buffer a busy second needs; let a burst's go
		w.spare = b[:0]
	} else {
		w.spare = nil
	}
	w.mu.Unlock()
}
