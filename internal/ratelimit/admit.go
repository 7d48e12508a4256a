package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Subject is whom a request is charged to.
type Subject struct {
	// Key names the token buckets: the principal, or for anonymous
	// callers the principal and the client address.
	Key string
	// Principal names the daily quota and the usage counters.
	Principal string
	Limits    Limits
	// Plan is the usage plan the limits come from ("": none), for the
	// per-plan metrics.
	Plan string
}

// Limiter enforces Limits per subject. It is safe for concurrent use.
type Limiter struct {
	t     *table
	usage *Usage
	idle  time.Duration

	rejected *prometheus.CounterVec
	// shares, when set, gives this node's share of a key's rates (the
	// replicas divide each limit among themselves); nil: all of it.
	shares func(key string) float64
	// demandMu guards demandAt, when Demand last counted.
	demandMu sync.Mutex
	demandAt time.Time
	// planRequests and planBytes count what each plan's subjects did
	// (the label set is auth.plans').
	planRequests, planBytes *prometheus.CounterVec
	// planMu guards planSeries: each plan's series of planRequests and
	// planBytes, kept once looked up (a lookup per request hashed the
	// label and allocated); the label set is bounded, by auth.plans.
	planMu     sync.RWMutex
	planSeries map[planSeriesKey]prometheus.Counter
}

type planSeriesKey struct {
	bytes bool // planBytes, else planRequests
	plan  string
}

// planCounter returns plan's series of planBytes (bytes) or planRequests,
// made at its first use as WithLabelValues makes it.
func (l *Limiter) planCounter(bytes bool, plan string) prometheus.Counter {
	k := planSeriesKey{bytes, plan}
	l.planMu.RLock()
	c, ok := l.planSeries[k]
	l.planMu.RUnlock()
	if ok {
		return c
	}
	vec := l.planRequests
	if bytes {
		vec = l.planBytes
	}
	c = vec.WithLabelValues(plan)
	l.planMu.Lock()
	if l.planSeries == nil {
		l.planSeries = map[planSeriesKey]prometheus.Counter{}
	}
	l.planSeries[k] = c
	l.planMu.Unlock()
	return c
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
		planRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_plan_requests_total", Help: "Requests admitted per usage plan (auth.plans).",
		}, []string{"plan"}),
		planBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_plan_bytes_total", Help: "Produce and consume bytes per usage plan (auth.plans).",
		}, []string{"plan"}),
	}
	if reg != nil {
		reg.MustRegister(l.rejected, l.planRequests, l.planBytes, &usageCollector{u: u, known: known})
	}
	return l
}

// SetShares makes the request and byte rates of each key this node's share
// of them, as share(key) (0 < share <= 1) says; call it before the first
// Admit. Quotas (daily, weekly, monthly) are counted across the replicas
// already and are not divided.
func (l *Limiter) SetShares(share func(key string) float64) { l.shares = share }

// MaxDemandKeys bounds how many keys Demand reports: the busiest.
const MaxDemandKeys = 1000

