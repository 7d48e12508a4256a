package ratelimit

import (
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgate/kgate/internal/httpapi"
)

// Subject is whom a request is charged to.
type Subject struct {
	// Key names the token buckets: the principal, or for anonymous
	// callers the principal and the client address.
	Key string
	// Principal names the daily quota and the usage counters.
	Principal string
	Limits    Limits
}

// Limiter enforces Limits per subject. It is safe for concurrent use.
type Limiter struct {
	t     *table
	usage *Usage
	idle  time.Duration

	rejected *prometheus.CounterVec
}

// New returns a limiter counting usage in u, dropping idle buckets after
// idle, with its metrics registered on reg. known returns the principals
// whose usage is exported with their own label (the users file's); all
// others are summed under principal="_other", so that the label set stays
// bounded.
func New(u *Usage, idle time.Duration, reg prometheus.Registerer, known func() []string) *Limiter {
	l := &Limiter{
		t: newTable(), usage: u, idle: idle,
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_ratelimit_rejected_total", Help: "Requests refused with 429, by the limit that tripped.",
		}, []string{"limit"}),
	}
	if reg != nil {
		reg.MustRegister(l.rejected, &usageCollector{u: u, known: known})
	}
	return l
}

// Run evicts idle buckets until ctx is done.
func (l *Limiter) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			l.t.sweep(time.Now(), l.idle)
		}
	}
}

// countsRequestBytes and countsResponseBytes say which routes move data:
// produce is metered by the body it sends, fetch and consume by the body
// they receive.
func countsRequestBytes(action string) bool  { return action == "produce" }
func countsResponseBytes(action string) bool { return action == "fetch" || action == "consume" }

// Middleware limits every non-public route. identify names the subject of
// a request (it runs after authentication).
func (l *Limiter) Middleware(identify func(*http.Request) Subject) httpapi.Middleware {
	return func(rt httpapi.Route, next http.Handler) http.Handler {
		if rt.Public {
			return next
		}
		reqBytes, respBytes := countsRequestBytes(rt.Action), countsResponseBytes(rt.Action)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := identify(r)
			lim := s.Limits
			now := time.Now()
			var b *buckets
			if lim != (Limits{}) {
				b = l.t.get(s.Key, lim, now)
				if !l.admit(w, r, rt, s, b, now, reqBytes || respBytes) {
					return
				}
			}
			var body *countingBody
			if reqBytes && r.Body != nil {
				body = &countingBody{ReadCloser: r.Body}
				r.Body = body
			}
			rw := httpapi.WrapWriter(w)
			before := rw.Bytes()
			next.ServeHTTP(rw, r)
			var moved int64
			if body != nil {
				moved += body.n
			}
			if respBytes {
				moved += rw.Bytes() - before
			}
			end := time.Now()
			if b != nil {
				b.charge(end, moved)
			}
			l.usage.Add(s.Principal, end, 1, moved)
		})
	}
}

// admit checks the subject's buckets and quotas, writing the 429 and
// returning false when a limit is reached, and sets the RateLimit-*
// headers otherwise.
func (l *Limiter) admit(w http.ResponseWriter, r *http.Request, rt httpapi.Route, s Subject, b *buckets, now time.Time, movesBytes bool) bool {
	lim := s.Limits
	h := w.Header()
	if b.req != nil {
		res := b.req.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			l.reject(w, r, rt, "requests", d, lim.requestBurst(), 0,
				httpapi.ErrRateLimited.Msg("Request rate limit exceeded: the limit of %s requests per second (burst %d) has been exceeded.", fmtRate(lim.RequestsPerSecond), lim.requestBurst()))
			return false
		}
		tokens := b.req.TokensAt(now)
		setHeaders(h, lim.requestBurst(), int64(tokens), refill(tokens, float64(lim.requestBurst()), lim.RequestsPerSecond))
	}
	if b.bytes != nil && movesBytes {
		if tokens := b.bytes.TokensAt(now); tokens < 0 {
			d := time.Duration(-tokens / lim.BytesPerSecond * float64(time.Second))
			l.reject(w, r, rt, "bytes", d, int(min(lim.byteBurst(), math.MaxInt32)), 0,
				httpapi.ErrRateLimited.Msg("Byte rate limit exceeded: the limit of %s bytes per second has been exceeded.", fmtRate(lim.BytesPerSecond)))
			return false
		}
	}
	if lim.DailyRequests > 0 || lim.DailyBytes > 0 {
		usedReq, usedBytes := l.usage.Used(s.Principal, now)
		reset := untilMidnight(now)
		if lim.DailyRequests > 0 && usedReq >= lim.DailyRequests {
			l.reject(w, r, rt, "daily_requests", reset, int(min(lim.DailyRequests, math.MaxInt32)), 0,
				httpapi.ErrRateLimited.Msg("Daily request quota of %d exceeded; it resets at 00:00 UTC.", lim.DailyRequests))
			return false
		}
		if lim.DailyBytes > 0 && usedBytes >= lim.DailyBytes && movesBytes {
			l.reject(w, r, rt, "daily_bytes", reset, int(min(lim.DailyBytes, math.MaxInt32)), 0,
				httpapi.ErrRateLimited.Msg("Daily byte quota of %d exceeded; it resets at 00:00 UTC.", lim.DailyBytes))
			return false
		}
		if b.req == nil && lim.DailyRequests > 0 {
			setHeaders(h, int(min(lim.DailyRequests, math.MaxInt32)), lim.DailyRequests-usedReq-1, reset)
		}
	}
	return true
}

