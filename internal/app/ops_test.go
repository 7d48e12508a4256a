package app

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kvs"
	"github.com/kgate/kgate/internal/stream"
	"github.com/prometheus/client_golang/prometheus"
)

// TestStartOps: a worker command's /metrics serves its registry (here
// the stream and KVS instruments), through the shared ops routes.
func TestStartOps(t *testing.T) {
	reg := prometheus.NewRegistry()
	sm := stream.NewMetrics(reg)
	km := kvs.NewMetrics(reg)
	sm.Frames.Add(3)
	km.AckErrors.WithLabelValues("4006").Inc()
	km.AckLatency.WithLabelValues("persisted").Observe(0.2)
	addr, stop, err := StartOps("127.0.0.1:0", reg, nil, config.Default().HTTP, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"kgate_stream_frames_total 3", `kgate_stream_kvs_ack_errors_total{error_id="4006"} 1`, "kgate_stream_kvs_ack_latency_seconds"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
