package v3

import (
	"net/http"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/guard"
)

// What ends a produce stream while it runs, besides its client: every
// record is authorized and metered as it is produced, with the rights in
// force then. Per record that costs an atomic load or two (auth.Live
// answers from its last decisions until something changed); the watcher
// goroutine re-checks at every change, at the token's expiry and at the
// end of the stream's lifetime, so that an idle stream ends too.

// streamHolder names whom a stream's slot is charged to: the principal,
// or for anonymous callers the principal and the client address (as the
// rate limits do).
func streamHolder(r *http.Request) string {
	p := auth.FromContext(r.Context())
	switch {
	case p == nil:
		return auth.Anonymous
	case !p.Authenticated():
		return p.Name + "@" + p.ClientIP.String()
	}
	return p.Name
}

// watch ends the stream when its principal loses its standing or its
// right to produce, when its lifetime is over and on shutdown, until done
// closes.
func (s *stream) watch(done <-chan struct{}) {
	life := time.NewTimer(s.a.maxDuration)
	defer life.Stop()
	var expiry <-chan time.Time
	if !s.expires.IsZero() {
		t := time.NewTimer(time.Until(s.expires))
		defer t.Stop()
		expiry = t.C
	}
	draining := s.a.draining
	changed := s.live.Changed() // nil without a Live: never
	for {
		select {
		case <-done:
			return
		case <-draining:
			draining = nil
			s.drain(httpapi.ErrShuttingDown.Msg("The gateway is shutting down; this record was not produced."))
		case <-life.C:
			s.drain(httpapi.ErrRequestTimeout.Msg("Streaming connection open for longer than allowed (%s); this record was not produced.", s.a.maxDuration))
		case <-changed:
			changed = s.live.Changed() // before the check: no change is missed
			s.recheck()
		case <-expiry:
			expiry = nil
			s.recheck()
		}
	}
}

// recheck stops the stream when its principal may no longer produce to
// its topic.
func (s *stream) recheck() *httpapi.Error {
	he := guard.LiveRefusal(s.live.Authorize(s.ctx, auth.Produce, s.topic))
	if he != nil {
		he = he.Msg("%s The stream ends here.", he.Message)
		s.halt(he)
		return s.stop.Load()
	}
	return nil
}

// check is the per-record test of the stream's standing (the handler's):
// stopped already, a change since the last check, or the token expired.
func (s *stream) check() *httpapi.Error {
	if e := s.stop.Load(); e != nil {
		return e
	}
	if s.live == nil {
		return nil
	}
	select {
	case <-s.changed:
		s.changed = s.live.Changed()
		if he := s.recheck(); he != nil {
			return he
		}
	default:
	}
	if !s.expires.IsZero() && !time.Now().Before(s.expires) {
		return s.recheck()
	}
	return nil
}

// halt stops the stream with he (the first stop wins): nothing more is
// produced, the error goes out at once, and reading ends after the grace
// period (records read meanwhile are dropped), so that a client still
// sending reads the answer before the connection closes.
func (s *stream) halt(he *httpapi.Error) {
	if s.stop.CompareAndSwap(nil, he) {
		s.a.logger.Info("produce stream stopped", "request_id", httpapi.RequestID(s.ctx), "principal", httpapi.Principal(s.ctx),
			"topic", s.topic, "status", he.Status, "error_code", he.Code, "reason", he.Message)
		s.haltOnce.Do(func() { close(s.halted) })
		s.deadlineMu.Lock()
		s.noExtend = true
		_ = s.rc.SetReadDeadline(time.Now().Add(drainGrace))
		s.deadlineMu.Unlock()
	}
}

// answerStop writes the error that ends the stream, once.
func (s *stream) answerStop(he *httpapi.Error) {
	if !s.stopAnswer {
		s.stopAnswer = true
		s.fail(he)
	}
}

// charge meters a record's bytes before it is produced: over the byte
// rate the stream pauses (slowed, not cut off); past the daily quota it
// ends with a 429 for this record. Unmetered principals' bytes are summed
// and counted every MiB and at the end.
func (s *stream) charge(n int64) *httpapi.Error {
	if !s.metered {
		if s.uncharged += n; s.uncharged >= 1<<20 {
			s.ticket.Charge(time.Now(), s.uncharged)
			s.uncharged = 0
		}
		return nil
	}
	pause, ex := s.ticket.Charge(time.Now(), n)
	if ex != nil {
		he := guard.Exceeded(nil, ex)
		he = he.Msg("%s This record was not produced; the stream ends here.", he.Message)
		s.halt(he)
		return s.stop.Load()
	}
	if pause > 0 {
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-s.halted:
			t.Stop()
		}
	}
	return nil
}
