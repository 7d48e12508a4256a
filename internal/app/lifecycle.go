package app

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// group runs the gateway's components, each one (run, stop) pair, in the
// order they were added, which is the order they start; shutdown walks
// the list backwards, stopping each component completely before the
// next, so that a component stops while everything it uses still runs.
// It is prometheus' run.Group (github.com/oklog/run) with that one
// difference: run.Group interrupts every actor at once.
//
// A group is not safe for concurrent use; Serve owns it.
type group struct {
	logger *slog.Logger
	comps  []component
}

// component is one part of the gateway. run serves until its context is
// done and then returns, having released what it holds; stop, if not nil,
// is called after run has returned and releases what the component's
// constructor opened.
type component struct {
	name string
	run  func(context.Context) error
	stop func()
}

// add appends a component that has just been constructed. Adding it at
// once, before anything else can fail, is what lets abort release it.
func (g *group) add(name string, run func(context.Context) error, stop func()) {
	if run == nil {
		run = untilDone
	}
	g.comps = append(g.comps, component{name: name, run: run, stop: stop})
}

// untilDone is the run of a component with no work of its own (a client,
// a broker): it only waits to be stopped.
func untilDone(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// run starts every component, calls started (if not nil), and waits until
// ctx is done or a component returns; then it stops the components in
// reverse order: each one's context is cancelled, its run awaited and its
// stop called before the one added before it is stopped. It returns the
// error of the component that returned first, or else the first error a
// run returned while stopping (context.Canceled counts as none).
func (g *group) run(ctx context.Context, started func()) error {
	type running struct {
		cancel context.CancelFunc
		done   chan struct{} // closed when run has returned err
		err    error
	}
	rs := make([]*running, len(g.comps))
	returned := make(chan int, len(g.comps))
	for i, c := range g.comps {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{cancel: cancel, done: make(chan struct{})}
		rs[i] = r
		go func() {
			if err := c.run(cctx); !errors.Is(err, context.Canceled) {
				r.err = err
			}
			close(r.done)
			returned <- i
		}()
	}
	if started != nil {
		started()
	}
	var err error
	select {
	case <-ctx.Done():
		g.logger.Info("shutting down")
	case i := <-returned:
		err = rs[i].err
		g.logger.Info("shutting down", "component", g.comps[i].name, "returned", err)
	}
	for i := len(g.comps) - 1; i >= 0; i-- {
		c, r := g.comps[i], rs[i]
		start := time.Now()
		r.cancel()
		<-r.done
		if err == nil {
			err = r.err
		}
		if c.stop != nil {
			c.stop()
		}
		g.logger.Debug("component stopped", "component", c.name, "took", time.Since(start))
	}
	return err
}

// abort releases the components added so far when a later one fails to
// start. Each run is still called, with a context already done, because
// some components release in run what their constructor opened (the
// state-topic followers close their consumers there); then each stop is
// called, in the same reverse order as a shutdown.
func (g *group) abort() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := len(g.comps) - 1; i >= 0; i-- {
		c := g.comps[i]
		if err := c.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			g.logger.Warn("stopping after a failed start", "component", c.name, "err", err)
		}
		if c.stop != nil {
			c.stop()
		}
	}
}
