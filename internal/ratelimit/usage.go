package ratelimit

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ktable"
)

// Usage counts each principal's requests and bytes per UTC day. Each
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
	dirty    bool
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
			u.local[principal] = &counter{Day: c.Day, Requests: c.Requests, Bytes: c.Bytes}
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
	day := Day(now)
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.usedLocked(principal, day)
}

func (u *Usage) usedLocked(principal, day string) (requests, bytes int64) {
	if c := u.local[principal]; c != nil && c.Day == day {
		requests, bytes = c.Requests, c.Bytes
	}
	for _, c := range u.remote[principal] {
		if c.Day == day {
			requests += c.Requests
			bytes += c.Bytes
		}
	}
	return requests, bytes
}

// Add counts requests and bytes for principal today.
func (u *Usage) Add(principal string, now time.Time, requests, bytes int64) {
	day := Day(now)
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.local[principal]
	if c == nil || c.Day != day {
		c = &counter{Day: day}
		u.local[principal] = c
	}
	c.Requests += requests
	c.Bytes += bytes
	c.dirty = true
}

// PrincipalUsage is one principal's usage today.
type PrincipalUsage struct {
	Principal string `json:"principal"`
	Day       string `json:"day"`
	Requests  int64  `json:"requests"`
	Bytes     int64  `json:"bytes"`
}

// Snapshot returns every principal's usage today, sorted by name.
func (u *Usage) Snapshot(now time.Time) []PrincipalUsage {
	day := Day(now)
	u.mu.Lock()
	defer u.mu.Unlock()
	names := map[string]bool{}
	for p := range u.local {
		names[p] = true
	}
	for p := range u.remote {
		names[p] = true
	}
	out := make([]PrincipalUsage, 0, len(names))
	for p := range names {
		r, b := u.usedLocked(p, day)
		if r == 0 && b == 0 {
			continue
		}
		out = append(out, PrincipalUsage{Principal: p, Day: day, Requests: r, Bytes: b})
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
	// Counters of days gone by (of nodes that left, say) are removed, so
	// that the topic does not grow with every node ever seen.
	stale := Day(time.Now().Add(-48 * time.Hour))
	for p, nodes := range u.remote {
		for n, c := range nodes {
			if c.Day < stale {
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
