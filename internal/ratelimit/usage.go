package ratelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ktable"
)

// Usage counts each principal's requests and bytes per UTC day, ISO
// week (from Monday 00:00 UTC) and calendar month. Each
// gateway (node) writes its own counters to the usage topic (key
// "principal|node"), reads every other node's, and a principal's usage is
// the sum over nodes: quotas hold across replicas and restarts. A crash
// loses at most one flush interval of counts. It is safe for concurrent
// use.
type Usage struct {
	node   string
	table  *ktable.Table // nil: memory only
	logger *slog.Logger

	// mu guards the counters.
	mu     sync.Mutex
	local  map[string]*counter            // principal -> this node's counts
	remote map[string]map[string]*counter // principal -> node -> counts
}

type counter struct {
	Day      string `json:"day"`
	Requests int64  `json:"requests"`
	Bytes    int64  `json:"bytes"`
	// The week's and month's counts (records written before kgate kept
	// them have none: they count from their next write).
	Week          string `json:"week,omitempty"`
	WeekRequests  int64  `json:"week_requests,omitempty"`
	WeekBytes     int64  `json:"week_bytes,omitempty"`
	Month         string `json:"month,omitempty"`
	MonthRequests int64  `json:"month_requests,omitempty"`
	MonthBytes    int64  `json:"month_bytes,omitempty"`
	dirty         bool
}

// Periods names the day, ISO week and month of a time (UTC).
type Periods struct{ Day, Week, Month string }

// PeriodsOf returns the periods t falls in. Every request asks, so the
// last UTC day's answer is kept (the three periods change only at a UTC
// midnight): asking again that day costs no formatting.
func PeriodsOf(t time.Time) Periods {
	sec := t.Unix()
	if c := lastPeriods.Load(); c != nil && sec >= c.from && sec < c.to {
		return c.p
	}
	u := t.UTC()
	y, w := u.ISOWeek()
	p := Periods{Day: Day(t), Week: fmt.Sprintf("%04d-W%02d", y, w), Month: u.Format("2006-01")}
	from := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC).Unix()
	lastPeriods.Store(&cachedPeriods{from: from, to: from + 24*60*60, p: p})
	return p
}

// cachedPeriods are the periods of the UTC day [from, to) in Unix seconds.
type cachedPeriods struct {
	from, to int64
	p        Periods
}

var lastPeriods atomic.Pointer[cachedPeriods]

// Counts are requests and bytes over one period.
type Counts struct {
	Requests int64 `json:"requests"`
	Bytes    int64 `json:"bytes"`
}

// Used is a principal's usage in the periods of now, over every node.
type Used struct {
	Day, Week, Month Counts
}

// roll starts the periods of c that p is past.
func (c *counter) roll(p Periods) {
	if c.Day != p.Day {
		c.Day, c.Requests, c.Bytes = p.Day, 0, 0
	}
	if c.Week != p.Week {
		c.Week, c.WeekRequests, c.WeekBytes = p.Week, 0, 0
	}
	if c.Month != p.Month {
		c.Month, c.MonthRequests, c.MonthBytes = p.Month, 0, 0
	}
}

// add adds c's counts in the periods p to u.
func (c *counter) addTo(u *Used, p Periods) {
	if c.Day == p.Day {
		u.Day.Requests += c.Requests
		u.Day.Bytes += c.Bytes
	}
	if c.Week == p.Week {
		u.Week.Requests += c.WeekRequests
		u.Week.Bytes += c.WeekBytes
	}
	if c.Month == p.Month {
		u.Month.Requests += c.MonthRequests
		u.Month.Bytes += c.MonthBytes
	}
}

// Day returns the UTC day of t as kept in the usage topic. It is on every
// request's path, so the last answer is kept.
func Day(t time.Time) string {
	n := t.Unix() / 86400
	if t.Unix() < 0 {
		n-- // floor for times before 1970
	}
	if e := lastDay.Load(); e != nil && e.n == n {
		return e.s
	}
	s := t.UTC().Format(time.DateOnly)
	lastDay.Store(&dayName{n: n, s: s})
	return s
}

type dayName struct {
	n int64
	s string
}

var lastDay atomic.Pointer[dayName]

// NewUsage returns in-memory usage counters (nothing survives a restart).
func NewUsage(node string) *Usage {
	return &Usage{node: node, logger: slog.New(slog.DiscardHandler), local: map[string]*counter{}, remote: map[string]map[string]*counter{}}
}

// OpenUsage returns usage counters kept in topic, replaying it first.
func OpenUsage(ctx context.Context, kc *kafka.Client, topic, node string, logger *slog.Logger) (*Usage, error) {
	u := NewUsage(node)
	u.logger = logger
	t, err := ktable.Open(ctx, kc, ktable.Options{Topic: topic, Apply: u.apply, Logger: logger, DeleteRetention: time.Hour})
	if err != nil {
		return nil, err
	}
	u.table = t
	return u, nil
}

func (u *Usage) apply(key string, value []byte) {
	principal, node, ok := splitKey(key)
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if value == nil {
		if node != u.node {
			delete(u.remote[principal], node)
		}
		return
	}
	var c counter
	if err := json.Unmarshal(value, &c); err != nil {
		return
	}
	if node == u.node {
		// Our own counts come back from the topic: at start they are
		// the state we left; afterwards we are ahead of them.
		if l := u.local[principal]; l == nil || l.Day < c.Day || l.Day == c.Day && l.Requests < c.Requests {
			c.dirty = false
			u.local[principal] = &c
		}
		return
	}
	if u.remote[principal] == nil {
		u.remote[principal] = map[string]*counter{}
	}
	u.remote[principal][node] = &c
}

