package tracing

import (
	"context"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The W3C Trace Context headers, as HTTP headers (canonical form) and as
// Kafka record headers (lower case, as the specification writes them and
// as OpenTelemetry's Kafka instrumentations use them).
const (
	HTTPTraceparent   = "Traceparent"
	HTTPTracestate    = "Tracestate"
	RecordTraceparent = "traceparent"
	RecordTracestate  = "tracestate"
)

// w3c is the one propagator: W3C Trace Context, nothing else (no
// baggage: it would carry the caller's data into every record).
var w3c propagation.TraceContext

// Extract returns ctx carrying the trace context of an HTTP request's
// headers. A missing or malformed traceparent leaves ctx as it is: the
// request starts a new trace, it is never refused for it. It costs one
// map lookup when the header is absent.
func Extract(ctx context.Context, h http.Header) context.Context {
	if len(h[HTTPTraceparent]) == 0 {
		return ctx
	}
	return w3c.Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject sets ctx's trace context, if any, in the headers of an outgoing
// HTTP request.
func Inject(ctx context.Context, h http.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	w3c.Inject(ctx, propagation.HeaderCarrier(h))
}

// RecordHeaders returns the record headers that carry ctx's trace
// context (traceparent, and tracestate when there is one), or nil when
// ctx has none. Callers producing many records compute it once.
func RecordHeaders(ctx context.Context) []kgo.RecordHeader {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	hs := []kgo.RecordHeader{{Key: RecordTraceparent, Value: traceparent(sc)}}
	if ts := sc.TraceState().String(); ts != "" {
		hs = append(hs, kgo.RecordHeader{Key: RecordTracestate, Value: []byte(ts)})
	}
	return hs
}

// traceparent formats sc as a version 00 traceparent.
func traceparent(sc trace.SpanContext) []byte {
	const hexdig = "0123456789abcdef"
	b := make([]byte, 0, 55)
	b = append(b, '0', '0', '-')
	tid, sid := sc.TraceID(), sc.SpanID()
	for _, c := range tid {
		b = append(b, hexdig[c>>4], hexdig[c&0xf])
	}
	b = append(b, '-')
	for _, c := range sid {
		b = append(b, hexdig[c>>4], hexdig[c&0xf])
	}
	f := byte(sc.TraceFlags() & trace.FlagsSampled)
	return append(b, '-', hexdig[f>>4], hexdig[f&0xf])
}

// AddRecordHeaders appends hs (from RecordHeaders) to r's headers unless
// r already carries a traceparent: a producer that set its own keeps it.
func AddRecordHeaders(r *kgo.Record, hs []kgo.RecordHeader) {
	r.Headers = WithRecordHeaders(r.Headers, hs)
}

// WithRecordHeaders returns headers with hs (from RecordHeaders) appended,
// unless headers already hold a traceparent.
func WithRecordHeaders(headers, hs []kgo.RecordHeader) []kgo.RecordHeader {
	if len(hs) == 0 || hasHeader(headers, RecordTraceparent) {
		return headers
	}
	// A new array: headers may share one with another record's.
	return append(headers[:len(headers):len(headers)], hs...)
}

func hasHeader(hs []kgo.RecordHeader, key string) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Key, key) {
			return true
		}
	}
	return false
}

// FromRecord returns ctx carrying the trace context of a record's
// headers, and whether it had a valid one (a malformed one is ignored).
func FromRecord(ctx context.Context, r *kgo.Record) (context.Context, bool) {
	if !hasHeader(r.Headers, RecordTraceparent) {
		return ctx, false
	}
	sc := trace.SpanContextFromContext(w3c.Extract(context.Background(), recordCarrier(r.Headers)))
	if !sc.IsValid() {
		return ctx, false
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc), true
}

// recordCarrier reads record headers for the propagator.
type recordCarrier []kgo.RecordHeader

func (c recordCarrier) Get(key string) string {
	for _, h := range c {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value)
		}
	}
	return ""
}

func (c recordCarrier) Set(string, string) {} // never written through

func (c recordCarrier) Keys() []string {
	ks := make([]string, len(c))
	for i, h := range c {
		ks[i] = h.Key
	}
	return ks
}
