// Package cluster keeps each kgate serve replica's view of the others,
// with Kafka as the only coordination plane: every node announces itself
// (id, internal URL, version, start time, load) in a compacted topic and
// heartbeats there; every node follows the topic, so each knows the live
// replicas within a fetch round trip, and a node that stops heartbeating
// drops out after the node timeout. A node that leaves cleanly writes a
// tombstone, so the others drop it at once.
package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ktable"
)

// Node is one replica as it announced itself.
type Node struct {
	ID      string    `json:"node_id"`
	URL     string    `json:"url"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Heartbeat is when the node last announced itself, by its clock.
	Heartbeat time.Time `json:"heartbeat"`
	Load      Load      `json:"load"`
	// Demand is, per rate-limit key (a principal, or an anonymous caller's
	// principal and address), the requests per second asked of the node
	// since its previous heartbeat: the replicas divide each limit by it
	// (Shares). Not shown by GET /admin/nodes.
	Demand map[string]float64 `json:"demand,omitempty"`
	// Draining: the node is shutting down. It still serves the
	// instances it holds until it hands them over, but takes no new
	// ones: the others forward creates elsewhere.
	Draining bool `json:"draining,omitempty"`
	// Reloads counts the reloads this node announced to all since it
	// started: each other replica reloads its own files when it sees
	// the count grow.
	Reloads int64 `json:"reloads,omitempty"`
}

// Load is what a node reports of its work at each heartbeat.
type Load struct {
	InFlightRequests  int `json:"in_flight_requests"`
	ConsumerInstances int `json:"consumer_instances"`
}

// Options configure Open.
type Options struct {
	Topic string
	// Self is this node (its Heartbeat and Load are filled in at each
	// heartbeat, and its URL when URL is set).
	Self Node
	// URL, if set, returns this node's internal URL at each heartbeat
	// (known once its listener is bound).
	URL      func() string
	Interval time.Duration
	Timeout  time.Duration
	// Load, if set, reports this node's load at each heartbeat.
	Load   func() Load
	Logger *slog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// Reload, if set, is called (on the goroutine following the topic:
	// it must not block) when another replica announces a reload.
	Reload func(from string)
}

// Membership is this node's view of the replicas. Its methods are safe for
// concurrent use.
type Membership struct {
	o     Options
	kc    *kafka.Client
	table *ktable.Table // nil: this node alone (open development mode)

	// mu guards nodes.
	mu    sync.Mutex
	nodes map[string]Node
	// demand, if set, reports this node's demand at each heartbeat.
	demand func() map[string]float64

	// draining and reloads are this node's, announced at each heartbeat.
	draining atomic.Bool
	reloads  atomic.Int64
	// seen is, per other node and start, the highest reload count read
	// (guarded by mu): a node seen for the first time is not a reload.
	seen map[string]announced
	// following: the topic's history is replayed; only records read
	// since can announce a reload.
	following atomic.Bool
	// beat serializes heartbeats, so that one written after a change
	// carries it.
	beat sync.Mutex
}

// announced is the reload count last read from a node's run.
type announced struct {
	started time.Time
	reloads int64
}

// SetDemand makes each heartbeat carry demand() (see Node.Demand); call it
// before Run.
func (m *Membership) SetDemand(demand func() map[string]float64) { m.demand = demand }

// Open creates the nodes topic if it is missing and replays it. With kc
// nil the membership holds this node alone (no topic). Run must then
// announce this node, heartbeat and follow the topic.
func Open(ctx context.Context, kc *kafka.Client, o Options) (*Membership, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Membership{o: o, kc: kc, nodes: map[string]Node{}}
	if kc == nil {
		self := o.Self
		self.Heartbeat = o.Now()
		m.nodes[self.ID] = self
		return m, nil
	}
	t, err := ktable.Open(ctx, kc, ktable.Options{Topic: o.Topic, Apply: m.apply, Logger: o.Logger,
		// A tombstone must outlive a replica's absence only as long as
		// a dead node's last heartbeat matters: minutes, not a day.
		DeleteRetention: time.Hour, SegmentInterval: 10 * time.Minute})
	if err != nil {
		return nil, err
	}
	m.table = t
	m.following.Store(true)
	return m, nil
}

func (m *Membership) apply(key string, value []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if value == nil {
		delete(m.nodes, key)
		return
	}
	var n Node
	if err := json.Unmarshal(value, &n); err != nil || n.ID != key {
		m.o.Logger.Warn("ignoring a malformed node record", "topic", m.o.Topic, "key", key)
		return
	}
	m.nodes[key] = n
	if key == m.o.Self.ID {
		return
	}
	prev, ok := m.seen[key]
	if ok && prev.started.Equal(n.Started) && n.Reloads <= prev.reloads {
		return
	}
	if m.seen == nil {
		m.seen = map[string]announced{}
	}
	m.seen[key] = announced{started: n.Started, reloads: n.Reloads}
	// A node seen for the first time, or restarted, announces nothing,
	// nor does the history replayed at Open: only growth within one run,
	// read live, is an announcement.
	if ok && prev.started.Equal(n.Started) && m.o.Reload != nil && m.following.Load() {
		m.o.Reload(key)
	}
}

// heartbeat writes this node's record with its load now.
func (m *Membership) heartbeat(ctx context.Context) error {
	m.beat.Lock()
	defer m.beat.Unlock()
	self := m.o.Self
	self.Draining, self.Reloads = m.draining.Load(), m.reloads.Load()
	self.Heartbeat = m.o.Now().UTC()
	if m.o.URL != nil {
		self.URL = m.o.URL()
	}
	if m.o.Load != nil {
		self.Load = m.o.Load()
	}
	if m.demand != nil {
		self.Demand = m.demand()
	}
	b, err := json.Marshal(self)
	if err != nil {
		return err
	}
	return m.write(ctx, b)
}

// write puts this node's record (nil: its tombstone) without waiting for
// the table to read it back (it may be stopping).
func (m *Membership) write(ctx context.Context, value []byte) error {
	res := m.kc.ProduceSync(ctx, []*kgo.Record{{Topic: m.o.Topic, Partition: 0, Key: []byte(m.o.Self.ID), Value: value}})
	if err := res[0].Err; err != nil {
		return fmt.Errorf("writing node %s to %q: %w", m.o.Self.ID, m.o.Topic, err)
	}
	return nil
}

// Run follows the topic and heartbeats every interval until ctx ends,
// then leaves: it writes this node's tombstone so the others drop it at
// once.
func (m *Membership) Run(ctx context.Context) error {
	if m.table == nil {
		<-ctx.Done()
		return nil
	}
	follow := make(chan error, 1)
	go func() { follow <- m.table.Run(ctx) }()
	if err := m.heartbeat(ctx); err != nil && ctx.Err() == nil {
		m.o.Logger.Warn("announcing this node failed", "node", m.o.Self.ID, "err", err)
	}
	t := time.NewTicker(m.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := m.write(lctx, nil)
			cancel()
			if err != nil {
				m.o.Logger.Warn("leaving the cluster", "node", m.o.Self.ID, "err", err)
			}
			<-follow
			return nil
		case err := <-follow:
			return err
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, m.o.Timeout)
			if err := m.heartbeat(hctx); err != nil && ctx.Err() == nil {
				m.o.Logger.Warn("heartbeat failed", "node", m.o.Self.ID, "err", err)
			}
			cancel()
		}
	}
}

// Drain announces that this node is shutting down: the others stop
// sending it new work (Peer skips it). It waits for the announcement
// to be written, for at most ctx.
func (m *Membership) Drain(ctx context.Context) error {
	m.draining.Store(true)
	if m.table == nil {
		return nil
	}
	return m.heartbeat(ctx)
}

// AnnounceReload has every other live replica reload its files: the
// reload count in this node's record grows, which they read within a
// fetch round trip. It returns once the record is written.
func (m *Membership) AnnounceReload(ctx context.Context) error {
	m.reloads.Add(1)
	if m.table == nil {
		return nil
	}
	return m.heartbeat(ctx)
}

// Peer returns another live replica that is not draining and has an
// internal URL, chosen at random so that moved work spreads; ok is
// false when there is none.
func (m *Membership) Peer() (id, url string, ok bool) {
	var cands []Node
	for _, n := range m.Nodes() {
		if n.ID != m.o.Self.ID && !n.Draining && n.URL != "" {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return "", "", false
	}
	n := cands[rand.IntN(len(cands))]
	return n.ID, n.URL, true
}

// Nodes returns the live replicas (a heartbeat within the node timeout),
// this one included, by id.
func (m *Membership) Nodes() []Node {
	now := m.o.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Node, 0, len(m.nodes))
	for id, n := range m.nodes {
		if id == m.o.Self.ID && m.table == nil {
			n.Heartbeat = now.UTC()
			if m.o.URL != nil {
				n.URL = m.o.URL()
			}
		}
		if now.Sub(n.Heartbeat) <= m.o.Timeout {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// URL returns the internal URL of the live replica id (ok false when it
// is not one).
func (m *Membership) URL(id string) (string, bool) {
	now := m.o.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok || n.URL == "" || now.Sub(n.Heartbeat) > m.o.Timeout {
		return "", false
	}
	return n.URL, true
}
