package ratelimit

import (
	"strconv"
	"sync"
	"time"
)

// Slots bounds how many of one kind of long-lived thing (consumer
// instances, streams, long polls, connections) run at once, per principal
// and on the node: no principal holds more than its own limit, so that one
// tenant cannot take the node's whole allowance. It is safe for
// concurrent use.
type Slots struct {
	kind string
	node int // the node's limit (0: none)

	mu    sync.Mutex
	held  map[string]int
	total int
}

// NewSlots bounds kind (named in refusals) to node at once on the node.
func NewSlots(kind string, node int) *Slots {
	return &Slots{kind: kind, node: node, held: map[string]int{}}
}

// Acquire takes one slot for principal, whose own limit is limit (0: only
// the node's). It returns a release func (call it once), or the limit that
// refused.
func (s *Slots) Acquire(principal string, limit int) (func(), *Exceeded) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit > 0 && s.held[principal] >= limit {
		return nil, &Exceeded{Limit: s.kind, Max: limit, RetryAfter: time.Second,
			Message: "Too many " + s.kind + " for this principal (at most " + itoa(limit) + "); close unused ones."}
	}
	if s.node > 0 && s.total >= s.node {
		return nil, &Exceeded{Limit: s.kind, Max: s.node, RetryAfter: time.Second,
			Message: "Too many " + s.kind + " on this node (at most " + itoa(s.node) + "); retry later."}
	}
	s.held[principal]++
	s.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.total--
			if s.held[principal]--; s.held[principal] <= 0 {
				delete(s.held, principal)
			}
		})
	}, nil
}

// Held returns how many slots principal holds.
func (s *Slots) Held(principal string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[principal]
}

func itoa(n int) string { return strconv.Itoa(n) }
