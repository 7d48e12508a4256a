package tracing_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
	"github.com/kgate/kgate/internal/tracing"
)

const (
	tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	sid = "00f067aa0ba902b7"
	tp  = "00-" + tid + "-" + sid + "-01"
)

func TestPropagation(t *testing.T) {
	h := http.Header{}
	h.Set("Traceparent", tp)
	h.Set("Tracestate", "a=1,b=2")
	ctx := tracing.Extract(context.Background(), h)
	sc := trace.SpanContextFromContext(ctx)
	if sc.TraceID().String() != tid || sc.SpanID().String() != sid || !sc.IsSampled() || !sc.IsRemote() {
		t.Fatalf("extracted %v", sc)
	}
	hs := tracing.RecordHeaders(ctx)
	if len(hs) != 2 || hs[0].Key != "traceparent" || string(hs[0].Value) != tp || hs[1].Key != "tracestate" || string(hs[1].Value) != "a=1,b=2" {
		t.Errorf("record headers %v", hs)
	}
	out := http.Header{}
	tracing.Inject(ctx, out)
	if out.Get("Traceparent") != tp {
		t.Errorf("injected %v", out)
	}

	// A record's own traceparent is kept, whatever its case.
	r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: "TraceParent", Value: []byte("mine")}}}
	tracing.AddRecordHeaders(r, hs)
	if len(r.Headers) != 1 {
		t.Errorf("a record's own traceparent was joined by %v", r.Headers)
	}
	r = &kgo.Record{Headers: []kgo.RecordHeader{{Key: "k", Value: []byte("v")}}}
	tracing.AddRecordHeaders(r, hs)
	if len(r.Headers) != 3 {
		t.Errorf("headers %v", r.Headers)
	}
	rctx, ok := tracing.FromRecord(context.Background(), r)
	if !ok || trace.SpanContextFromContext(rctx).SpanID().String() != sid {
		t.Errorf("from record: %v %v", ok, trace.SpanContextFromContext(rctx))
	}

	for _, bad := range []string{"", "00-" + tid, "ff-" + tid + "-" + sid + "-01", "00-" + strings.Repeat("0", 32) + "-" + sid + "-01", "00-zz" + tid[2:] + "-" + sid + "-01"} {
		h := http.Header{}
		h.Set("Traceparent", bad)
		if sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), h)); sc.IsValid() {
			t.Errorf("traceparent %q accepted: %v", bad, sc)
		}
		if hs := tracing.RecordHeaders(tracing.Extract(context.Background(), h)); hs != nil {
			t.Errorf("traceparent %q gives record headers %v", bad, hs)
		}
		// A malformed record header leaves the context as it was, even
		// when it carries a trace already.
		r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(bad)}}}
		if rctx, ok := tracing.FromRecord(ctx, r); ok || trace.SpanContextFromContext(rctx).TraceID().String() != tid {
			t.Errorf("record traceparent %q: %v %v", bad, ok, trace.SpanContextFromContext(rctx))
		}
	}
}

func TestOffIsNil(t *testing.T) {
	tr, err := tracing.New(config.Default().Tracing, tracing.Options{})
	if err != nil || tr != nil || tr.On() {
		t.Fatalf("default tracing: %v %v", tr, err)
	}
	ctx, span := tr.StartServer(context.Background(), "GET /x", "GET", "/x", "id")
	if span.IsRecording() || ctx == nil {
		t.Error("a nil tracer records")
	}
	tracing.EndServer(span, 200)
	tr.Delivered(ctx, "v2", "g", []*kgo.Record{{}})
}

