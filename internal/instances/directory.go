package instances

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ktable"
)

// Definition is what any replica needs to serve an instance, or to
// create it again when the replica that held it is gone: who owns it,
// its create options, what it consumes, and which replica holds it live.
// It holds no credential: whoever uses the instance proves it is the
// owner at the door, as for every request.
type Definition struct {
	Group string `json:"group"`
	Name  string `json:"name"`
	// Owner is the owning principal's name.
	Owner string `json:"owner"`
	// Node is the replica holding the live instance.
	Node             string `json:"node"`
	Format           string `json:"format"`
	Reset            string `json:"auto_offset_reset"`
	AutoCommit       bool   `json:"auto_commit"`
	MinBytes         int    `json:"fetch_min_bytes"`
	RequestTimeoutMS int64  `json:"request_timeout_ms"`
	// Topics or Pattern: a subscription; Partitions: an assignment.
	Topics     []string    `json:"topics,omitempty"`
	Pattern    string      `json:"topic_pattern,omitempty"`
	Partitions []Partition `json:"partitions,omitempty"`
	// Updated is when the holding replica wrote it, by its clock.
	Updated time.Time `json:"updated"`
}

func (d Definition) key() key { return key{d.Group, d.Name} }

func tableKey(k key) string { return url.PathEscape(k.group) + "/" + url.PathEscape(k.name) }

func parseKey(s string) (key, bool) {
	g, n, ok := strings.Cut(s, "/")
	if !ok {
		return key{}, false
	}
	g, err1 := url.PathUnescape(g)
	n, err2 := url.PathUnescape(n)
	return key{g, n}, ok && err1 == nil && err2 == nil
}

// Directory is every replica's shared view of the instances'
// definitions: a compacted topic that each follows, written when an
// instance is created, subscribes, is assigned partitions, moves to
// another replica, or is deleted or expires (a tombstone). It is safe
// for concurrent use.
type Directory struct {
	table  *ktable.Table
	logger *slog.Logger

	// mu guards defs.
	mu   sync.Mutex
	defs map[key]Definition

	// applied, when set (by the registry), hears every change after it
	// is applied: a definition (nil when deleted).
	applied atomic.Pointer[func(key, *Definition)]
}

// OpenDirectory creates the definitions topic if it is missing and
// replays it. Run must then follow it.
func OpenDirectory(ctx context.Context, kc *kafka.Client, topic string, logger *slog.Logger) (*Directory, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Directory{logger: logger, defs: map[key]Definition{}}
	t, err := ktable.Open(ctx, kc, ktable.Options{Topic: topic, Apply: d.apply, Logger: logger,
		// A deleted instance's tombstone must outlive a replica's
		// absence: as long as the tokens' (a day).
		DeleteRetention: 24 * time.Hour, SegmentInterval: 10 * time.Minute})
	if err != nil {
		return nil, err
	}
	d.table = t
	return d, nil
}

func (d *Directory) apply(k string, value []byte) {
	key, ok := parseKey(k)
	if !ok {
		d.logger.Warn("ignoring a malformed consumer instance key", "topic", d.table.Topic())
		return
	}
	var def *Definition
	if value != nil {
		def = new(Definition)
		if err := json.Unmarshal(value, def); err != nil || def.key() != key {
			d.logger.Warn("ignoring a malformed consumer instance definition", "topic", d.table.Topic(), "group", key.group, "instance", key.name)
			return
		}
	}
	d.mu.Lock()
	if def == nil {
		delete(d.defs, key)
	} else {
		d.defs[key] = *def
	}
	d.mu.Unlock()
	if f := d.applied.Load(); f != nil {
		(*f)(key, def)
	}
}

// Run follows the topic until ctx is done.
func (d *Directory) Run(ctx context.Context) error { return d.table.Run(ctx) }

// Lookup returns an instance's definition.
func (d *Directory) Lookup(group, name string) (Definition, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	def, ok := d.defs[key{group, name}]
	return def, ok
}

// catchUpTimeout bounds how long a lookup that missed waits for the
// topic's latest records.
const catchUpTimeout = 2 * time.Second

// LookupFresh is Lookup, but on a miss it first reads the topic up to its
// end (bounded by catchUpTimeout): an instance created on another replica
// a moment ago, whose definition this one has not read yet, is found
// rather than reported missing (a client's next request after a create
// may reach any replica).
func (d *Directory) LookupFresh(ctx context.Context, group, name string) (Definition, bool) {
	if def, ok := d.Lookup(group, name); ok {
		return def, true
	}
	cctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	if err := d.table.CatchUp(cctx); err != nil {
		d.logger.Debug("catching up with the consumer instance definitions", "topic", d.table.Topic(), "err", err)
	}
	return d.Lookup(group, name)
}

// all returns every definition.
func (d *Directory) all() []Definition {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Definition, 0, len(d.defs))
	for _, def := range d.defs {
		out = append(out, def)
	}
	return out
}

// put writes def and waits until this replica has applied it.
func (d *Directory) put(ctx context.Context, def Definition) error {
	b, err := json.Marshal(def)
	if err != nil {
		return err
	}
	return d.table.Put(ctx, ktable.KV{Key: tableKey(def.key()), Value: b})
}

// remove writes k's tombstone.
func (d *Directory) remove(ctx context.Context, k key) error {
	return d.table.Put(ctx, ktable.KV{Key: tableKey(k)})
}
