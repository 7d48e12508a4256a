package audit

import (
	"sync"
	"time"
)

// folds reports whether records of event are folded when repeated: the
// refusals, which anyone can cause in any number.
func folds(event string) bool {
	return event == AuthFailure || event == Denied || event == LoginFailure
}

// aggMaxKeys bounds the keys folded per interval; beyond it, new keys
// fold with their client address left out, so that a flood from many
// addresses is folded too (and memory stays bounded).
const aggMaxKeys = 10000

// ManyAddresses stands for the client address of a summary that folds
// refusals from more addresses than the aggregator tracks one by one.
const ManyAddresses = "(many)"

type aggKey struct {
	event, principal, method, ip, reason string
}

type aggEntry struct {
	since time.Time // when counting began
	count int64     // folded records since then
	last  Record    // the last folded record
}

// aggregator folds repeated refusals. It is safe for concurrent use.
type aggregator struct {
	interval time.Duration

	// mu guards the fields below.
	mu     sync.Mutex
	end    time.Time // when the current interval ends
	keys   map[aggKey]*aggEntry
	closed bool
}

func newAggregator(interval time.Duration) *aggregator {
	return &aggregator{interval: interval, keys: map[aggKey]*aggEntry{}}
}

// fold reports whether r is to be written now (not a refusal, the first
// of its key, or the aggregator is closed); otherwise it was counted. It
// also returns the summaries of an interval that ended before now.
func (a *aggregator) fold(r Record, now time.Time) (bool, []Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return true, nil
	}
	var summaries []Record
	if a.end.IsZero() {
		a.end = now.Add(a.interval)
	} else if !now.Before(a.end) {
		summaries = a.flushLocked(now)
	}
	if !folds(r.Event) {
		return true, summaries
	}
	k := aggKey{r.Event, r.Principal, r.AuthMethod, r.ClientIP, r.Reason}
	e, ok := a.keys[k]
	if !ok && len(a.keys) >= aggMaxKeys {
		k.ip = ManyAddresses
		e, ok = a.keys[k]
	}
	if !ok {
		a.keys[k] = &aggEntry{since: now}
		if k.ip != ManyAddresses {
			return true, summaries
		}
		e = a.keys[k]
	}
	e.count++
	e.last = r
	if k.ip == ManyAddresses {
		e.last.ClientIP = ManyAddresses
	}
	return false, summaries
}

// flush returns the summaries of the interval ending now and starts the
// next one; with final, the aggregator closes.
func (a *aggregator) flush(now time.Time, final bool) []Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.flushLocked(now)
	a.closed = a.closed || final
	return s
}

func (a *aggregator) close(now time.Time) []Record { return a.flush(now, true) }

// flushLocked writes a summary for every key that folded records in the
// interval and keeps those keys for the next one (a busy key gets one
// summary per interval, not a first record each time); quiet keys are
// forgotten, so that their next refusal is written at once.
func (a *aggregator) flushLocked(now time.Time) []Record {
	var out []Record
	for k, e := range a.keys {
		if e.count == 0 {
			delete(a.keys, k)
			continue
		}
		s := e.last
		s.Time = now.UTC()
		s.RequestID = ""
		s.Count = e.count
		s.Since = e.since.UTC()
		out = append(out, s)
		e.count, e.since = 0, now
	}
	a.end = now.Add(a.interval)
	return out
}
