package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// named returns the spans of trace named name.
func named(spans []testutil.Span, trace, name string) []testutil.Span {
	var out []testutil.Span
	for _, s := range spans {
		if s.TraceID() == trace && s.Proto.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func tracingOn(c *testutil.Collector) func(*config.Config) {
	return func(cfg *config.Config) {
		cfg.Tracing.OTLPEndpoint = c.URL
		cfg.Tracing.ExportInterval = config.Duration(50 * time.Millisecond)
	}
}

const (
	traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentID = "00f067aa0ba902b7"
)

var incoming = "00-" + traceID + "-" + parentID + "-01"

// recordHeaders reads the record at offset of topic's partition 0 from
// the broker and returns its headers.
func recordHeaders(t testing.TB, g *testutil.Gateway, topic string, offset int64) map[string]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(offset)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s@%d: %v", topic, offset, err)
		}
		for _, r := range fs.Records() {
			hs := map[string]string{}
			for _, h := range r.Headers {
				hs[h.Key] = string(h.Value)
			}
			return hs
		}
	}
}

// TestTracingProduceConsume: a request's traceparent reaches the record
// it produces (as a child of the request's server span, exported with the
// caller's trace id and parent), a record's own traceparent is kept, and
// consuming the record through a v2 consumer instance and through a push
// stream gives "process" spans in the producer's trace. A malformed
// traceparent starts a new trace and is no error.
func TestTracingProduceConsume(t *testing.T) {
	col := testutil.StartCollector(t)
	g := testutil.StartGateway(t, tracingOn(col))

	r := produceV2(t, g, "traced", "Traceparent", incoming, "Tracestate", "vendor=abc")
	if r.status != 200 {
		t.Fatalf("produce: %d %s", r.status, r.body)
	}
	tp := r.header.Get("Traceparent")
	if !strings.HasPrefix(tp, "00-"+traceID+"-") || strings.Contains(tp, parentID) {
		t.Errorf("answer's traceparent %q: want the caller's trace, kgate's span", tp)
	}
	spans := col.WaitFor(t, "server span of the produce", func(s []testutil.Span) bool { return len(named(s, traceID, "POST /topics/{topic}")) > 0 })
	server := named(spans, traceID, "POST /topics/{topic}")[0]
	if server.ParentID() != parentID || server.Proto.Kind != tracepb.Span_SPAN_KIND_SERVER || server.Attr("http.response.status_code") != "200" ||
		server.Attr("http.route") != "/topics/{topic}" || server.Node == "" {
		t.Errorf("server span: parent %s kind %v status %s route %s node %q", server.ParentID(), server.Proto.Kind,
			server.Attr("http.response.status_code"), server.Attr("http.route"), server.Node)
	}
	for _, kv := range server.Proto.Attributes {
		if strings.Contains(kv.Key, "principal") || strings.Contains(kv.Key, "user") {
			t.Errorf("server span has attribute %s", kv.Key)
		}
	}
	hs := recordHeaders(t, g, "traced", 0)
	if want := "00-" + traceID + "-" + server.SpanID() + "-01"; hs["traceparent"] != want || hs["tracestate"] != "vendor=abc" {
		t.Errorf("record headers %v: want traceparent %s and the tracestate", hs, want)
	}

	// A record that has its own traceparent keeps it (v3 produce).
	own := "00-11111111111111111111111111111111-2222222222222222-01"
	body := `{"value":{"type":"JSON","data":1},"headers":[{"name":"traceparent","value":"` + b64(own) + `"}]}`
	r = do(t, "POST", g.URL+"/v3/clusters/"+g.Config.Broker.ClusterID+"/topics/traced/records", body,
		"Content-Type", "application/json", "Traceparent", incoming)
	if r.status != 200 {
		t.Fatalf("v3 produce: %d %s", r.status, r.body)
	}
	if hs := recordHeaders(t, g, "traced", 1); hs["traceparent"] != own {
		t.Errorf("a record's own traceparent became %q", hs["traceparent"])
	}

	// Malformed: a new trace, the request succeeds.
	r = produceV2(t, g, "traced", "Traceparent", "00-zzzz-not-a-trace")
	if r.status != 200 {
		t.Fatalf("produce with a malformed traceparent: %d %s", r.status, r.body)
	}
	hs = recordHeaders(t, g, "traced", 2)
	if p := hs["traceparent"]; len(p) != 55 || strings.Contains(p, traceID) || strings.Contains(p, "zzzz") {
		t.Errorf("after a malformed traceparent the record carries %q, want a new trace", p)
	}

	// A v2 consumer instance reads the three records.
	ctl := func(method, path, body string) response {
		t.Helper()
		return do(t, method, g.URL+path, body, "Content-Type", mtV2)
	}
	if r := ctl("POST", "/consumers/tg", `{"name":"c1","format":"json","auto.offset.reset":"earliest"}`); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := ctl("POST", "/consumers/tg/instances/c1/subscription", `{"topics":["traced"]}`); r.status != 204 {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	read := 0
	deadline := time.Now().Add(15 * time.Second)
	for read < 3 && time.Now().Before(deadline) {
		r := do(t, "GET", g.URL+"/consumers/tg/instances/c1/records?timeout=500", "", "Accept", mtJSONv2)
		if r.status != 200 {
			t.Fatalf("read: %d %s", r.status, r.body)
		}
		read += strings.Count(string(r.body), `"offset"`)
	}
	if read < 3 {
		t.Fatalf("read %d of 3 records", read)
	}
	isConsumer := func(by string) func([]testutil.Span) bool {
		return func(s []testutil.Span) bool {
			for _, p := range named(s, traceID, "process traced") {
				if p.Attr("kgate.consumer") == by {
					return true
				}
			}
			return false
		}
	}
	spans = col.WaitFor(t, "v2 process span", isConsumer("v2"))
	for _, p := range named(spans, traceID, "process traced") {
		if p.ParentID() != server.SpanID() || p.Proto.Kind != tracepb.Span_SPAN_KIND_CONSUMER || p.Attr("messaging.consumer.group.name") != "tg" {
			t.Errorf("process span: parent %s (want %s) kind %v group %q", p.ParentID(), server.SpanID(), p.Proto.Kind, p.Attr("messaging.consumer.group.name"))
		}
		if len(p.Proto.Links) != 1 {
			t.Errorf("process span has %d links, want the reading request's", len(p.Proto.Links))
		}
	}
	if n := len(named(spans, "11111111111111111111111111111111", "process traced")); n == 0 {
		col.WaitFor(t, "process span of the record with its own traceparent", func(s []testutil.Span) bool {
			return len(named(s, "11111111111111111111111111111111", "process traced")) > 0
		})
	}

	// A push stream reads them too.
	s := openSSE(t, streamURL(g, "traced", "from=earliest"))
	defer s.close()
	if s.status != 200 {
		t.Fatalf("stream: %d %s", s.status, s.body)
	}
	s.records(3, 15*time.Second)
	col.WaitFor(t, "push process span", isConsumer("push"))
}

// TestTracingOff: without an endpoint nothing is exported and no answer
// names a span, but a caller's traceparent still reaches its records
// unchanged; a malformed one adds nothing.
func TestTracingOff(t *testing.T) {
	col := testutil.StartCollector(t)
	g := testutil.StartGateway(t, nil)
	r := produceV2(t, g, "untraced", "Traceparent", incoming, "Tracestate", "vendor=abc")
	if r.status != 200 {
		t.Fatalf("produce: %d %s", r.status, r.body)
	}
	if tp := r.header.Get("Traceparent"); tp != "" {
		t.Errorf("answer names a span (%q) with tracing off", tp)
	}
	if hs := recordHeaders(t, g, "untraced", 0); hs["traceparent"] != incoming || hs["tracestate"] != "vendor=abc" {
		t.Errorf("record headers %v: want the caller's trace context", hs)
	}
	if r := produceV2(t, g, "untraced", "Traceparent", "01-"+traceID); r.status != 200 {
		t.Fatalf("produce with a malformed traceparent: %d %s", r.status, r.body)
	}
	if hs := recordHeaders(t, g, "untraced", 1); len(hs) != 0 {
		t.Errorf("record headers %v after a malformed traceparent, want none", hs)
	}
	if r := produceV2(t, g, "untraced"); r.status != 200 {
		t.Fatalf("produce: %d %s", r.status, r.body)
	}
	if hs := recordHeaders(t, g, "untraced", 2); len(hs) != 0 {
		t.Errorf("record headers %v without a traceparent, want none", hs)
	}
	// v3 (one record, then two in one body: the stream of records) and
	// KastleX carry it too.
	v3 := g.URL + "/v3/clusters/" + g.Config.Broker.ClusterID + "/topics/untraced/records"
	if r := do(t, "POST", v3, `{"value":{"type":"JSON","data":3}}`, "Content-Type", "application/json", "Traceparent", incoming); r.status != 200 {
		t.Fatalf("v3 produce: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", v3, `{"value":{"type":"JSON","data":4}}`+"\n"+`{"value":{"type":"JSON","data":5}}`,
		"Content-Type", "application/json", "Traceparent", incoming); r.status != 200 {
		t.Fatalf("v3 streamed produce: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/api/v1/messages/untraced/0", "6", "Content-Type", "application/binary", "Traceparent", incoming); r.status != 204 {
		t.Fatalf("KastleX produce: %d %s", r.status, r.body)
	}
	for off := int64(3); off <= 6; off++ {
		if hs := recordHeaders(t, g, "untraced", off); hs["traceparent"] != incoming {
			t.Errorf("record %d headers %v: want the caller's traceparent", off, hs)
		}
	}
	g.Stop()
	if n := col.Requests(); n != 0 {
		t.Errorf("the collector got %d exports with tracing off", n)
	}
}

// TestTracingForwarded: a v2 read through a replica that does not hold
// the instance is one trace: the edge's server span, the holder's server
// span as its child (the forwarded request carried the trace), from two
// nodes.
func TestTracingForwarded(t *testing.T) {
	col := testutil.StartCollector(t)
	a, b := replicaPair(t, "customer1:\n  produce: [c1-events]\n  fetch: [c1-events]\n  consume: [customer1-*]\nadmin:\n  admin: true\n", tracingOn(col))
	ctl := func(g *testutil.Gateway, method, path, body string, hs ...string) response {
		t.Helper()
		return do(t, method, g.URL+path, body, append([]string{"Content-Type", mtV2, "Authorization", basic("customer1")}, hs...)...)
	}
	if r := ctl(b, "POST", "/consumers/customer1-t", `{"name":"i1","format":"json","auto.offset.reset":"earliest"}`); r.status != 200 {
		t.Fatalf("create on B: %d %s", r.status, r.body)
	}
	base := "/consumers/customer1-t/instances/i1"
	r := ctl(a, "POST", base+"/subscription", `{"topics":["c1-events"]}`, "Traceparent", incoming)
	if r.status != 204 || r.header.Get("Kgate-Instance-Node") == r.header.Get("Kgate-Node") {
		t.Fatalf("subscribe through A: %d %s (holder %q, answered by %q)", r.status, r.body, r.header.Get("Kgate-Instance-Node"), r.header.Get("Kgate-Node"))
	}
	edgeNode, holderNode := r.header.Get("Kgate-Node"), r.header.Get("Kgate-Instance-Node")
	if tp := r.header.Get("Traceparent"); !strings.Contains(tp, traceID) {
		t.Errorf("forwarded answer's traceparent %q", tp)
	}
	name := "POST /consumers/{group}/instances/{instance}/subscription"
	spans := col.WaitFor(t, "server spans of both replicas", func(s []testutil.Span) bool { return len(named(s, traceID, name)) == 2 })
	var edge, holder testutil.Span
	for _, s := range named(spans, traceID, name) {
		switch s.Node {
		case edgeNode:
			edge = s
		case holderNode:
			holder = s
		}
	}
	if edge.Proto == nil || holder.Proto == nil {
		t.Fatalf("server spans from nodes %q and %q, want %q and %q", named(spans, traceID, name)[0].Node, named(spans, traceID, name)[1].Node, edgeNode, holderNode)
	}
	for _, s := range []testutil.Span{edge, holder} {
		for _, kv := range s.Proto.Attributes {
			if v := kv.Value.GetStringValue(); strings.Contains(v, "customer1") {
				t.Errorf("a server span names the principal: %s=%s", kv.Key, v)
			}
		}
	}
	if edge.ParentID() != parentID || holder.ParentID() != edge.SpanID() {
		t.Errorf("edge span's parent %s (want the caller's %s), holder's %s (want the edge's %s)", edge.ParentID(), parentID, holder.ParentID(), edge.SpanID())
	}
}
