package tracing_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/kgate/kgate/internal/tracing"
)

// FuzzTraceContext: whatever a client sends as traceparent and
// tracestate (an HTTP request's or a record's), nothing panics, and what
// goes into records is either nothing or a well-formed traceparent of
// the same trace.
func FuzzTraceContext(f *testing.F) {
	f.Add(tp, "a=1,b=2")
	f.Add("00-"+tid+"-"+sid+"-00", "")
	f.Add("ff-"+tid+"-"+sid+"-01", "x")
	f.Add("00-"+tid+"-"+sid+"-01-extra", "=,=")
	f.Fuzz(func(t *testing.T, traceparent, tracestate string) {
		h := http.Header{}
		h.Set("Traceparent", traceparent)
		h.Set("Tracestate", tracestate)
		ctx := tracing.Extract(context.Background(), h)
		rec := &kgo.Record{Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(traceparent)}, {Key: "tracestate", Value: []byte(tracestate)}}}
		rctx, ok := tracing.FromRecord(context.Background(), rec)
		for _, c := range []context.Context{ctx, rctx} {
			sc := trace.SpanContextFromContext(c)
			hs := tracing.RecordHeaders(c)
			if !sc.IsValid() {
				if hs != nil {
					t.Fatalf("headers %v without a valid context", hs)
				}
				continue
			}
			if len(hs) == 0 || len(hs[0].Value) != 55 || string(hs[0].Value[3:35]) != sc.TraceID().String() {
				t.Fatalf("headers %v for %v", hs, sc)
			}
		}
		if ok != trace.SpanContextFromContext(rctx).IsValid() {
			t.Fatalf("FromRecord says %v for %v", ok, trace.SpanContextFromContext(rctx))
		}
	})
}
