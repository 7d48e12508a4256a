package tracing

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// maxBatch is the most spans one export sends.
const maxBatch = 512

// exporter is the span processor: ended spans go into a bounded queue
// without blocking (a full queue drops them, counted), and run exports
// them in batches. It replaces the SDK's batch processor, whose drops are
// not countable without its metrics pipeline.
type exporter struct {
	client   sdktrace.SpanExporter
	queue    chan sdktrace.ReadOnlySpan
	interval time.Duration
	logger   *slog.Logger
	// exported, dropped and failed count spans (nil: not counted).
	exported, dropped, failed prometheus.Counter
	// failing is set while exports fail, so that a down collector is
	// logged once, not per batch.
	failing atomic.Bool
}

func newExporter(client sdktrace.SpanExporter, size int, interval time.Duration, counts *prometheus.CounterVec, logger *slog.Logger) *exporter {
	e := &exporter{client: client, queue: make(chan sdktrace.ReadOnlySpan, size), interval: interval, logger: logger}
	if counts != nil {
		e.exported, e.dropped, e.failed = counts.WithLabelValues("exported"), counts.WithLabelValues("dropped"), counts.WithLabelValues("failed")
	}
	return e
}

func add(c prometheus.Counter, n int) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

func (e *exporter) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (e *exporter) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	select {
	case e.queue <- s:
	default:
		add(e.dropped, 1)
	}
}

// Shutdown and ForceFlush do nothing: run owns the exporter's lifecycle.
func (e *exporter) Shutdown(context.Context) error   { return nil }
func (e *exporter) ForceFlush(context.Context) error { return nil }

// run exports a batch when it is full or interval after its first span,
// until ctx ends; then what is queued, for at most five seconds. An
// export in flight when ctx ends gets those five seconds too: cancelled
// at once, it would count as failed spans the collector may well have
// received.
func (e *exporter) run(ctx context.Context) error {
	ectx, ecancel := context.WithCancel(context.WithoutCancel(ctx))
	defer ecancel()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(5*time.Second, ecancel) })()
	batch := make([]sdktrace.ReadOnlySpan, 0, maxBatch)
	timer := time.NewTimer(e.interval)
	timer.Stop()
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		e.export(ctx, batch)
		clear(batch)
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			for {
				select {
				case s := <-e.queue:
					if batch = append(batch, s); len(batch) == maxBatch {
						flush(ectx)
					}
					continue
				default:
				}
				break
			}
			flush(ectx)
			return e.client.Shutdown(ectx)
		case s := <-e.queue:
			if len(batch) == 0 {
				timer.Reset(e.interval)
			}
			if batch = append(batch, s); len(batch) == maxBatch {
				timer.Stop()
				flush(ectx)
			}
		case <-timer.C:
			flush(ectx)
		}
	}
}

func (e *exporter) export(ctx context.Context, batch []sdktrace.ReadOnlySpan) {
	if err := e.client.ExportSpans(ctx, batch); err != nil {
		add(e.failed, len(batch))
		if !e.failing.Swap(true) {
			e.logger.Warn("exporting spans failed; dropping them until the collector answers", "spans", len(batch), "err", err)
		}
		return
	}
	add(e.exported, len(batch))
	if e.failing.Swap(false) {
		e.logger.Info("exporting spans again")
	}
}