// Demand returns, per bucket key, the requests per second this node was
// asked to admit (admitted or refused) since the last call, for the keys
// that had any (the MaxDemandKeys busiest): what the replicas divide the
// limits by.
func (l *Limiter) Demand(now time.Time) map[string]float64 {
	l.demandMu.Lock()
	since := now.Sub(l.demandAt)
	l.demandAt = now
	l.demandMu.Unlock()
	counts := l.t.demand()
	if since <= 0 || since > time.Minute {
		since = time.Second // the first call: a nominal second
	}
	out := make(map[string]float64, len(counts))
	for k, n := range counts {
		out[k] = float64(n) / since.Seconds()
	}
	return busiest(out, MaxDemandKeys)
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

// Exceeded is a limit a request ran into: which one (requests, bytes,
// daily_requests, daily_bytes), when to retry, the limit's size and the
// refusal in words. It is an error.
type Exceeded struct {
	Limit      string
	RetryAfter time.Duration
	Max        int
	Message    string
}

func (e *Exceeded) Error() string { return e.Message }

// Ticket is one admitted request. What it reports (Header) becomes the
// RateLimit-* fields; Done charges what it moved.
type Ticket struct {
	l *Limiter
	s Subject
	b *buckets
	// charged counts the bytes Charge took already (Done takes the rest);
	// metering says the handler called Charge (it meters what it moves,
	// and what it refused did not move).
	charged  int64
	metering bool
	// header: the bucket size, what is left and when it is full again.
	limit     int
	remaining int64
	reset     time.Duration
	hasHeader bool
}

// Header returns the RateLimit-* values (ok false: no limit applies).
func (t *Ticket) Header() (limit int, remaining int64, reset time.Duration, ok bool) {
	return t.limit, t.remaining, t.reset, t.hasHeader
}

// Done records the request in the usage counters and charges the bytes it
// moved to the byte bucket (which may go into debt: the next request
// waits it out). A request whose handler metered its records with Charge
// is charged nothing more: moved (the body's bytes) counts only for the
// others.
func (t *Ticket) Done(end time.Time, moved int64) {
	if t == nil || t.l == nil {
		return
	}
	rest := moved
	if t.charged > 0 || t.metering {
		rest = 0
	}
	if t.b != nil {
		t.b.charge(end, rest)
	}
	t.l.usage.Add(t.s.Principal, end, 1, rest)
	if t.s.Plan != "" {
		t.l.planCounter(false, t.s.Plan).Inc()
		t.l.planCounter(true, t.s.Plan).Add(float64(rest))
	}
}

// Charge counts n bytes as they move, before the request ends (a stream's
// record, a long poll's records), so that limits hold within one long
// request and not only between requests. It returns how long the caller
// should pause before moving more (the byte rate, paid back: a stream over
// its rate is slowed, not cut off), or the daily byte quota that n would
// exceed, in which case n is not counted and must not move.
func (t *Ticket) Charge(now time.Time, n int64) (time.Duration, *Exceeded) {
	if t == nil || n <= 0 || t.l == nil {
		return 0, nil
	}
	t.metering = true
	lim := t.s.Limits
	if lim.hasByteQuota() {
		used := t.l.usage.UsedIn(t.s.Principal, now)
		for _, q := range quotas(lim, used, now) {
			if q.bytes && q.max > 0 && q.used+n > q.max {
				return 0, t.l.exceeded(q.name, q.reset, int(min(q.max, math.MaxInt32)), q.message())
			}
		}
	}
	t.charged += n
	t.l.usage.Add(t.s.Principal, now, 0, n)
	if t.s.Plan != "" {
		t.l.planCounter(true, t.s.Plan).Add(float64(n))
	}
	if t.b == nil || t.b.bytes == nil {
		return 0, nil
	}
	t.b.charge(now, n)
	if tokens := t.b.bytes.TokensAt(now); tokens < 0 {
		return time.Duration(-tokens / float64(t.b.bytes.Limit()) * float64(time.Second)), nil
	}
	return 0, nil
}

// Metered reports whether Charge can slow or refuse this ticket's
// subject (it has a byte rate or a daily byte quota): such callers charge
// each record as it moves; for the others Charge only counts, and may be
// called with sums.
func (t *Ticket) Metered() bool {
	return t != nil && t.l != nil && (t.s.Limits.BytesPerSecond > 0 || t.s.Limits.hasByteQuota())
}

// Admit checks a subject's buckets and quotas before a request runs:
// movesBytes says whether byte limits apply (the request moves records).
// Over a limit it returns the limit; a refused request takes nothing.
func (l *Limiter) Admit(s Subject, now time.Time, movesBytes bool) (Ticket, *Exceeded) {
	t := Ticket{l: l, s: s}
	lim := s.Limits
	if lim == (Limits{}) {
		return t, nil
	}
	b := l.t.get(s.Key, lim, now)
	t.b = b
	b.demand.Add(1)
	if l.shares != nil && (b.req != nil || b.bytes != nil) {
		b.scale(now, l.shares(s.Key))
	}
	if b.req != nil {
		res := b.req.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			return Ticket{}, l.exceeded("requests", d, lim.requestBurst(),
				fmt.Sprintf("Request rate limit exceeded: the limit of %s requests per second (burst %d) has been exceeded.", fmtRate(lim.RequestsPerSecond), lim.requestBurst()))
		}
		// What this node holds of the limit (its share, with replicas).
		tokens, burst := b.req.TokensAt(now), b.req.Burst()
		t.limit, t.remaining, t.reset, t.hasHeader = burst, int64(tokens), refill(tokens, float64(burst), float64(b.req.Limit())), true
	}
	if b.bytes != nil && movesBytes {
		if tokens := b.bytes.TokensAt(now); tokens < 0 {
			d := time.Duration(-tokens / float64(b.bytes.Limit()) * float64(time.Second))
			return Ticket{}, l.exceeded("bytes", d, int(min(lim.byteBurst(), math.MaxInt32)),
				fmt.Sprintf("Byte rate limit exceeded: the limit of %s bytes per second has been exceeded.", fmtRate(lim.BytesPerSecond)))
		}
	}
	if lim.hasQuota() {
		used := l.usage.UsedIn(s.Principal, now)
		for _, q := range quotas(lim, used, now) {
			if q.max <= 0 || q.used < q.max || q.bytes && !movesBytes {
				continue
			}
			return Ticket{}, l.exceeded(q.name, q.reset, int(min(q.max, math.MaxInt32)), q.message())
		}
		if b.req == nil {
			// The RateLimit-* fields show the request quota that ends
			// soonest.
			for _, q := range quotas(lim, used, now) {
				if !q.bytes && q.max > 0 {
					t.limit, t.remaining, t.reset, t.hasHeader = int(min(q.max, math.MaxInt32)), q.max-q.used-1, q.reset, true
					break
				}
			}
		}
	}
	return t, nil
}

