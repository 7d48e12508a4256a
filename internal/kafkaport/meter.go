package kafkaport

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/kgate/kgate/internal/ratelimit"
)

// Limits is where an authenticated connection's byte limits come from
// (the HTTP side's limiter, so that a tenant has one allowance whatever
// the door): Admit returns the ticket its Produce requests and Fetch
// responses are charged to, or the limit that refuses it the connection.
type Limits interface {
	Admit(user string, now time.Time) (*ratelimit.Ticket, *ratelimit.Exceeded)
}

// Kafka API keys the meter reads.
const (
	apiProduce int16 = 0
	apiFetch   int16 = 1
)

// meter charges one authenticated connection's traffic to its
// principal's byte limits the way a Kafka broker enforces quotas: what
// goes over the byte rate is let through and the connection is then
// muted for as long as it takes to pay it back (the client's next request
// waits), so a tenant flooding over Kafka is slowed to its rate and never
// cut off. Produce requests are charged as they arrive (their whole
// frame), Fetch responses as the broker writes them. A daily byte quota
// that a Produce request would exceed ends the connection before the
// request reaches the broker (nothing is written, so nothing is lost: the
// client retries and its next login is refused with the quota's message);
// one that a Fetch response exceeds ends it after that response.
//
// It is safe for one reader and one writer goroutine.
type meter struct {
	ticket *ratelimit.Ticket
	now    func() time.Time

	// mu guards the fields below.
	mu        sync.Mutex
	fetches   map[int32]struct{} // correlation ids of Fetch requests in flight
	muteUntil time.Time
	exhausted *ratelimit.Exceeded // a Fetch response took the daily quota
}

func newMeter(t *ratelimit.Ticket, now func() time.Time) *meter {
	if now == nil {
		now = time.Now
	}
	return &meter{ticket: t, now: now, fetches: map[int32]struct{}{}}
}

// request meters one whole request frame (its length prefix included)
// before the broker reads it: it returns how long to wait before handing
// it over, or the quota that refuses it (the frame must not be handed
// over and the connection ends).
func (m *meter) request(frame []byte) (time.Duration, *ratelimit.Exceeded) {
	if len(frame) < 12 {
		return 0, nil // the broker answers a malformed header
	}
	key := int16(binary.BigEndian.Uint16(frame[4:]))
	corr := int32(binary.BigEndian.Uint32(frame[8:]))
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exhausted != nil {
		return 0, m.exhausted
	}
	wait := m.muteUntil.Sub(now)
	switch key {
	case apiFetch:
		m.fetches[corr] = struct{}{}
	case apiProduce:
		d, ex := m.ticket.Charge(now, int64(len(frame)))
		if ex != nil {
			return 0, ex
		}
		wait = max(wait, d)
		if d > 0 {
			m.muteUntil = now.Add(d)
		}
	}
	return max(wait, 0), nil
}

// response meters one whole response frame as the broker writes it.
func (m *meter) response(frame []byte) {
	if len(frame) < 8 {
		return
	}
	corr := int32(binary.BigEndian.Uint32(frame[4:]))
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.fetches[corr]; !ok {
		return
	}
	delete(m.fetches, corr)
	now := m.now()
	d, ex := m.ticket.Charge(now, int64(len(frame)))
	if ex != nil {
		// This response is on its way already (the broker read the
		// records for it); the quota ends the connection at its next
		// request.
		m.exhausted = ex
		return
	}
	if until := now.Add(d); d > 0 && until.After(m.muteUntil) {
		m.muteUntil = until
	}
}

// done records the connection in the usage counters (it counts as one
// request; its bytes were charged as they moved).
func (m *meter) done() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ticket.Done(m.now(), 0)
}
