package consumer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
)

// worker owns one partition: it handles the partition's records one after
// the other and marks each finished offset. It never touches a record
// after stop was called, except the one in flight.
type worker struct {
	rt *Runtime
	tp tp

	mu     sync.Mutex // guards queue and paused
	queue  []*kgo.Record
	paused bool

	wake chan struct{} // records arrived

	stopOnce sync.Once
	stopCh   chan struct{} // closed by stop: start nothing new

	// hctx is the context in-flight handling runs under; cancel
	// abandons it.
	hctx   context.Context
	cancel context.CancelFunc

	done chan struct{}

	hwm  atomic.Int64 // partition high watermark, -1 unknown
	next atomic.Int64 // next offset to finish, -1 unknown
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
	return w
}

// enqueue appends fetched records; it pauses fetching the partition when
// too many wait. Called by the poll loop only.
func (w *worker) enqueue(recs []*kgo.Record, hwm int64) {
	if hwm >= 0 {
		w.hwm.Store(hwm)
	}
	if len(recs) > 0 {
		w.next.CompareAndSwap(-1, recs[0].Offset)
	}
	w.mu.Lock()
	w.queue = append(w.queue, recs...)
	if len(w.queue) >= w.rt.o.MaxQueued && !w.paused {
		w.paused = true
		w.rt.cl.PauseFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
	w.mu.Unlock()
	w.updateLag()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns the next record, or nil once stop was called.
func (w *worker) take() *kgo.Record {
	for {
		select {
		case <-w.stopCh:
			return nil
		default:
		}
		w.mu.Lock()
		if len(w.queue) > 0 {
			r := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			if w.paused && len(w.queue) <= w.rt.o.MaxQueued/2 {
				w.paused = false
				w.rt.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
			}
			w.mu.Unlock()
			return r
		}
		w.mu.Unlock()
		select {
		case <-w.stopCh:
			return nil
		case <-w.wake:
		}
	}
}

// stop asks the worker to start nothing new; the record in flight may
// finish.
func (w *worker) stop() { w.stopOnce.Do(func() { close(w.stopCh) }) }

// stopWorkers stops ws, waits up to grace for their in-flight records,
// then abandons what is left and waits for the goroutines to return.
func stopWorkers(ws []*worker, grace time.Duration) {
	for _, w := range ws {
		w.stop()
	}
	abandon := func() {
		for _, w := range ws {
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
	abandon() // releases the contexts
}

func (w *worker) run() {
	defer close(w.done)
	for {
		rec := w.take()
		if rec == nil {
			return
		}
		if !w.process(rec) {
			return // abandoned: not marked, handled again by the next owner
		}
		w.next.Store(rec.Offset + 1)
		w.updateLag()
		w.rt.markDone(w.tp, rec)
	}
}

func (w *worker) lag() int64 {
	h, n := w.hwm.Load(), w.next.Load()
	if h < 0 || n < 0 || h < n {
		return 0
	}
	return h - n
}

func (w *worker) updateLag() {
	if m := w.rt.m; m != nil {
		m.Lag.WithLabelValues(w.tp.topic, strconv.Itoa(int(w.tp.partition))).Set(float64(w.lag()))
	}
}

// acquire takes a concurrency slot, unless the worker is told to stop
// first.
func (w *worker) acquire() bool {
	select {
	case w.rt.sem <- struct{}{}:
		return true
	case <-w.stopCh:
		return false
	}
}

func (w *worker) release() { <-w.rt.sem }

// process handles rec until it is finished (handled and outputs
// published, or dead-lettered), returning true, or abandoned, returning
// false.
func (w *worker) process(rec *kgo.Record) bool {
	rt := w.rt
	start := time.Now()
	log := rt.logger.With("topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset)
	for attempt := 1; ; attempt++ {
		if !w.acquire() {
			return false
		}
		rt.stats.inFlight.Add(1)
		if rt.m != nil {
			rt.m.InFlight.Inc()
		}
		outs, err := w.call(rec)
		if err == nil {
			err = w.publish(rec, outs)
			w.done1()
			if err != nil {
				return false // abandoned while publishing
			}
			rt.stats.handled.Add(1)
			if rt.m != nil {
				rt.m.Handled.WithLabelValues(rt.o.HandlerName).Inc()
				rt.m.Duration.WithLabelValues(rt.o.HandlerName, "handled").Observe(time.Since(start).Seconds())
			}
			log.Debug("record handled", "attempt", attempt, "outputs", len(outs))
			return true
		}
		if w.hctx.Err() != nil {
			w.done1()
			return false // abandoned: the failure is ours, not the record's
		}
		rt.stats.failed.Add(1)
		if rt.m != nil {
			rt.m.Failed.WithLabelValues(rt.o.HandlerName).Inc()
		}
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
				return false
			}
			log.Warn("record dead-lettered", "reason", reason, "attempts", attempt, "err", err)
			rt.stats.deadLettered.Add(1)
			if rt.m != nil {
				rt.m.DeadLettered.WithLabelValues(rt.o.HandlerName, reason).Inc()
				rt.m.Duration.WithLabelValues(rt.o.HandlerName, "dead_lettered").Observe(time.Since(start).Seconds())
			}
			return true
		}
		w.done1()
		delay := rt.o.Backoff.Delay(attempt, hint, nil)
		log.Info("record failed; retrying", "attempt", attempt, "retry_in", delay, "err", err)
		rt.stats.retried.Add(1)
		if rt.m != nil {
			rt.m.Retried.WithLabelValues(rt.o.HandlerName).Inc()
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-w.stopCh:
			t.Stop()
			return false // revoked or stopping while waiting to retry
		}
	}
}

// done1 ends one in-flight attempt.
func (w *worker) done1() {
	w.rt.stats.inFlight.Add(-1)
	if w.rt.m != nil {
		w.rt.m.InFlight.Dec()
	}
	w.release()
}

// call runs the handler once with the attempt timeout, turning a panic
// into an error.
func (w *worker) call(rec *kgo.Record) (outs []Output, err error) {
	ctx, cancel := context.WithTimeout(w.hctx, w.rt.o.HandlerTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			w.rt.logger.Error("handler panicked", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			outs, err = nil, panicError{v}
		}
	}()
	outs, err = w.rt.o.Handler.Handle(ctx, rec)
	if err == nil && ctx.Err() != nil && w.hctx.Err() != nil {
		err = ctx.Err() // abandoned mid-way: do not trust the result
	}
	return outs, err
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
	rt.stats.outputs.Add(int64(len(recs)))
	if rt.m != nil {
		rt.m.Outputs.WithLabelValues(rt.o.HandlerName).Add(float64(len(recs)))
	}
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
