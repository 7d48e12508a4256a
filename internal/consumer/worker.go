package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/tracing"
)

// worker owns one partition: it handles the partition's records one after
// the other and marks each finished offset. It never touches a record
// after stop was called, except the one in flight.
type worker struct {
	rt *Runtime
	tp tp

	mu       sync.Mutex // guards queue, paused, parked and lastTake
	queue    []*kgo.Record
	paused   bool
	parked   int // records of the queue not counted in Runtime.queued while paused
	lastTake time.Time

	wake chan struct{} // records arrived

	stopOnce sync.Once
	stopCh   chan struct{} // closed by stop: start nothing new
	stopping atomic.Bool   // set with stopCh, cheap to check per record

	// hctx is the context in-flight handling runs under; abandon
	// cancels it.
	hctx      context.Context
	cancel    context.CancelFunc
	abandoned atomic.Bool

	done chan struct{}

	// The attempt context is reused from record to record and replaced
	// only after the watchdog canceled it. astart is the running
	// attempt's start (unix ns), 0 between attempts and -1 once the
	// watchdog claimed it; acancel is the context's cancel function, for
	// the watchdog. actx and aexpired belong to the worker goroutine.
	actx     context.Context
	aexpired bool
	acancel  atomic.Pointer[context.CancelCauseFunc]
	astart   atomic.Int64

	// mark is the next offset to commit (the last finished record's
	// offset + 1) and markEpoch that record's leader epoch; -1 before the
	// first. committed is what was last committed; the committer owns it
	// (under Runtime.commitMu).
	mark      atomic.Int64
	markEpoch atomic.Int32
	committed int64

	hwm  atomic.Int64 // partition high watermark, -1 unknown
	next atomic.Int64 // next offset to finish, -1 unknown

	c counters // written by this worker only
}

func newWorker(rt *Runtime, k tp) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{
		rt:     rt,
		tp:     k,
		wake:   make(chan struct{}, 1),
		stopCh: make(chan struct{}),
		hctx:   ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	w.hwm.Store(-1)
	w.next.Store(-1)
	w.mark.Store(-1)
	w.committed = -1
	w.lastTake = time.Now()
	return w
}

