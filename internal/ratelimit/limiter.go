// Package ratelimit meters and limits each principal: requests per second
// and bytes per second (token buckets from golang.org/x/time/rate, with
// bursts), and daily quotas of requests and bytes kept across restarts and
// replicas in a compacted topic. Over a limit the caller gets HTTP 429 with
// Retry-After and RateLimit-* headers at once: nobody is made to wait, so
// one tenant over its limit does not slow the others.
package ratelimit

import (
	"hash/maphash"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// buckets are one principal's token buckets.
type buckets struct {
	limits Limits
	req    *rate.Limiter // nil: unlimited
	bytes  *rate.Limiter // nil: unlimited
	// last is the last use, in unix nanos; guarded by the shard's mutex.
	last int64
	// demand counts the requests asked of this node (admitted or not)
	// since the last Demand; share is the float64 bits of the share of
	// the limits the buckets hold now (0: all of them).
	demand atomic.Int64
	share  atomic.Uint64
}

// minShareStep is the least change of share that resizes the buckets (the
// shares move a little at every heartbeat).
const minShareStep = 0.005

// scale fits the buckets to this node's share of the limits (0 < share
// <= 1): a rate times share and a burst times share (at least 1), keeping
// the tokens they hold (capped at the new burst).
func (b *buckets) scale(now time.Time, share float64) {
	if !(share > 0 && share < 1) {
		share = 1
	}
	old := math.Float64frombits(b.share.Load())
	if old == 0 {
		old = 1
	}
	if math.Abs(old-share) < minShareStep {
		return
	}
	b.share.Store(math.Float64bits(share))
	if b.req != nil {
		b.req.SetLimitAt(now, rate.Limit(b.limits.RequestsPerSecond*share))
		b.req.SetBurstAt(now, scaledBurst(int64(b.limits.requestBurst()), share))
	}
	if b.bytes != nil {
		b.bytes.SetLimitAt(now, rate.Limit(b.limits.BytesPerSecond*share))
		b.bytes.SetBurstAt(now, scaledBurst(min(b.limits.byteBurst(), math.MaxInt32), share))
	}
}

func scaledBurst(burst int64, share float64) int {
	return int(max(1, math.Round(float64(burst)*share)))
}

func newBuckets(l Limits) *buckets {
	b := &buckets{limits: l}
	if l.RequestsPerSecond > 0 {
		b.req = rate.NewLimiter(rate.Limit(l.RequestsPerSecond), l.requestBurst())
	}
	if l.BytesPerSecond > 0 {
		burst := l.byteBurst()
		if burst > math.MaxInt32 {
			burst = math.MaxInt32
		}
		b.bytes = rate.NewLimiter(rate.Limit(l.BytesPerSecond), int(burst))
	}
	return b
}

// charge takes n bytes from the byte bucket, going into debt if needed:
// a request is admitted while the bucket is not in debt, and pays after
// for what it actually moved.
func (b *buckets) charge(now time.Time, n int64) {
	if b.bytes == nil || n <= 0 {
		return
	}
	burst := int64(b.bytes.Burst())
	for n > 0 {
		c := min(n, burst)
		b.bytes.ReserveN(now, int(c))
		n -= c
	}
}

const shards = 32

// table holds buckets by key in shards, so that tenants do not contend on
// one lock. Idle entries are evicted by sweep.
type table struct {
	seed   maphash.Seed
	shards [shards]struct {
		mu sync.Mutex
		m  map[string]*buckets
	}
}

func newTable() *table {
	t := &table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = map[string]*buckets{}
	}
	return t
}

// get returns key's buckets, (re)creating them when the limits changed
// (a reload), and marks them used.
func (t *table) get(key string, l Limits, now time.Time) *buckets {
	s := &t.shards[maphash.String(t.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[key]
	if b == nil || b.limits != l {
		b = newBuckets(l)
		s.m[key] = b
	}
	b.last = now.UnixNano()
	return b
}

// demand returns, per key, the requests asked since the last call (keys
// with none are left out), and starts counting again.
func (t *table) demand() map[string]int64 {
	out := map[string]int64{}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, b := range s.m {
			if n := b.demand.Swap(0); n > 0 {
				out[k] = n
			}
		}
		s.mu.Unlock()
	}
	return out
}

// busiest keeps the max keys of d with the largest values.
func busiest(d map[string]float64, max int) map[string]float64 {
	if len(d) <= max {
		return d
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return d[keys[i]] > d[keys[j]] })
	out := make(map[string]float64, max)
	for _, k := range keys[:max] {
		out[k] = d[k]
	}
	return out
}

// sweep drops buckets idle for longer than idle and returns how many are
// left.
func (t *table) sweep(now time.Time, idle time.Duration) int {
	n := 0
	cutoff := now.Add(-idle).UnixNano()
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, b := range s.m {
			if b.last < cutoff {
				delete(s.m, k)
			}
		}
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Keyed is a simple set of token buckets by key (a client address, say)
// with idle eviction. It is safe for concurrent use.
type Keyed struct {
	limit rate.Limit
	burst int
	t     *table
}

// NewKeyed returns buckets refilling at perSecond up to burst.
func NewKeyed(perSecond float64, burst int) *Keyed {
	return &Keyed{limit: rate.Limit(perSecond), burst: burst, t: newTable()}
}

func (k *Keyed) limits() Limits {
	return Limits{RequestsPerSecond: float64(k.limit), RequestBurst: k.burst}
}

// Exhausted reports whether key has no token left, and when one will be
// available, without taking one.
func (k *Keyed) Exhausted(key string) (bool, time.Duration) {
	now := time.Now()
	b := k.t.get(key, k.limits(), now)
	tokens := b.req.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / float64(k.limit) * float64(time.Second))
}

// Take takes one token from key (going into debt when none is left).
func (k *Keyed) Take(key string) {
	now := time.Now()
	k.t.get(key, k.limits(), now).req.ReserveN(now, 1)
}

// Sweep drops keys idle for longer than idle.
func (k *Keyed) Sweep(idle time.Duration) { k.t.sweep(time.Now(), idle) }
