package consumer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
// failed when the handler fails; the handler's context carries it, and
// so do its outputs' headers.
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

	kc, addr := testKafka(t)
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
		switch string(r.Value) {
		case "fails":
			return nil, errors.New("no")
		case "traced":
			return []Output{{Value: []byte("out")}}, nil
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
	outs := readN(t, addr, "out", 1, 10*time.Second)
	var handlerSpan string
	for _, s := range spans {
		if s.TraceID() == tid && s.Proto.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
			handlerSpan = s.SpanID()
		}
	}
	if got, want := header(outs[0], "traceparent"), "00-"+tid+"-"+handlerSpan+"-01"; got != want {
		t.Errorf("output's traceparent %q, want %q (the handler's span)", got, want)
	}
}

// TestWebhookPassesTrace: a webhook request carries the handler's trace
// context (the record's, with tracing off), so the receiver continues it.
func TestWebhookPassesTrace(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Traceparent")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ts.Close()
	wh, err := NewWebhook(WebhookOptions{URL: ts.URL, Secret: "s", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	rec := &kgo.Record{Topic: "in", Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(tp)}}}
	ctx, _ := tracing.FromRecord(t.Context(), rec)
	if _, err := wh.Handle(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if h := <-got; h != tp {
		t.Errorf("webhook got traceparent %q, want %q", h, tp)
	}
	wh.client.CloseIdleConnections()
}