// quota is one period quota with its usage.
type quota struct {
	name, period, resets string
	bytes                bool
	max, used            int64
	reset                time.Duration
}

func (q quota) message() string {
	what := "request"
	if q.bytes {
		what = "byte"
	}
	return fmt.Sprintf("%s %s quota of %d exceeded; it resets %s.", q.period, what, q.max, q.resets)
}

// quotas lists lim's period quotas, day first (the soonest to reset).
func quotas(lim Limits, u Used, now time.Time) []quota {
	day, week, month := untilMidnight(now), untilMonday(now), untilNextMonth(now)
	return []quota{
		{name: "daily_requests", period: "Daily", resets: "at 00:00 UTC", max: lim.DailyRequests, used: u.Day.Requests, reset: day},
		{name: "daily_bytes", period: "Daily", resets: "at 00:00 UTC", bytes: true, max: lim.DailyBytes, used: u.Day.Bytes, reset: day},
		{name: "weekly_requests", period: "Weekly", resets: "on Monday 00:00 UTC", max: lim.WeeklyRequests, used: u.Week.Requests, reset: week},
		{name: "weekly_bytes", period: "Weekly", resets: "on Monday 00:00 UTC", bytes: true, max: lim.WeeklyBytes, used: u.Week.Bytes, reset: week},
		{name: "monthly_requests", period: "Monthly", resets: "on the 1st 00:00 UTC", max: lim.MonthlyRequests, used: u.Month.Requests, reset: month},
		{name: "monthly_bytes", period: "Monthly", resets: "on the 1st 00:00 UTC", bytes: true, max: lim.MonthlyBytes, used: u.Month.Bytes, reset: month},
	}
}

func untilMonday(now time.Time) time.Duration {
	u := now.UTC()
	days := (8 - int(u.Weekday())) % 7 // Monday is 1
	if days == 0 {
		days = 7
	}
	next := time.Date(u.Year(), u.Month(), u.Day()+days, 0, 0, 0, 0, time.UTC)
	return next.Sub(u)
}

func untilNextMonth(now time.Time) time.Duration {
	u := now.UTC()
	return time.Date(u.Year(), u.Month()+1, 1, 0, 0, 0, 0, time.UTC).Sub(u)
}

func (l *Limiter) exceeded(which string, retry time.Duration, max int, msg string) *Exceeded {
	l.rejected.WithLabelValues(which).Inc()
	return &Exceeded{Limit: which, RetryAfter: retry, Max: max, Message: msg}
}

func refill(tokens, burst, perSecond float64) time.Duration {
	if tokens >= burst || perSecond <= 0 {
		return 0
	}
	return time.Duration((burst - tokens) / perSecond * float64(time.Second))
}

func untilMidnight(now time.Time) time.Duration {
	u := now.UTC()
	next := time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
	return next.Sub(u)
}

func fmtRate(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

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

type ticketKey struct{}

// TicketKey is the context key TicketFrom looks up, exported for a
// context that keeps a request's values itself (httpapi's request state
// answers it with a *Ticket); others use WithTicket.
var TicketKey any = ticketKey{}

// WithTicket returns ctx carrying the request's ticket, for handlers that
// meter what they move as it moves.
func WithTicket(ctx context.Context, t *Ticket) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}

// TicketFrom returns the ticket of ctx, or nil (whose Charge does
// nothing): requests that no limiter admitted are not metered.
func TicketFrom(ctx context.Context) *Ticket {
	t, _ := ctx.Value(ticketKey{}).(*Ticket)
	return t
}