// splitKey splits "principal|node"; node ids never hold a '|', principal
// names might.
func splitKey(key string) (principal, node string, ok bool) {
	i := strings.LastIndexByte(key, '|')
	if i < 0 {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

// Used returns principal's requests and bytes today over every node.
func (u *Usage) Used(principal string, now time.Time) (requests, bytes int64) {
	got := u.UsedIn(principal, now)
	return got.Day.Requests, got.Day.Bytes
}

// UsedIn returns principal's usage in the day, week and month of now over
// every node.
func (u *Usage) UsedIn(principal string, now time.Time) Used {
	p := PeriodsOf(now)
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.usedLocked(principal, p)
}

func (u *Usage) usedLocked(principal string, p Periods) Used {
	var out Used
	if c := u.local[principal]; c != nil {
		c.addTo(&out, p)
	}
	for _, c := range u.remote[principal] {
		c.addTo(&out, p)
	}
	return out
}

// Add counts requests and bytes for principal today.
func (u *Usage) Add(principal string, now time.Time, requests, bytes int64) {
	p := PeriodsOf(now)
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.local[principal]
	if c == nil {
		c = &counter{}
		u.local[principal] = c
	}
	c.roll(p)
	c.Requests += requests
	c.Bytes += bytes
	c.WeekRequests += requests
	c.WeekBytes += bytes
	c.MonthRequests += requests
	c.MonthBytes += bytes
	c.dirty = true
}

// PrincipalUsage is one principal's usage today (Requests, Bytes), this
// week and this month.
type PrincipalUsage struct {
	Principal string `json:"principal"`
	Day       string `json:"day"`
	Requests  int64  `json:"requests"`
	Bytes     int64  `json:"bytes"`
	Week      string `json:"week"`
	ThisWeek  Counts `json:"this_week"`
	Month     string `json:"month"`
	ThisMonth Counts `json:"this_month"`
}

// UsageOf returns principal's PrincipalUsage at now.
func (u *Usage) UsageOf(principal string, now time.Time) PrincipalUsage {
	p := PeriodsOf(now)
	u.mu.Lock()
	defer u.mu.Unlock()
	return principalUsage(principal, p, u.usedLocked(principal, p))
}

func principalUsage(principal string, p Periods, got Used) PrincipalUsage {
	return PrincipalUsage{Principal: principal, Day: p.Day, Requests: got.Day.Requests, Bytes: got.Day.Bytes,
		Week: p.Week, ThisWeek: got.Week, Month: p.Month, ThisMonth: got.Month}
}

// Snapshot returns every principal's usage today, sorted by name.
func (u *Usage) Snapshot(now time.Time) []PrincipalUsage {
	p := PeriodsOf(now)
	u.mu.Lock()
	defer u.mu.Unlock()
	names := map[string]bool{}
	for n := range u.local {
		names[n] = true
	}
	for n := range u.remote {
		names[n] = true
	}
	out := make([]PrincipalUsage, 0, len(names))
	for n := range names {
		got := u.usedLocked(n, p)
		if got == (Used{}) {
			continue
		}
		out = append(out, principalUsage(n, p, got))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Principal < out[j].Principal })
	return out
}

// Run follows the usage topic and flushes this node's counters every
// interval until ctx is done, then flushes once more.
func (u *Usage) Run(ctx context.Context, interval time.Duration) error {
	if u.table == nil {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = u.table.Run(ctx)
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			u.Flush(fctx)
			cancel()
			wg.Wait()
			return nil
		case <-t.C:
			u.Flush(ctx)
		}
	}
}

// Flush writes this node's changed counters to the usage topic.
func (u *Usage) Flush(ctx context.Context) {
	if u.table == nil {
		return
	}
	var kvs []ktable.KV
	u.mu.Lock()
	for p, c := range u.local {
		if !c.dirty {
			continue
		}
		v, err := json.Marshal(c)
		if err != nil {
			continue
		}
		c.dirty = false
		kvs = append(kvs, ktable.KV{Key: p + "|" + u.node, Value: v})
	}
	// Counters of months gone by (of nodes that left, say) are removed,
	// so that the topic does not grow with every node ever seen.
	now := time.Now()
	stale, month := Day(now.Add(-48*time.Hour)), PeriodsOf(now).Month
	for p, nodes := range u.remote {
		for n, c := range nodes {
			if c.Day < stale && c.Month != month && c.Week != PeriodsOf(now).Week {
				kvs = append(kvs, ktable.KV{Key: p + "|" + n})
			}
		}
	}
	u.mu.Unlock()
	if len(kvs) == 0 {
		return
	}
	if err := u.table.Put(ctx, kvs...); err != nil {
		u.logger.Warn("writing quota usage", "err", err)
		// Mark them dirty again so the next flush retries.
		u.mu.Lock()
		for _, kv := range kvs {
			p, _, _ := splitKey(kv.Key)
			if c := u.local[p]; c != nil && kv.Value != nil {
				c.dirty = true
			}
		}
		u.mu.Unlock()
	}
}
