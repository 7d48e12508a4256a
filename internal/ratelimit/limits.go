package ratelimit

import "github.com/kgate/kgate/internal/config"

// Limits are one principal's rate limits and daily quotas. Zero means
// unlimited.
type Limits struct {
	RequestsPerSecond float64
	RequestBurst      int
	BytesPerSecond    float64
	ByteBurst         int64
	DailyRequests     int64
	DailyBytes        int64
	// Weekly (ISO week, from Monday 00:00 UTC) and monthly (calendar
	// month, UTC) quotas: a usage plan's.
	WeeklyRequests  int64
	WeeklyBytes     int64
	MonthlyRequests int64
	MonthlyBytes    int64
}

// hasQuota reports whether any period quota applies.
func (l Limits) hasQuota() bool {
	return l.DailyRequests > 0 || l.DailyBytes > 0 || l.WeeklyRequests > 0 || l.WeeklyBytes > 0 || l.MonthlyRequests > 0 || l.MonthlyBytes > 0
}

// hasByteQuota reports whether a byte quota applies.
func (l Limits) hasByteQuota() bool {
	return l.DailyBytes > 0 || l.WeeklyBytes > 0 || l.MonthlyBytes > 0
}

// Override changes some of the defaults for one user (the users file's
// limits entry); nil fields keep the default, zero means unlimited.
type Override struct {
	RequestsPerSecond *float64
	RequestBurst      *int
	BytesPerSecond    *float64
	ByteBurst         *int64
	DailyRequests     *int64
	DailyBytes        *int64
}

// FromConfig returns the default limits of the configuration.
func FromConfig(c config.Limits) Limits {
	return Limits{
		RequestsPerSecond: c.RequestsPerSecond,
		RequestBurst:      c.RequestBurst,
		BytesPerSecond:    float64(c.BytesPerSecond),
		ByteBurst:         int64(c.ByteBurst),
		DailyRequests:     c.DailyRequests,
		DailyBytes:        int64(c.DailyBytes),
	}
}

// FromPlan returns a usage plan's limits (its route overrides aside).
func FromPlan(p config.Plan) Limits {
	return Limits{
		RequestsPerSecond: p.RequestsPerSecond,
		RequestBurst:      p.RequestBurst,
		BytesPerSecond:    float64(p.BytesPerSecond),
		ByteBurst:         int64(p.ByteBurst),
		DailyRequests:     p.DailyRequests,
		DailyBytes:        int64(p.DailyBytes),
		WeeklyRequests:    p.WeeklyRequests,
		WeeklyBytes:       int64(p.WeeklyBytes),
		MonthlyRequests:   p.MonthlyRequests,
		MonthlyBytes:      int64(p.MonthlyBytes),
	}
}

// WithRates returns l with the rates r sets (a plan's route class).
func (l Limits) WithRates(r config.PlanRates) Limits {
	if r.RequestsPerSecond > 0 {
		l.RequestsPerSecond = r.RequestsPerSecond
	}
	if r.RequestBurst > 0 {
		l.RequestBurst = r.RequestBurst
	}
	if r.BytesPerSecond > 0 {
		l.BytesPerSecond = float64(r.BytesPerSecond)
	}
	if r.ByteBurst > 0 {
		l.ByteBurst = int64(r.ByteBurst)
	}
	return l
}

// With returns l changed by o.
func (l Limits) With(o *Override) Limits {
	if o == nil {
		return l
	}
	if o.RequestsPerSecond != nil {
		l.RequestsPerSecond = *o.RequestsPerSecond
	}
	if o.RequestBurst != nil {
		l.RequestBurst = *o.RequestBurst
	}
	if o.BytesPerSecond != nil {
		l.BytesPerSecond = *o.BytesPerSecond
	}
	if o.ByteBurst != nil {
		l.ByteBurst = *o.ByteBurst
	}
	if o.DailyRequests != nil {
		l.DailyRequests = *o.DailyRequests
	}
	if o.DailyBytes != nil {
		l.DailyBytes = *o.DailyBytes
	}
	return l
}

// requestBurst is the bucket size for requests: the configured burst, or
// one second's worth (at least 1).
func (l Limits) requestBurst() int {
	if l.RequestBurst > 0 {
		return l.RequestBurst
	}
	b := int(l.RequestsPerSecond)
	if b < 1 {
		b = 1
	}
	return b
}

// byteBurst is the bucket size for bytes: the configured burst, or one
// second's worth (at least 1).
func (l Limits) byteBurst() int64 {
	if l.ByteBurst > 0 {
		return l.ByteBurst
	}
	b := int64(l.BytesPerSecond)
	if b < 1 {
		b = 1
	}
	return b
}
