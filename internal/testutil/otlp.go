package testutil

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Collector is an OTLP/HTTP trace receiver on loopback: it decodes the
// export requests it gets (protobuf, at /v1/traces) with OpenTelemetry's
// own collector types. It is safe for concurrent use.
type Collector struct {
	// URL is the endpoint to configure (tracing.otlp_endpoint).
	URL string

	mu       sync.Mutex
	spans    []Span
	requests int
	header   http.Header // of the last export
}

// Span is one received span with its resource's service.instance.id.
type Span struct {
	Node  string
	Proto *tracepb.Span
}

// TraceID, SpanID and ParentID are the span's ids in hex.
func (s Span) TraceID() string  { return hex.EncodeToString(s.Proto.TraceId) }
func (s Span) SpanID() string   { return hex.EncodeToString(s.Proto.SpanId) }
func (s Span) ParentID() string { return hex.EncodeToString(s.Proto.ParentSpanId) }

// Attr returns a string or integer attribute's value as text, or "".
func (s Span) Attr(key string) string {
	for _, kv := range s.Proto.Attributes {
		if kv.Key == key {
			if v := kv.Value.GetStringValue(); v != "" {
				return v
			}
			return fmt.Sprint(kv.Value.GetIntValue())
		}
	}
	return ""
}

// StartCollector starts a Collector, closed at cleanup.
func StartCollector(t testing.TB) *Collector {
	t.Helper()
	c := &Collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Errorf("collector: undecodable export: %v", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.requests++
		c.header = r.Header.Clone()
		for _, rs := range req.ResourceSpans {
			node := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.instance.id" {
					node = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans = append(c.spans, Span{Node: node, Proto: s})
				}
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Spans returns the spans received so far.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Requests returns how many exports were received.
func (c *Collector) Requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// Header returns the headers of the last export.
func (c *Collector) Header() http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.header.Clone()
}

// WaitFor waits up to 15 s until the spans received satisfy ok, and
// returns them; it fails the test (listing what came) otherwise.
func (c *Collector) WaitFor(t testing.TB, what string, ok func([]Span) bool) []Span {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		spans := c.Spans()
		if ok(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range spans {
				names = append(names, s.Proto.Name+"@"+s.TraceID())
			}
			t.Fatalf("collector: no %s among %d spans: %v", what, len(spans), names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
