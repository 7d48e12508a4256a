// Package tracing carries W3C Trace Context through kgate (HTTP requests,
// produced and consumed records, requests forwarded between replicas)
// and, when configured, records OpenTelemetry spans and exports them over
// OTLP (HTTP with protobuf, or gRPC).
//
// Propagation works with tracing off too: a request's traceparent is
// extracted into its context, and records it produces carry it. Only
// spans need a Tracer that is on; a nil *Tracer is off, and every method
// is safe on it.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kgate/kgate/internal/config"
)

// scope is the instrumentation scope of kgate's spans.
const scope = "github.com/kgate/kgate"

// Tracer records kgate's spans and exports them. It is safe for
// concurrent use; a nil *Tracer records nothing.
type Tracer struct {
	tp  *sdktrace.TracerProvider
	tr  trace.Tracer
	exp *exporter
}

// Options are what New needs besides the configuration.
type Options struct {
	// Node is the replica's id (service.instance.id); Version the build's.
	Node, Version string
	// Spans counts spans by outcome: exported, dropped (queue full),
	// failed (the collector refused or was unreachable). Nil: not counted.
	Spans  *prometheus.CounterVec
	Logger *slog.Logger
}

// New returns the tracer cfg asks for: nil when tracing is off. Run it
// to export.
func New(cfg config.Tracing, o Options) (*Tracer, error) {
	if !cfg.On() {
		return nil, nil
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	headers, err := readHeaders(cfg.HeadersFile)
	if err != nil {
		return nil, err
	}
	client, err := newClient(cfg.Protocol, cfg.OTLPEndpoint, headers)
	if err != nil {
		return nil, err
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if o.Node != "" {
		attrs = append(attrs, attribute.String("service.instance.id", o.Node))
	}
	if o.Version != "" {
		attrs = append(attrs, attribute.String("service.version", o.Version))
	}
	exp := newExporter(client, cfg.QueueSize, cfg.ExportInterval.D(), o.Spans, o.Logger)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSpanProcessor(exp),
	)
	return &Tracer{tp: tp, tr: tp.Tracer(scope), exp: exp}, nil
}

// newClient returns the OTLP exporter of protocol. Retries are bounded so
// that one export never holds the queue for long; what still fails is
// counted and dropped.
func newClient(protocol config.TracingProtocol, endpoint string, headers map[string]string) (sdktrace.SpanExporter, error) {
	const timeout = 10 * time.Second
	var (
		client sdktrace.SpanExporter
		err    error
	)
	switch protocol {
	case config.TracingGRPC:
		if _, err := url.Parse(endpoint); err != nil {
			return nil, fmt.Errorf("tracing.otlp_endpoint: not a URL")
		}
		// The connection is made lazily: a collector that is down
		// fails exports, not startup.
		client, err = otlptracegrpc.New(context.Background(),
			otlptracegrpc.WithEndpointURL(endpoint),
			otlptracegrpc.WithHeaders(headers),
			otlptracegrpc.WithTimeout(timeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond,
				MaxInterval: 2 * time.Second, MaxElapsedTime: 5 * time.Second}),
		)
	default:
		var u string
		if u, err = tracesURL(endpoint); err != nil {
			return nil, err
		}
		client, err = otlptracehttp.New(context.Background(),
			otlptracehttp.WithEndpointURL(u),
			otlptracehttp.WithHeaders(headers),
			otlptracehttp.WithTimeout(timeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond,
				MaxInterval: 2 * time.Second, MaxElapsedTime: 5 * time.Second}),
		)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing exporter: %w", err)
	}
	return client, nil
}

// tracesURL is the endpoint's traces URL: /v1/traces when the endpoint
// names no path. Errors do not echo the URL.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("tracing.otlp_endpoint: not an absolute http or https URL")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// readHeaders reads "Name: value" lines; blank lines and # comments are
// skipped. Errors name the line, never its content.
func readHeaders(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tracing.headers_file: %w", err)
	}
	hs := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("tracing.headers_file %s: line %d is not \"Name: value\"", path, i+1)
		}
		hs[k] = v
	}
	return hs, nil
}

