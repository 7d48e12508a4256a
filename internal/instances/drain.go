package instances

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Draining reports whether Drain was called: the registry takes no new
// instance.
func (r *Registry) Draining() bool { return r.draining.Load() }

// Drain makes the registry take no new instance and hands every live one
// over to the other replicas, waiting (for at most ctx) until each is:
//
//   - a request in progress on the instance ends (a long read is cut
//     short and returns what it has);
//   - with auto-commit on, what it delivered is committed (the group
//     client commits its marks as it leaves the group; a manual
//     assignment is committed here), and nothing else: with auto-commit
//     off, the client commits for itself, and records it was handed but
//     did not commit are delivered again by the next holder (at least
//     once);
//   - the instance leaves its group;
//   - its definition is written released (no replica holds it), so that
//     the next request for it, on any replica that is not draining,
//     creates it again from the committed offsets at once, instead of
//     waiting for this replica to leave membership.
//
// From then on a create or a request for an instance that reaches this
// replica is an *ElsewhereError naming another live replica that is not
// draining (Options.Peer), or ErrDraining when there is none. Without a
// Directory nothing can move: the instances stay until Close.
func (r *Registry) Drain(ctx context.Context) {
	r.draining.Store(true)
	if r.o.Directory == nil {
		return
	}
	r.mu.Lock()
	all := make([]*Instance, 0, len(r.byKey))
	for k, in := range r.byKey {
		delete(r.byKey, k)
		all = append(all, in)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Go(func() { r.handover(ctx, in) })
	}
	wg.Wait()
}

// handover releases in (removed from byKey) for another replica to take.
func (r *Registry) handover(ctx context.Context, in *Instance) {
	start := time.Now()
	in.handedOver.Store(true)
	in.cancel() // a long read returns what it has
	def := in.definition()
	def.Node = ""
	if in.set.AutoCommit {
		if err := in.commitAssigned(ctx); err != nil {
			r.logger.Warn("committing a manually assigned consumer instance's delivered records before handing it over",
				"group", in.group, "instance", in.name, "err", err)
		}
	}
	in.close()
	if err := r.o.Directory.put(ctx, def); err != nil {
		// The others create it again once this replica leaves
		// membership, as after a crash.
		r.logger.Warn("handing a consumer instance over", "group", in.group, "instance", in.name, "err", err)
		return
	}
	if r.o.Metrics != nil {
		r.o.Metrics.ConsumerHandedOver.Inc()
	}
	r.logger.Info("consumer instance handed over: another replica creates it again at the committed offsets",
		"group", in.group, "instance", in.name, "took", time.Since(start))
}

// commitAssigned commits, for a manual assignment, what the instance
// returned on the partitions it still consumes. A group client commits
// its marks as it leaves the group instead.
func (in *Instance) commitAssigned(ctx context.Context) error {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed || in.mode != modeAssign {
		return nil
	}
	offs := kadm.Offsets{}
	in.stateMu.Lock()
	for p, o := range in.returned {
		if _, ok := in.assigned[p]; ok {
			offs.Add(kadm.Offset{Topic: p.Topic, Partition: p.Partition, At: o, LeaderEpoch: -1})
		}
	}
	in.stateMu.Unlock()
	if len(offs) == 0 {
		return nil
	}
	resp, err := in.r.o.Kafka.Admin().CommitOffsets(ctx, in.group, offs)
	if err != nil {
		return err
	}
	return resp.Error()
}

// HandedOver reports whether the instance was handed over to another
// replica (Drain): an operation that finds it closed should be retried,
// and reaches its new holder.
func (in *Instance) HandedOver() bool { return in.handedOver.Load() }

// elsewhere is where work that reaches a draining replica goes: another
// live replica that is not draining, or ErrDraining.
func (r *Registry) elsewhere() error {
	if r.o.Peer != nil && r.o.Directory != nil {
		if id, u, ok := r.o.Peer(); ok {
			return &ElsewhereError{Node: id, URL: u}
		}
	}
	return ErrDraining
}
