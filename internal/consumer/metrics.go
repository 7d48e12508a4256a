package consumer

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The runtime is a prometheus.Collector: register it with a registry to
// export these. Counting happens in per-partition shards that only their
// worker writes, and is summed when scraped: shared counters and a shared
// histogram, updated by every worker for every record, cost more than a
// fast handler does.
var (
	descHandled = prometheus.NewDesc("kgate_handle_records_handled_total",
		"Records handled successfully (outputs published).", []string{"handler"}, nil)
	descFailed = prometheus.NewDesc("kgate_handle_attempts_failed_total",
		"Handling attempts that failed.", []string{"handler"}, nil)
	descRetried = prometheus.NewDesc("kgate_handle_retries_total",
		"Handling attempts retried after a failure.", []string{"handler"}, nil)
	descDeadLettered = prometheus.NewDesc("kgate_handle_records_dead_lettered_total",
		"Records sent to the dead-letter topic, by reason.", []string{"handler", "reason"}, nil)
	descOutputs = prometheus.NewDesc("kgate_handle_outputs_total",
		"Output records published.", []string{"handler"}, nil)
	descDuration = prometheus.NewDesc("kgate_handle_duration_seconds",
		"Time from taking a record to its commit-ready outcome (retries and output publishing included), by outcome.",
		[]string{"handler", "outcome"}, nil)
	descLag = prometheus.NewDesc("kgate_handle_lag_records",
		"Records behind the partition's high watermark (not yet handled).", []string{"topic", "partition"}, nil)
	descInFlight = prometheus.NewDesc("kgate_handle_in_flight",
		"Records being handled now.", nil, nil)
	descPartitions = prometheus.NewDesc("kgate_handle_partitions",
		"Partitions assigned to this worker.", nil, nil)
	descCommits = prometheus.NewDesc("kgate_handle_commits_total",
		"Offset commits, by result.", []string{"result"}, nil)
)

// durationBuckets are the upper bounds of kgate_handle_duration_seconds.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

var reasons = [...]string{ReasonMalformed, ReasonPermanent, ReasonExhausted, ReasonPanic}

func reasonIndex(r string) int {
	for i, x := range reasons {
		if x == r {
			return i
		}
	}
	return len(reasons) - 1
}

const (
	outcomeHandled = iota
	outcomeDeadLettered
)

// counters are one worker's counts. Only the worker writes them (the
// atomics make reads from a scrape safe); retired workers' counts are
// added to the runtime's own set.
type counters struct {
	handled, failed, retried, outputs, inFlight atomic.Int64
	dead                                        [len(reasons)]atomic.Int64
	dur                                         [2]histogram
}

// histogram is a single-writer latency histogram: per-bucket counts (not
// cumulative; the last is +Inf), their total and the sum.
type histogram struct {
	buckets [17]atomic.Uint64 // len(durationBuckets)+1
	count   atomic.Uint64
	sum     atomic.Int64 // nanoseconds
}

// observeN records n observations of d.
func (h *histogram) observeN(d time.Duration, n uint64) {
	if n == 0 {
		return
	}
	s := d.Seconds()
	i := 0
	for i < len(durationBuckets) && s > durationBuckets[i] {
		i++
	}
	h.buckets[i].Add(n)
	h.sum.Add(int64(d) * int64(n))
	h.count.Add(n)
}

func (h *histogram) addTo(o *histogram) {
	for i := range h.buckets {
		o.buckets[i].Add(h.buckets[i].Load())
	}
	o.sum.Add(h.sum.Load())
	o.count.Add(h.count.Load())
}

// addTo adds c's counts to o (a retired worker's to the runtime's).
func (c *counters) addTo(o *counters) {
	o.handled.Add(c.handled.Load())
	o.failed.Add(c.failed.Load())
	o.retried.Add(c.retried.Load())
	o.outputs.Add(c.outputs.Load())
	for i := range c.dead {
		o.dead[i].Add(c.dead[i].Load())
	}
	for i := range c.dur {
		c.dur[i].addTo(&o.dur[i])
	}
}

// sumCounters adds every count into sum and returns the records in
// flight. r.mu must be held.
func (r *Runtime) sumCounters(sum *counters) (inFlight int64) {
	r.retired.addTo(sum)
	for c := range r.shards {
		c.addTo(sum)
		inFlight += c.inFlight.Load()
	}
	return inFlight
}

// Describe implements prometheus.Collector.
func (r *Runtime) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHandled, descFailed, descRetried, descDeadLettered, descOutputs,
		descDuration, descLag, descInFlight, descPartitions, descCommits} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (r *Runtime) Collect(ch chan<- prometheus.Metric) {
	var sum counters
	type lag struct {
		topic     string
		partition int32
		n         int64
	}
	var lags []lag
	r.mu.Lock()
	inFlight := r.sumCounters(&sum)
	for _, w := range r.workers {
		lags = append(lags, lag{w.tp.topic, w.tp.partition, w.lag()})
	}
	partitions := len(r.workers)
	r.mu.Unlock()

	h := r.o.HandlerName
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descHandled, sum.handled.Load(), h)
	counter(descFailed, sum.failed.Load(), h)
	counter(descRetried, sum.retried.Load(), h)
	counter(descOutputs, sum.outputs.Load(), h)
	for i, reason := range reasons {
		counter(descDeadLettered, sum.dead[i].Load(), h, reason)
	}
	for i, outcome := range []string{"handled", "dead_lettered"} {
		hs := &sum.dur[i]
		cum := make(map[float64]uint64, len(durationBuckets))
		var acc uint64
		for j, ub := range durationBuckets {
			acc += hs.buckets[j].Load()
			cum[ub] = acc
		}
		ch <- prometheus.MustNewConstHistogram(descDuration, hs.count.Load(), time.Duration(hs.sum.Load()).Seconds(), cum, h, outcome)
	}
	for _, l := range lags {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(l.n), l.topic, strconv.Itoa(int(l.partition)))
	}
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(inFlight))
	ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(partitions))
	counter(descCommits, r.commitsOK.Load(), "ok")
	counter(descCommits, r.commitsFailed.Load(), "error")
}