// Run exports spans until ctx ends, then exports what is queued (for at
// most five seconds) and shuts the exporter down.
func (t *Tracer) Run(ctx context.Context) error {
	if t == nil {
		<-ctx.Done()
		return nil
	}
	return t.exp.run(ctx)
}

// On reports whether spans are recorded.
func (t *Tracer) On() bool { return t != nil }

// Span kinds and attribute keys, from OpenTelemetry's semantic
// conventions.
const (
	attrMethod     = attribute.Key("http.request.method")
	attrRoute      = attribute.Key("http.route")
	attrStatus     = attribute.Key("http.response.status_code")
	attrRequestID  = attribute.Key("kgate.request_id")
	attrSystem     = attribute.Key("messaging.system")
	attrOperation  = attribute.Key("messaging.operation.type")
	attrTopic      = attribute.Key("messaging.destination.name")
	attrPartition  = attribute.Key("messaging.destination.partition.id")
	attrOffset     = attribute.Key("messaging.kafka.offset")
	attrGroup      = attribute.Key("messaging.consumer.group.name")
	attrConsumedBy = attribute.Key("kgate.consumer")
)

// StartServer starts the server span of an HTTP request for the route
// (method and pattern; name is "METHOD pattern": the span's name never
// holds a topic or an instance name), a child of ctx's trace context (the caller's, from
// Extract). Without a tracer it returns ctx and a span that records
// nothing.
func (t *Tracer) StartServer(ctx context.Context, name, method, pattern, requestID string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attrMethod.String(method), attrRoute.String(pattern), attrRequestID.String(requestID)))
}

// EndServer records the answer's status on a server span and ends it.
func EndServer(span trace.Span, status int) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attrStatus.Int(status))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// Delivered records a "process" span for each record carrying a trace
// context that a consumer (v2, push) delivered: a child of the record's
// producer, linked to ctx's span (the request or stream that read it).
// Records without a traceparent get none: the reading request's span
// stands for them.
func (t *Tracer) Delivered(ctx context.Context, consumer, group string, recs []*kgo.Record) {
	if t == nil {
		return
	}
	link := trace.LinkFromContext(ctx)
	for _, r := range recs {
		rctx, ok := FromRecord(context.Background(), r)
		if !ok {
			continue
		}
		_, span := t.tr.Start(rctx, "process "+r.Topic, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithLinks(link), trace.WithAttributes(recordAttrs(r, consumer, group)...))
		span.End()
	}
}

// StartProcess starts the span of a handler's invocation for a record
// (kgate handle): a child of the record's trace context when it has one,
// a new trace otherwise. End the span when the handler returns.
func (t *Tracer) StartProcess(ctx context.Context, r *kgo.Record, group string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx, _ = FromRecord(ctx, r)
	return t.tr.Start(ctx, "process "+r.Topic, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(recordAttrs(r, "handle", group)...))
}

// EndProcess records a handler's failure on its span and ends it.
func EndProcess(span trace.Span, err error) {
	if !span.IsRecording() {
		return
	}
	if err != nil {
		// The type only: a handler's error text may hold record data.
		span.SetStatus(codes.Error, fmt.Sprintf("%T", err))
	}
	span.End()
}

func recordAttrs(r *kgo.Record, consumer, group string) []attribute.KeyValue {
	as := []attribute.KeyValue{
		attrSystem.String("kafka"), attrOperation.String("process"), attrTopic.String(r.Topic),
		attrPartition.String(fmt.Sprint(r.Partition)), attrOffset.Int64(r.Offset), attrConsumedBy.String(consumer),
	}
	if group != "" {
		as = append(as, attrGroup.String(group))
	}
	return as
}
