package kvs

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Uploader's instruments. Register them on kgate's private
// registry with NewMetrics. They are safe for concurrent use.
type Metrics struct {
	FragmentsSent    prometheus.Counter     // every write of a fragment, resends included
	FragmentsResent  prometheus.Counter     // writes of a fragment sent before
	FragmentsAcked   *prometheus.CounterVec // event: buffering, received, persisted
	FragmentsDropped *prometheus.CounterVec // reason: buffer_full, errors
	AckErrors        *prometheus.CounterVec // error_id
	AckLatency       *prometheus.HistogramVec
	BytesSent        prometheus.Counter
	Connections      *prometheus.CounterVec // result: ok, http_error, error
	BufferedBytes    prometheus.Gauge
	BufferedFrags    prometheus.Gauge
}

// NewMetrics creates the instruments and registers them on reg (which may
// be nil for unregistered instruments, as in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		FragmentsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_stream_kvs_fragments_sent_total", Help: "Fragments written to PutMedia, resends included.",
		}),
		FragmentsResent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_stream_kvs_fragments_resent_total", Help: "Fragments written again after an error, a dropped connection or a rotation.",
		}),
		FragmentsAcked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_stream_kvs_fragments_acked_total", Help: "PutMedia acknowledgements by event (buffering, received, persisted).",
		}, []string{"event"}),
		FragmentsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_stream_kvs_fragments_dropped_total", Help: "Fragments given up on, by reason (buffer_full, errors).",
		}, []string{"reason"}),
		AckErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_stream_kvs_ack_errors_total", Help: "PutMedia ERROR acknowledgements by ErrorId.",
		}, []string{"error_id"}),
		AckLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kgate_stream_kvs_ack_latency_seconds", Help: "Time from writing a fragment's last byte to its acknowledgement, by event.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"event"}),
		BytesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_stream_kvs_bytes_sent_total", Help: "Bytes written to PutMedia bodies.",
		}),
		Connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_stream_kvs_connections_total", Help: "PutMedia connections by result (ok, http_error, error).",
		}, []string{"result"}),
		BufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kgate_stream_kvs_buffered_bytes", Help: "Bytes of fragments kept until acknowledged.",
		}),
		BufferedFrags: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kgate_stream_kvs_buffered_fragments", Help: "Fragments kept until acknowledged.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.FragmentsSent, m.FragmentsResent, m.FragmentsAcked, m.FragmentsDropped, m.AckErrors,
			m.AckLatency, m.BytesSent, m.Connections, m.BufferedBytes, m.BufferedFrags)
	}
	return m
}