func tracer(t *testing.T, mutate func(*config.Tracing)) (*tracing.Tracer, *prometheus.CounterVec) {
	t.Helper()
	cfg := config.Default().Tracing
	cfg.ExportInterval = config.Duration(20 * time.Millisecond)
	mutate(&cfg)
	spans := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spans"}, []string{"outcome"})
	tr, err := tracing.New(cfg, tracing.Options{Node: "n1", Spans: spans, Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return tr, spans
}

func run(t *testing.T, tr *tracing.Tracer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

// TestExportHeadersAndDrops: the headers file's headers reach the
// collector; a full queue drops spans and counts them; what was queued
// when Run stops is still exported.
func TestExportHeadersAndDrops(t *testing.T) {
	col := testutil.StartCollector(t)
	file := filepath.Join(t.TempDir(), "headers")
	if err := os.WriteFile(file, []byte("# the collector's key\nAuthorization: Bearer s3cret-token\n\nX-Tenant: kgate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, spans := tracer(t, func(c *config.Tracing) { c.OTLPEndpoint, c.HeadersFile, c.QueueSize = col.URL, file, 4 })
	for i := 0; i < 10; i++ { // nothing exports yet: 4 queue, 6 drop
		_, span := tr.StartServer(context.Background(), "GET /x", "GET", "/x", "id")
		tracing.EndServer(span, 200)
	}
	if got := promtest.ToFloat64(spans.WithLabelValues("dropped")); got != 6 {
		t.Errorf("dropped %v, want 6", got)
	}
	stop := run(t, tr)
	col.WaitFor(t, "the queued spans", func(s []testutil.Span) bool { return len(s) == 4 })
	_, span := tr.StartServer(context.Background(), "GET /y", "GET", "/y", "id")
	tracing.EndServer(span, 503)
	stop() // exports the last one on its way out
	got := col.Spans()
	if len(got) != 5 || got[4].Proto.Name != "GET /y" || got[4].Proto.Status.GetCode() != 2 || got[4].Node != "n1" {
		t.Errorf("spans %v", got)
	}
	if h := col.Header(); h.Get("Authorization") != "Bearer s3cret-token" || h.Get("X-Tenant") != "kgate" {
		t.Errorf("export headers %v", h)
	}
	if got := promtest.ToFloat64(spans.WithLabelValues("exported")); got != 5 {
		t.Errorf("exported %v, want 5", got)
	}

	// A malformed headers file is refused without echoing it.
	if err := os.WriteFile(file, []byte("Authorization Bearer s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := tracing.New(config.Tracing{OTLPEndpoint: col.URL, HeadersFile: file, SampleRatio: 1, ServiceName: "k", QueueSize: 1, ExportInterval: 1}, tracing.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("malformed headers file: %v", err)
	}
}

// TestExportFailuresCounted: spans a collector refuses are counted as
// failed, and Run still stops.
func TestExportFailuresCounted(t *testing.T) {
	col := testutil.StartCollector(t)
	tr, spans := tracer(t, func(c *config.Tracing) { c.OTLPEndpoint = col.URL + "/elsewhere" })
	stop := run(t, tr)
	_, span := tr.StartServer(context.Background(), "GET /x", "GET", "/x", "id")
	tracing.EndServer(span, 200)
	deadline := time.Now().Add(15 * time.Second)
	for promtest.ToFloat64(spans.WithLabelValues("failed")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the refused span was not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
}

// TestSampling: with sample_ratio 0 a new trace is not recorded, but a
// caller's sampled one is (parent-based).
func TestSampling(t *testing.T) {
	col := testutil.StartCollector(t)
	tr, _ := tracer(t, func(c *config.Tracing) { c.OTLPEndpoint, c.SampleRatio = col.URL, 0 })
	stop := run(t, tr)
	defer stop()
	_, span := tr.StartServer(context.Background(), "GET /new", "GET", "/new", "id")
	if span.IsRecording() {
		t.Error("a new trace is recorded at ratio 0")
	}
	tracing.EndServer(span, 200)
	h := http.Header{}
	h.Set("Traceparent", tp)
	_, span = tr.StartServer(tracing.Extract(context.Background(), h), "GET /continued", "GET", "/continued", "id")
	tracing.EndServer(span, 200)
	got := col.WaitFor(t, "the continued trace", func(s []testutil.Span) bool { return len(s) > 0 })
	if len(got) != 1 || got[0].Proto.Name != "GET /continued" || got[0].TraceID() != tid {
		t.Errorf("spans %v", got)
	}
}
