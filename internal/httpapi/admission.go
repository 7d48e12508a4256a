package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Admission bounds the requests a node serves at once. Past its limit a
// request waits in a bounded queue for at most a set time; when the
// queue is full, or the wait runs out, it is answered 503 with
// Retry-After at once (load shedding): an overloaded gateway answers
// "later" in microseconds instead of letting every request queue for
// seconds behind the others and the process grow with them. Probes
// (health, readiness, metrics), streams and long polls (bounded by their
// own caps) are not counted. It is safe for concurrent use.
type Admission struct {
	slots    chan struct{}
	maxQueue int64
	wait     time.Duration
	queued   atomic.Int64
	shed     atomic.Uint64
}

// NewAdmission returns an admission of limit requests at once, a queue of
// at most queue more, each waiting at most wait. limit <= 0 admits
// everything.
func NewAdmission(limit, queue int, wait time.Duration) *Admission {
	if limit <= 0 {
		return nil
	}
	return &Admission{slots: make(chan struct{}, limit), maxQueue: int64(queue), wait: wait}
}

// Shed returns how many requests were answered 503 so far.
func (a *Admission) Shed() uint64 {
	if a == nil {
		return 0
	}
	return a.shed.Load()
}

// InFlight returns the requests being served now.
func (a *Admission) InFlight() int {
	if a == nil {
		return 0
	}
	return len(a.slots)
}

// Queued returns the requests waiting now.
func (a *Admission) Queued() int64 {
	if a == nil {
		return 0
	}
	return a.queued.Load()
}

// acquire takes a slot, waiting in the queue if there is room in it. It
// returns ErrBusy when the request is shed, ctx's error when the client
// left.
func (a *Admission) acquire(ctx context.Context) error {
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}
	if a.queued.Add(1) > a.maxQueue {
		a.queued.Add(-1)
		a.shed.Add(1)
		return ErrBusy
	}
	defer a.queued.Add(-1)
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-t.C:
		a.shed.Add(1)
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Admission) release() { <-a.slots }

// Admit is the chain's admission step: it wraps every route but probes,
// streams and long routes (nil a: none).
func Admit(a *Admission) Middleware {
	return func(rt Route, next http.Handler) http.Handler {
		if a == nil || rt.Probe || rt.Stream || rt.Long {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := a.acquire(r.Context()); err != nil {
				if errors.Is(err, ErrBusy) {
					w.Header().Set("Retry-After", strconv.Itoa(1))
				}
				WriteError(w, r, nil, rt.ErrorType, err)
				return
			}
			defer a.release()
			next.ServeHTTP(w, r)
		})
	}
}
