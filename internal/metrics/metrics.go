// Package metrics builds kgate's private Prometheus registry and the
// instruments shared across components. Names follow
// kgate_<subsystem>_<name>_<unit>; labels are route patterns and other
// bounded values, never raw paths, topics or principals.
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/plugin/kprom"
)

// Metrics holds the registry and the shared instruments. It is safe for
// concurrent use.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests *prometheus.CounterVec   // route, method, code
	HTTPDuration *prometheus.HistogramVec // route, method
	HTTPInFlight prometheus.Gauge

	RecordsProduced *prometheus.CounterVec // api
	BytesProduced   *prometheus.CounterVec // api
	RecordsConsumed *prometheus.CounterVec // api
	BytesConsumed   *prometheus.CounterVec // api

	ConsumerInstances prometheus.Gauge
	// ConsumerForwarded counts v2 consumer requests sent to the replica
	// holding the instance, by outcome (answered, unreachable);
	// ConsumerRecreated the instances created again on this replica
	// because the one holding them was gone; ConsumerHandedOver those
	// this replica released for another to take as it drained.
	ConsumerForwarded  *prometheus.CounterVec
	ConsumerRecreated  prometheus.Counter
	ConsumerHandedOver prometheus.Counter

	// TracingSpans counts spans by outcome (exported, dropped, failed).
	TracingSpans *prometheus.CounterVec

	// Kafka is franz-go's client instrumentation (kgo hooks).
	Kafka *kprom.Metrics
}

// NewRegistry returns a private registry with the Go runtime and process
// collectors: what every kgate process exports.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewKafka returns franz-go's client instrumentation (kgate_kafka_*),
// registered in reg, to pass as a hook to one client.
func NewKafka(reg *prometheus.Registry) *kprom.Metrics {
	return kprom.NewMetrics("kgate", kprom.Registerer(reg), kprom.Gatherer(reg), kprom.Subsystem("kafka"))
}

// New builds a registry (NewRegistry) with the gateway's instruments
// registered.
func New() *Metrics {
	reg := NewRegistry()
	m := &Metrics{
		Registry: reg,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kgate_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		HTTPInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kgate_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		RecordsProduced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_produce_records_total", Help: "Records acknowledged by Kafka, by API.",
		}, []string{"api"}),
		BytesProduced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_produce_bytes_total", Help: "Key and value bytes acknowledged by Kafka, by API.",
		}, []string{"api"}),
		RecordsConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_consume_records_total", Help: "Records returned to HTTP consumers, by API.",
		}, []string{"api"}),
		BytesConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_consume_bytes_total", Help: "Key and value bytes returned to HTTP consumers, by API.",
		}, []string{"api"}),
		ConsumerInstances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kgate_consumer_instances", Help: "Live v2 consumer instances on this node.",
		}),
		ConsumerForwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_consumer_forwarded_requests_total", Help: "v2 consumer requests forwarded to the replica holding the instance, by outcome (answered, unreachable).",
		}, []string{"outcome"}),
		ConsumerRecreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_consumer_instances_recreated_total", Help: "v2 consumer instances created again on this node from their definition because the replica holding them was gone.",
		}),
		ConsumerHandedOver: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_consumer_instances_handed_over_total", Help: "v2 consumer instances this node released, as it drained, for another replica to create again at the committed offsets.",
		}),
	}
	reg.MustRegister(m.HTTPRequests, m.HTTPDuration, m.HTTPInFlight, m.RecordsProduced, m.BytesProduced,
		m.RecordsConsumed, m.BytesConsumed, m.ConsumerInstances, m.ConsumerForwarded, m.ConsumerRecreated, m.ConsumerHandedOver)
	m.TracingSpans = NewTracingSpans(reg)
	m.Kafka = NewKafka(reg)
	return m
}

// NewTracingSpans registers and returns the count of spans by outcome
// (exported, dropped, failed), for kgate serve and kgate handle alike.
func NewTracingSpans(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kgate_tracing_spans_total", Help: "Spans by outcome: exported, dropped (the export queue was full), failed (the collector refused them or did not answer).",
	}, []string{"outcome"})
	reg.MustRegister(c)
	return c
}

// LogDropped exports dropped, the process log's count of lines it dropped
// because its output could not keep up, as kgate_log_dropped_lines_total.
func (m *Metrics) LogDropped(dropped func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "kgate_log_dropped_lines_total", Help: "Log lines dropped because the log output could not keep up.",
	}, func() float64 { return float64(dropped()) }))
}

// Admission exports the HTTP admission's shed requests
// (kgate_http_shed_requests_total) and its queue (kgate_http_queued_requests).
func (m *Metrics) Admission(shed func() uint64, queued func() int64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "kgate_http_shed_requests_total", Help: "Requests answered 503 because the node was serving http.max_concurrent_requests and its queue was full or the wait ran out.",
	}, func() float64 { return float64(shed()) }), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kgate_http_queued_requests", Help: "Requests waiting for one of http.max_concurrent_requests.",
	}, func() float64 { return float64(queued()) }))
}

// FastPath exports how many connections the HTTP/1.1 fast loop handed to
// the standard server (kgate_http_connections_handed_over_total): a
// share close to every connection means clients mostly send what the
// loop leaves to the standard server (chunked bodies, GETs).
func (m *Metrics) FastPath(handed func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "kgate_http_connections_handed_over_total", Help: "Connections the HTTP/1.1 fast loop (http.fast_path) handed to the standard server, at their first request it does not serve.",
	}, func() float64 { return float64(handed()) }))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Child is one series of a counter vector, looked up at its first use
// and kept: the series appears once it counts, as with WithLabelValues
// at each use, without hashing the labels every time. It is safe for
// concurrent use.
type Child struct {
	vec    *prometheus.CounterVec
	labels []string
	c      atomic.Pointer[prometheus.Counter]
}

// NewChild returns vec's series of labels, looked up at its first Add.
func NewChild(vec *prometheus.CounterVec, labels ...string) *Child {
	return &Child{vec: vec, labels: labels}
}

// Add adds v to the series (nothing on a nil Child).
func (c *Child) Add(v float64) {
	if c == nil {
		return
	}
	p := c.c.Load()
	if p == nil {
		cc := c.vec.WithLabelValues(c.labels...)
		p = &cc
		c.c.Store(p)
	}
	(*p).Add(v)
}

// statusWriter is implemented by the chain's response writer.
type statusWriter interface{ Status() int }

// Instrument counts and times requests to one route. w must expose
// Status() after next returns (httpapi's ResponseWriter does).
func (m *Metrics) Instrument(route, method string, next http.Handler) http.Handler {
	dur := m.HTTPDuration.WithLabelValues(route, method)
	// Most answers are 200s: their counter is looked up once, at the
	// first (so routes that never answer 200 export no such series).
	var ok atomic.Pointer[prometheus.Counter]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.HTTPInFlight.Inc()
		defer m.HTTPInFlight.Dec()
		next.ServeHTTP(w, r)
		code := http.StatusOK
		if sw, ok := w.(statusWriter); ok && sw.Status() != 0 {
			code = sw.Status()
		}
		dur.Observe(time.Since(start).Seconds())
		if code == http.StatusOK {
			c := ok.Load()
			if c == nil {
				cc := m.HTTPRequests.WithLabelValues(route, method, "200")
				c = &cc
				ok.Store(c)
			}
			(*c).Inc()
			return
		}
		m.HTTPRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	})
}
