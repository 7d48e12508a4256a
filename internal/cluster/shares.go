package cluster

import (
	"context"
	"sync/atomic"
	"time"
)

// Floor is the part of each limit that the replicas divide evenly,
// whatever their demand: a replica that saw no request of a caller since
// the last heartbeat still admits Floor/N of its rate, so a caller whose
// connections move to it is not refused outright until the next
// heartbeat; the rest, 1 - Floor, is divided in proportion to demand.
const Floor = 0.1

// Shares divides the replicas' rate limits among them: for each key, this
// node's share is Floor/N + (1-Floor) × its demand / all the live
// replicas' demand (N the live replicas), or 1/N for a key nobody
// reported. Computed from the same heartbeats, the shares of one key add
// up to 1 across the replicas, so a caller's rate over the cluster stays
// at its limit; see docs/security.md for where it overshoots.
type Shares struct {
	m    *Membership
	self string
	snap atomic.Pointer[shareSnap]
}

// shareSnap is the shares computed from one view of the replicas.
type shareSnap struct {
	n     int                // live replicas, this one included
	share map[string]float64 // keys some replica reported
}

// NewShares returns the shares of node self from m's view of the replicas.
// Until Run computes them, this node takes all of every limit.
func NewShares(m *Membership, self string) *Shares {
	s := &Shares{m: m, self: self}
	s.snap.Store(&shareSnap{n: 1})
	return s
}

// Share returns this node's share of key's rate limits, in (0, 1].
func (s *Shares) Share(key string) float64 {
	sn := s.snap.Load()
	if v, ok := sn.share[key]; ok {
		return v
	}
	return 1 / float64(sn.n)
}

// Replicas returns how many live replicas the shares were computed for.
func (s *Shares) Replicas() int { return s.snap.Load().n }

// Run computes the shares again every interval (the heartbeat interval:
// each heartbeat brings the replicas' demand) until ctx is done.
func (s *Shares) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.Compute()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Compute computes the shares from the replicas as they are now.
func (s *Shares) Compute() {
	nodes := s.m.Nodes()
	n := len(nodes)
	var own map[string]float64
	seen := false
	for _, nd := range nodes {
		if nd.ID == s.self {
			own, seen = nd.Demand, true
		}
	}
	if !seen {
		n++ // not read back yet: it is live all the same
	}
	sn := &shareSnap{n: n}
	if n > 1 {
		total := map[string]float64{}
		for _, nd := range nodes {
			for k, d := range nd.Demand {
				if d > 0 {
					total[k] += d
				}
			}
		}
		sn.share = make(map[string]float64, len(total))
		for k, sum := range total {
			sn.share[k] = Floor/float64(n) + (1-Floor)*max(own[k], 0)/sum
		}
	}
	s.snap.Store(sn)
}
