package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// BenchmarkTracingOverhead measures v2 produce throughput (8 concurrent
// clients, one record per request, open mode) through four doors in the
// same run, interleaved in batches in a random order every round
// (compareDoors, as BenchmarkAuthOverhead):
//
//	off         tracing off, no traceparent
//	propagate   tracing off, a traceparent on each request (carried
//	            into the record's headers, no span)
//	on          tracing on (every trace sampled, exported to a receiver
//	            on loopback that reads and discards), no traceparent
//	on_parent   tracing on, a sampled traceparent on each request
//
// and reports each as a percentage of off's throughput (median of the
// rounds). Run:
//
//	go test -run '^$' -bench TracingOverhead -benchtime 8000x ./internal/app/
func BenchmarkTracingOverhead(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(sink.Close)
	off := testutil.StartGateway(b, nil)
	on := testutil.StartGateway(b, func(c *config.Config) {
		c.Tracing.OTLPEndpoint = sink.URL
		c.Tracing.ExportInterval = config.Duration(time.Second)
	})
	doors := []*door{
		{name: "off", url: off.URL + "/topics/bench-off"},
		{name: "propagate", url: off.URL + "/topics/bench-propagate", header: http.Header{"Traceparent": {incoming}}},
		{name: "on", url: on.URL + "/topics/bench-on"},
		{name: "on_parent", url: on.URL + "/topics/bench-on-parent", header: http.Header{"Traceparent": {incoming}}},
	}
	m := compareDoors(b, doors)
	if m == nil {
		return // the framework's probing run
	}
	fmt.Fprintf(os.Stderr, "tracing overhead (median of %d rounds): off %.0f req/s; propagate %.1f%%, on %.1f%%, on_parent %.1f%% of off\n",
		len(doors[0].ratios), doors[0].rate(), m[1], m[2], m[3])
}
