package stream

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the streaming pipeline's instruments (KVS upload metrics are
// kvs.Metrics). They are safe for concurrent use.
type Metrics struct {
	Frames          prometheus.Counter     // encoded frames handed to the sinks
	Bytes           prometheus.Counter     // encoded bytes handed to the sinks
	Bitrate         prometheus.Gauge       // encoded bits per second over the last second of video
	FPS             prometheus.Gauge       // frames per second of wall-clock time, measured each second
	Fragments       *prometheus.CounterVec // sink: mkv, kvs, hls (clusters or segments)
	ForcedCuts      prometheus.Counter     // fragments cut without a keyframe (10 s limit)
	EncoderFailures prometheus.Counter     // encoder processes that failed
}

// NewMetrics creates the instruments and registers them on reg (nil:
// unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_stream_frames_total", Help: "Encoded video frames handed to the sinks.",
		}),
		Bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_stream_encoded_bytes_total", Help: "Encoded video bytes handed to the sinks.",
		}),
		Bitrate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kgate_stream_bitrate_bits_per_second", Help: "Encoded bitrate over the last second of video.",
		}),
		FPS: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kgate_stream_frames_per_second", Help: "Frames encoded per second of wall-clock time.",
		}),
		Fragments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_stream_fragments_total", Help: "Fragments produced, by sink (kvs and mkv: Matroska clusters; hls: segments).",
		}, []string{"sink"}),
		ForcedCuts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_stream_forced_cuts_total", Help: "Fragments cut at a non-keyframe to stay within 10 s.",
		}),
		EncoderFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_stream_encoder_failures_total", Help: "Encoder processes that failed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Frames, m.Bytes, m.Bitrate, m.FPS, m.Fragments, m.ForcedCuts, m.EncoderFailures)
	}
	return m
}
