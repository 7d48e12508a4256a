package consumer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the runtime's Prometheus instruments. Labels are bounded:
// the handler name (one per process), the dead-letter reason, and for
// lag the consumed topics and their partitions. It is safe for concurrent
// use.
type Metrics struct {
	Handled      *prometheus.CounterVec   // handler
	Failed       *prometheus.CounterVec   // handler: failed attempts
	Retried      *prometheus.CounterVec   // handler
	DeadLettered *prometheus.CounterVec   // handler, reason
	Outputs      *prometheus.CounterVec   // handler
	Duration     *prometheus.HistogramVec // handler, outcome
	Lag          *prometheus.GaugeVec     // topic, partition
	InFlight     prometheus.Gauge
	Partitions   prometheus.Gauge
	Commits      *prometheus.CounterVec // result
}

// NewMetrics creates the instruments and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_handle_records_handled_total", Help: "Records handled successfully (outputs published).",
		}, []string{"handler"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_handle_attempts_failed_total", Help: "Handling attempts that failed.",
		}, []string{"handler"}),
		Retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_handle_retries_total", Help: "Handling attempts that were retried after a failure.",
		}, []string{"handler"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_handle_records_dead_lettered_total", Help: "Records sent to the dead-letter topic, by reason.",
		}, []string{"handler", "reason"}),
		Outputs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_handle_outputs_total", Help: "Output records published.",
		}, []string{"handler"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kgate_handle_duration_seconds", Help: "Time from a record's first attempt to its commit-ready outcome (retries included).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"handler", "outcome"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kgate_handle_lag_records", Help: "Records behind the partition's high watermark (not yet handled).",
		}, []string{"topic", "partition"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kgate_handle_in_flight", Help: "Records being handled now.",
		}),
		Partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kgate_handle_partitions", Help: "Partitions assigned to this worker.",
		}),
		Commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_handle_commits_total", Help: "Offset commits, by result (ok or error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.Handled, m.Failed, m.Retried, m.DeadLettered, m.Outputs, m.Duration, m.Lag, m.InFlight, m.Partitions, m.Commits)
	return m
}
