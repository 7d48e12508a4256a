package consumer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
	"github.com/kgate/kgate/internal/tracing"
)

// TestRuntimeTracing: each handler invocation is a span, a child of the
// record's traceparent when it has one (a new trace otherwise), marked
// failed when the handler fails; the handler's context carries it.
func TestRuntimeTracing(t *testing.T) {
	t.Parallel()
	col := testutil.StartCollector(t)
	cfg := config.Default().Tracing
	cfg.OTLPEndpoint, cfg.ExportInterval = col.URL, config.Duration(20*time.Millisecond)
	tr, err := tracing.New(cfg, tracing.Options{Node: "g", Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	tctx, stopTracing := context.WithCancel(context.Background())
	traced := make(chan error, 1)
	go func() { traced <- tr.Run(tctx) }()
	defer func() { stopTracing(); <-traced }()

	kc, _ := testKafka(t)
	createTopic(t, kc, "in", 1)
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	recs := []*kgo.Record{
		{Topic: "in", Value: []byte("traced"), Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-" + tid + "-" + sid + "-01")}}},
		{Topic: "in", Value: []byte("fails"), Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-" + tid + "-" + sid + "-01")}}},
		{Topic: "in", Value: []byte("untraced")},
	}
	for _, r := range kc.ProduceSync(t.Context(), recs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	seen := make(chan string, 10)
	h := HandlerFunc(func(ctx context.Context, r *kgo.Record) ([]Output, error) {
		seen <- trace.SpanContextFromContext(ctx).TraceID().String()
		if string(r.Value) == "fails" {
			return nil, errors.New("no")
		}
		return nil, nil
	})
	o := baseOptions(kc, h)
	o.MaxAttempts, o.Tracer = 1, tr
	start(t, o)
	spans := col.WaitFor(t, "three handler spans", func(s []testutil.Span) bool { return len(s) >= 3 })
	var inTrace, failed, fresh int
	for _, s := range spans {
		if s.Proto.Name != "process in" || s.Attr("kgate.consumer") != "handle" || s.Proto.Kind != tracepb.Span_SPAN_KIND_CONSUMER {
			t.Errorf("span %s kind %v consumer %q", s.Proto.Name, s.Proto.Kind, s.Attr("kgate.consumer"))
		}
		switch {
		case s.TraceID() == tid && s.ParentID() == sid:
			inTrace++
			if s.Proto.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
				failed++
			}
		case s.TraceID() != tid && len(s.Proto.ParentSpanId) == 0:
			fresh++
		}
	}
	if inTrace != 2 || failed != 1 || fresh != 1 {
		t.Errorf("%d spans in the record's trace (%d failed), %d new traces; want 2 (1), 1", inTrace, failed, fresh)
	}
	if got := <-seen; got != tid {
		t.Errorf("the handler's context is in trace %s", got)
	}
}
