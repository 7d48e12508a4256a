package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/tracing"
)

const testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// traceDoors are the Trace middleware in its three costs: off without a
// traceparent, off with one (propagation only), on (a span per request;
// nothing exports here, so the queue fills and drops).
func traceDoors(tb testing.TB) map[string]http.Handler {
	tb.Helper()
	cfg := config.Default().Tracing
	cfg.OTLPEndpoint = "http://127.0.0.1:1"
	on, err := tracing.New(cfg, tracing.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	rt := Route{Method: "POST", Pattern: "/topics/{topic}"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	return map[string]http.Handler{"off": Trace(nil)(rt, h), "on": Trace(on)(rt, h)}
}

// TestTraceOff: with tracing off a request without a traceparent costs no
// allocation, and one with a traceparent reaches the handler's context.
func TestTraceOff(t *testing.T) {
	var got trace.SpanContext
	h := Trace(nil)(Route{Method: "GET", Pattern: "/x"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = trace.SpanContextFromContext(r.Context())
	}))
	r := httptest.NewRequest("GET", "/x", nil)
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("tracing off: %v allocations per request", n)
	}
	if got.IsValid() || w.Header().Get("Traceparent") != "" {
		t.Errorf("a trace without a traceparent: %v", got)
	}
	r.Header.Set("Traceparent", testTraceparent)
	h.ServeHTTP(w, r)
	if got.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || w.Header().Get("Traceparent") != "" {
		t.Errorf("propagated %v, answer %q", got, w.Header().Get("Traceparent"))
	}
}

// BenchmarkTrace is the middleware's own cost per request. Run:
//
//	go test -run '^$' -bench Trace -benchmem ./internal/httpapi/
func BenchmarkTrace(b *testing.B) {
	doors := traceDoors(b)
	for _, c := range []struct {
		name, door, traceparent string
	}{{"off", "off", ""}, {"off_traceparent", "off", testTraceparent}, {"on", "on", ""}, {"on_traceparent", "on", testTraceparent}} {
		b.Run(c.name, func(b *testing.B) {
			h := doors[c.door]
			r := httptest.NewRequest("POST", "/topics/t", nil)
			if c.traceparent != "" {
				r.Header.Set("Traceparent", c.traceparent)
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}