func (l *Limiter) reject(w http.ResponseWriter, r *http.Request, rt httpapi.Route, which string, retry time.Duration, limit int, remaining int64, he *httpapi.Error) {
	l.rejected.WithLabelValues(which).Inc()
	secs := ceilSeconds(retry)
	h := w.Header()
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	setHeaders(h, limit, remaining, retry)
	httpapi.WriteError(w, r, nil, rt.ErrorType, he)
}

// setHeaders writes the RateLimit-* fields (draft-ietf-httpapi-ratelimit-
// headers): the bucket size, what is left, and the seconds until it is
// full again.
func setHeaders(h http.Header, limit int, remaining int64, reset time.Duration) {
	if remaining < 0 {
		remaining = 0
	}
	h.Set("RateLimit-Limit", strconv.Itoa(limit))
	h.Set("RateLimit-Remaining", strconv.FormatInt(remaining, 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(reset), 10))
}

func refill(tokens, burst, perSecond float64) time.Duration {
	if tokens >= burst || perSecond <= 0 {
		return 0
	}
	return time.Duration((burst - tokens) / perSecond * float64(time.Second))
}

func ceilSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

func untilMidnight(now time.Time) time.Duration {
	u := now.UTC()
	next := time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
	return next.Sub(u)
}

func fmtRate(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// usageCollector exports today's usage per known principal, and the rest
// summed under "_other".
type usageCollector struct {
	u     *Usage
	known func() []string
}

var (
	usageRequestsDesc = prometheus.NewDesc("kgate_usage_requests", "Requests counted today (UTC) against the daily quota, by principal (users-file principals and anonymous; others under _other).", []string{"principal"}, nil)
	usageBytesDesc    = prometheus.NewDesc("kgate_usage_bytes", "Produce and consume bytes counted today (UTC) against the daily quota, by principal.", []string{"principal"}, nil)
)

func (c *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- usageRequestsDesc
	ch <- usageBytesDesc
}

func (c *usageCollector) Collect(ch chan<- prometheus.Metric) {
	known := map[string]bool{"anonymous": true}
	if c.known != nil {
		for _, n := range c.known() {
			known[n] = true
		}
	}
	var otherReq, otherBytes int64
	for _, pu := range c.u.Snapshot(time.Now()) {
		if !known[pu.Principal] {
			otherReq += pu.Requests
			otherBytes += pu.Bytes
			continue
		}
		ch <- prometheus.MustNewConstMetric(usageRequestsDesc, prometheus.GaugeValue, float64(pu.Requests), pu.Principal)
		ch <- prometheus.MustNewConstMetric(usageBytesDesc, prometheus.GaugeValue, float64(pu.Bytes), pu.Principal)
	}
	ch <- prometheus.MustNewConstMetric(usageRequestsDesc, prometheus.GaugeValue, float64(otherReq), "_other")
	ch <- prometheus.MustNewConstMetric(usageBytesDesc, prometheus.GaugeValue, float64(otherBytes), "_other")
}
