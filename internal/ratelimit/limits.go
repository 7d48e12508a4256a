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
