package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/cluster"
	"github.com/kgate/kgate/internal/instances"
)

// drainer is the first step of a graceful shutdown, taken while every
// other component still runs (it is added last, so it stops first):
//
//  1. /readyz answers 503, so load balancers take the node out;
//  2. the node announces in membership that it is draining, so the
//     others stop sending it new consumer instances;
//  3. the v2 consumer instances are handed over (instances.Drain):
//     committed where auto-commit says so, released in the definitions
//     topic, so the next request on another replica creates each again
//     at once; creates and requests for instances that still reach this
//     node are forwarded to another replica;
//  4. it waits out cluster.drain_delay (counted from the start), so that
//     the load balancer's health checks have seen the 503 before the
//     listener closes.
//
// Then the HTTP servers stop accepting and finish the requests in
// flight, and the node leaves membership (the steps after it in build's
// order).
type drainer struct {
	draining  atomic.Bool
	members   *cluster.Membership
	consumers *instances.Registry
	delay     time.Duration
	// timeout bounds the handover (http.shutdown_timeout).
	timeout time.Duration
	logger  *slog.Logger
}

// Draining reports whether the shutdown began.
func (d *drainer) Draining() bool { return d.draining.Load() }

// run waits for the shutdown, then drains.
func (d *drainer) run(ctx context.Context) error {
	<-ctx.Done()
	start := time.Now()
	d.draining.Store(true)
	d.logger.Info("draining", "delay", d.delay, "consumer_instances", d.consumers.Len())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
	defer cancel()
	// The announcement and the handover go together: the registry
	// takes no new instance from now on, whatever the others know yet.
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := d.members.Drain(dctx); err != nil {
			d.logger.Warn("announcing the drain to the other replicas", "err", err)
		}
	})
	d.consumers.Drain(dctx)
	wg.Wait()
	handedOver := time.Since(start)
	if rest := d.delay - handedOver; rest > 0 {
		t := time.NewTimer(rest)
		<-t.C
	}
	d.logger.Info("drained", "handover", handedOver, "took", time.Since(start))
	return nil
}