// enqueue appends fetched records. Called by the poll loop only.
func (w *worker) enqueue(recs []*kgo.Record, hwm int64) {
	if hwm >= 0 {
		w.hwm.Store(hwm)
	}
	if len(recs) > 0 {
		w.next.CompareAndSwap(-1, recs[0].Offset)
	}
	w.mu.Lock()
	if len(w.queue) == 0 {
		w.queue = recs // the slice is ours: franz-go does not reuse it
	} else {
		w.queue = append(w.queue, recs...)
	}
	w.rt.queued.Add(int64(len(recs)))
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// backlogAge is how long a worker may leave a full queue untouched before
// its partition's fetching pauses.
const backlogAge = time.Second

// takeAll returns every queued record, waiting for some, or nil once
// stop was called. Taking the whole queue at once keeps the per-record
// cost of the hand-over low.
func (w *worker) takeAll() []*kgo.Record {
	for {
		if w.stopping.Load() {
			return nil
		}
		w.mu.Lock()
		if len(w.queue) > 0 {
			recs := w.queue
			w.queue = nil
			w.lastTake = time.Now()
			counted := len(recs) - w.parked
			if w.paused {
				w.paused, w.parked = false, 0
				w.rt.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
			}
			w.mu.Unlock()
			w.rt.took(int64(counted))
			return recs
		}
		w.mu.Unlock()
		select {
		case <-w.stopCh:
			return nil
		case <-w.wake:
		}
	}
}

// pauseIfBacklogged pauses fetching the partition when more than max
// records wait in its queue and the worker has not taken any for a while:
// its handler is much slower than its share of fetching (stuck retrying,
// say), and its backlog must not starve the other partitions. A queue
// that its worker empties quickly never pauses: pausing drops franz-go's
// buffered fetch for the partition, which would then be fetched again.
func (w *worker) pauseIfBacklogged(max int, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.paused && len(w.queue) > max && now.Sub(w.lastTake) > backlogAge {
		w.paused = true
		w.rt.cl.PauseFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
		// A paused backlog no longer counts against the poll loop's
		// limit, or it would stop the other partitions too.
		w.parked = len(w.queue)
		w.rt.took(int64(w.parked))
	}
}

// stop asks the worker to start nothing new; the record in flight may
// finish.
func (w *worker) stop() {
	w.stopOnce.Do(func() {
		w.stopping.Store(true)
		close(w.stopCh)
	})
}

// stopWorkers stops ws, waits up to grace for their in-flight records,
// then abandons what is left and waits for the goroutines to return.
func stopWorkers(ws []*worker, grace time.Duration) {
	for _, w := range ws {
		w.stop()
	}
	abandon := func() {
		for _, w := range ws {
			w.abandoned.Store(true)
			w.cancel()
		}
	}
	if grace <= 0 {
		abandon()
	}
	t := time.AfterFunc(grace, abandon)
	for _, w := range ws {
		<-w.done
	}
	t.Stop()
	for _, w := range ws {
		w.cancel() // releases the context; the workers are done
	}
}

func (w *worker) run() {
	defer close(w.done)
	defer func() {
		// What is left is dropped: it belongs to the next owner.
		w.mu.Lock()
		n := len(w.queue) - w.parked
		w.queue, w.parked = nil, 0
		w.mu.Unlock()
		w.rt.took(int64(n))
	}()
	for {
		recs := w.takeAll()
		if recs == nil {
			return
		}
		// Durations: a record's end is the next one's start. Reading
		// the clock costs about as much as a no-op handler (150ns on a
		// VM), so while records take under fastRecord each, the clock is
		// read once per group of up to maxStride records and each gets
		// the group's mean; a slower group, or a dead letter, goes back
		// to one read per record.
		start := time.Now()
		group, stride := 0, 1
		for _, rec := range recs {
			if w.stopping.Load() {
				return
			}
			outcome, ok := w.process(rec, start)
			if !ok {
				return // abandoned, not marked: handled again by the next owner
			}
			group++
			w.next.Store(rec.Offset + 1)
			w.markEpoch.Store(rec.LeaderEpoch)
			w.mark.Store(rec.Offset + 1)
			w.rt.kickCommitter()
			if group < stride && outcome == outcomeHandled {
				continue
			}
			end := time.Now()
			mean := end.Sub(start) / time.Duration(group)
			if outcome == outcomeHandled {
				w.c.dur[outcomeHandled].observeN(mean, uint64(group))
			} else {
				w.c.dur[outcomeHandled].observeN(mean, uint64(group-1))
				w.c.dur[outcome].observeN(mean, 1)
			}
			if mean < fastRecord && outcome == outcomeHandled {
				stride = min(stride*2, maxStride)
			} else {
				stride = 1
			}
			start, group = end, 0
		}
		if group > 0 {
			w.c.dur[outcomeHandled].observeN(time.Since(start)/time.Duration(group), uint64(group))
		}
	}
}

const (
	fastRecord = 50 * time.Microsecond
	maxStride  = 64
)

func (w *worker) lag() int64 {
	h, n := w.hwm.Load(), w.next.Load()
	if h < 0 || n < 0 || h < n {
		return 0
	}
	return h - n
}

// acquire takes a concurrency slot, unless the worker is told to stop
// first.
func (w *worker) acquire() bool {
	select { // the common case, without the cost of a two-way select
	case w.rt.sem <- struct{}{}:
		return true
	default:
	}
	select {
	case w.rt.sem <- struct{}{}:
		return true
	case <-w.stopCh:
		return false
	}
}

func (w *worker) release() { <-w.rt.sem }

// process handles rec until it is finished (handled and outputs
// published, or dead-lettered), returning the outcome and true, or
// abandoned, returning false.
func (w *worker) process(rec *kgo.Record, start time.Time) (int, bool) {
	rt := w.rt
	// Built only when something is logged: a With per record would cost
	// an allocation on the hot path.
	log := func() *slog.Logger {
		return rt.logger.With("topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset)
	}
	for attempt := 1; ; attempt++ {
		if !w.acquire() {
			return 0, false
		}
		w.c.inFlight.Add(1)
		attemptStart := start
		if attempt > 1 {
			attemptStart = time.Now()
		}
		outs, err := w.call(rec, attemptStart)
		if err == nil {
			err = w.publish(rec, outs)
			w.done1()
			if err != nil {
				return 0, false // abandoned while publishing
			}
			w.c.handled.Add(1)
			if rt.logger.Enabled(context.Background(), slog.LevelDebug) {
				log().Debug("record handled", "attempt", attempt, "outputs", len(outs))
			}
			return outcomeHandled, true
		}
		if w.hctx.Err() != nil {
			w.done1()
			return 0, false // abandoned: the failure is ours, not the record's
		}
		w.c.failed.Add(1)
		reason, hint := classify(err)
		var pe panicError
		if errors.As(err, &pe) {
			reason = ReasonPanic
		}
		if reason == "" && attempt >= rt.o.MaxAttempts {
			reason = ReasonExhausted
		}
		if reason != "" {
			derr := w.deadLetter(rec, err, attempt, reason)
			w.done1()
			if derr != nil {
				return 0, false
			}
			log().Warn("record dead-lettered", "reason", reason, "attempts", attempt, "err", err)
			w.c.dead[reasonIndex(reason)].Add(1)
			return outcomeDeadLettered, true
		}
		w.done1()
		delay := rt.o.Backoff.Delay(attempt, hint, nil)
		log().Info("record failed; retrying", "attempt", attempt, "retry_in", delay, "err", err)
		w.c.retried.Add(1)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-w.stopCh:
			t.Stop()
			return 0, false // revoked or stopping while waiting to retry
		}
	}
}

// done1 ends one in-flight attempt.
func (w *worker) done1() {
	w.c.inFlight.Add(-1)
	w.release()
}

// errHandlerTimeout is the cause of an attempt the watchdog canceled.
var errHandlerTimeout = errors.New("handler timeout")

// call runs the handler once, turning a panic into an error. The attempt
// runs under the worker's attempt context, which the runtime's watchdog
// cancels when the attempt outlives HandlerTimeout. (A context.WithTimeout
// per record would allocate a timer per record, a visible share of the
// runtime's cost with fast handlers.)
func (w *worker) call(rec *kgo.Record, now time.Time) (outs []Output, err error) {
	if w.actx == nil || w.aexpired {
		ctx, cancel := context.WithCancelCause(w.hctx)
		w.actx, w.aexpired = ctx, false
		w.acancel.Store(&cancel)
	}
	ctx := w.actx
	// The handler's context continues the record's trace (with tracing
	// off too, so that a webhook passes it on), and so do its outputs.
	if t := w.rt.o.Tracer; t.On() {
		var span trace.Span
		ctx, span = t.StartProcess(ctx, rec, w.rt.o.Group)
		// Registered first, so it runs last and sees a panic's error.
		defer func() { tracing.EndProcess(span, err) }()
	} else {
		ctx, _ = tracing.FromRecord(ctx, rec)
	}
	w.astart.Store(now.UnixNano())
	defer func() {
		if w.astart.Swap(0) < 0 {
			w.aexpired = true
		}
		if v := recover(); v != nil {
			w.rt.logger.Error("handler panicked", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			outs, err = nil, panicError{v}
		}
	}()
	outs, err = w.rt.o.Handler.Handle(ctx, rec)
	if w.abandoned.Load() {
		// Abandoned mid-way: do not trust the result.
		return nil, context.Canceled
	}
	if err != nil && w.astart.Load() < 0 {
		return nil, fmt.Errorf("handler timed out after %s: %w", w.rt.o.HandlerTimeout, err)
	}
	if hs := tracing.RecordHeaders(ctx); hs != nil {
		for i := range outs {
			outs[i].Headers = tracing.WithRecordHeaders(outs[i].Headers, hs)
		}
	}
	return outs, err
}

// expire cancels the running attempt if it started before deadline. It
// runs on the watchdog's goroutine.
func (w *worker) expire(deadline time.Time) {
	s := w.astart.Load()
	if s <= 0 || s >= deadline.UnixNano() {
		return
	}
	cancel := w.acancel.Load()
	// Claim the attempt: if it ended meanwhile, s is gone and nothing is
	// canceled; the context is replaced only after a claimed attempt.
	if cancel != nil && w.astart.CompareAndSwap(s, -1) {
		(*cancel)(errHandlerTimeout)
	}
}

// publish produces outs to the output topic and waits until Kafka
// acknowledged every one. Failed records are produced again (never
// acknowledged ones twice) until they succeed or the handling is
// abandoned.
func (w *worker) publish(rec *kgo.Record, outs []Output) error {
	rt := w.rt
	if len(outs) == 0 {
		return nil
	}
	if rt.o.OutputTopic == "" {
		rt.logger.Warn("handler returned outputs but no output topic is configured; dropping them", "outputs", len(outs))
		return nil
	}
	recs := make([]*kgo.Record, len(outs))
	for i, o := range outs {
		recs[i] = outputRecord(rec, o, rt.o.OutputTopic, rt.o.HandlerName)
	}
	if err := w.produce(recs, rec.Partition); err != nil {
		return err
	}
	w.c.outputs.Add(int64(len(recs)))
	return nil
}

func (w *worker) deadLetter(rec *kgo.Record, cause error, attempts int, reason string) error {
	rt := w.rt
	dl := deadLetter(rec, rt.o.DLQTopic, rt.o.HandlerName, rt.o.Group, reason, attempts, cause, time.Now())
	return w.produce([]*kgo.Record{dl}, rec.Partition)
}

// produce sends recs (all to one topic) and retries the failed ones with
// backoff until all are acknowledged or the handling is abandoned.
// Keyed records go where Kafka's Java client would put them; keyless ones
// to the input's partition number, modulo the topic's partitions, which
// keeps the input's order.
func (w *worker) produce(recs []*kgo.Record, inputPartition int32) error {
	rt := w.rt
	pending := recs
	for attempt := 1; ; attempt++ {
		n, err := rt.o.Client.Partitions(w.hctx, pending[0].Topic)
		if err == nil {
			for _, r := range pending {
				if r.Key != nil {
					r.Partition = kafka.KeyPartition(r.Key, n)
				} else {
					r.Partition = inputPartition % n
				}
			}
			res := rt.o.Client.ProduceSync(w.hctx, pending)
			var failed []*kgo.Record
			var errs []error
			for i, x := range res {
				if x.Err != nil {
					failed = append(failed, pending[i])
					errs = append(errs, x.Err)
				}
			}
			if len(failed) == 0 {
				return nil
			}
			pending, err = failed, errors.Join(errs...)
		}
		if w.hctx.Err() != nil {
			return w.hctx.Err()
		}
		if errors.Is(err, kafka.ErrUnknownTopic) {
			rt.o.Client.Invalidate(pending[0].Topic)
		}
		delay := rt.o.Backoff.Delay(attempt, 0, nil)
		rt.logger.Warn("producing failed; retrying", "topic", pending[0].Topic, "records", len(pending), "retry_in", delay, "err", err)
		if !sleep(w.hctx, delay) {
			return w.hctx.Err()
		}
	}
}
