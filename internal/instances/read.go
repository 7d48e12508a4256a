package instances

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
)

// ReadRequest is one records read.
type ReadRequest struct {
	// Deadline ends the wait for records (the long poll).
	Deadline time.Time
	// MaxBytes caps the key+value bytes returned (one record always
	// goes, however large, so that it cannot wedge a consumer).
	MaxBytes int64
	// Live is the reader's standing: each record's topic is authorized
	// with it as the record is taken (nil: everything is allowed).
	Live *auth.Live
	// Ticket is charged each record's key+value bytes as it is taken
	// (nil: not metered).
	Ticket *ratelimit.Ticket
}

// Batch is what a read returns: a JSON array of v2 ConsumerRecords in the
// instance's format, how many records it holds and their key+value bytes
// (exactly what was charged).
type Batch struct {
	Body    []byte
	Records int
	Bytes   int64
}

// Read waits until q.Deadline for the first record (and for
// fetch.min.bytes, when set), then takes what is buffered, up to
// q.MaxBytes. Each record is authorized (fetch on its topic, with the
// rights of now) and charged as it is taken:
//
//   - a record of a topic the reader may no longer fetch is not returned;
//     it stays buffered, and its topic is paused, until fetch is allowed
//     again;
//   - a record the daily byte quota cannot pay for ends the read before
//     it (the *ratelimit.Exceeded when nothing came before it), and one
//     that puts the byte rate into debt ends it after it;
//   - a record the format cannot show ends the read before it (the
//     *UndecodableError when nothing came before it), as Confluent's does.
//
// Records not returned stay buffered for the next read; only returned
// records count as delivered (for commits). A change of rights ends the
// wait at once to re-check them: a reader that no longer stands or may
// no longer consume the group gets that error. Over the owner's cap on
// reads in progress it returns *ratelimit.Exceeded without waiting.
func (in *Instance) Read(ctx context.Context, q ReadRequest) (Batch, error) {
	release, ex := in.r.polls.Acquire(in.ownerName, in.r.o.Config.MaxLongPollsPerPrincipal)
	if ex != nil {
		return Batch{}, ex
	}
	defer release()
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return Batch{}, ErrNotFound
	}
	if in.mode == modeNone {
		return Batch{}, ErrNotConsuming
	}
	in.lastRead.Store(time.Now().UnixNano())
	defer func() { in.lastRead.Store(time.Now().UnixNano()) }()
	live := q.Live
	changed := live.Changed()
	if err := in.standingOf(ctx, live, time.Now()); err != nil {
		return Batch{}, err
	}
	if in.idle {
		in.idle = false
		in.dirty.Store(true)
	}
	if in.dirty.Swap(false) {
		if err := in.reconcileLocked(ctx, live); err != nil {
			return Batch{}, err
		}
	}
	rd := reading{in: in, q: q, body: append(make([]byte, 0, 512), '[')}
	rd.take(ctx)
	for !rd.complete() {
		remaining := time.Until(q.Deadline)
		if remaining <= 0 {
			break
		}
		if err := in.wait(ctx, remaining, changed, &rd); err != nil {
			return Batch{}, err
		}
		if ctx.Err() != nil || in.ctx.Err() != nil {
			break
		}
		select {
		case <-changed:
			changed = live.Changed()
			in.dirty.Store(true)
			if err := in.standingOf(ctx, live, time.Now()); err != nil && len(rd.delivered) == 0 {
				return Batch{}, err
			}
		default:
		}
		if in.dirty.Swap(false) {
			if err := in.reconcileLocked(ctx, live); err != nil && len(rd.delivered) == 0 {
				return Batch{}, err
			}
		}
		rd.take(ctx)
		if rd.fetchErr != nil {
			break
		}
	}
	if len(rd.delivered) == 0 {
		switch {
		case rd.stopErr != nil:
			return Batch{}, rd.stopErr
		case rd.fetchErr != nil:
			return Batch{}, rd.fetchErr
		}
		if err := in.standingOf(ctx, live, time.Now()); err != nil {
			return Batch{}, err
		}
	} else if rd.fetchErr != nil {
		in.r.logger.Warn("consumer fetch error", "group", in.group, "instance", in.name, "err", rd.fetchErr)
	}
	if len(rd.delivered) > 0 {
		in.stateMu.Lock()
		for _, r := range rd.delivered {
			in.returned[Partition{r.Topic, r.Partition}] = r.Offset + 1
		}
		in.stateMu.Unlock()
		if in.mode == modeSubscribe && in.set.AutoCommit && in.cl != nil {
			// Only what the client is given may be committed.
			in.cl.MarkCommitRecords(rd.delivered...)
		}
		in.r.o.Tracer.Delivered(ctx, "v2", in.group, rd.delivered)
	}
	return Batch{Body: append(rd.body, ']'), Records: len(rd.delivered), Bytes: rd.total}, nil
}

// wait polls the client for up to d, buffering what it fetched; a change
// of rights, a kick (the topic list changed) or the instance's close
// ends it early. A pattern that matches nothing yet has no client: it
// just waits.
func (in *Instance) wait(ctx context.Context, d time.Duration, changed <-chan struct{}, rd *reading) error {
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if in.cl == nil {
		select {
		case <-pctx.Done():
		case <-in.ctx.Done():
		case <-changed:
		case <-in.kickCh:
		}
		return nil
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
			return
		case <-in.ctx.Done():
		case <-changed:
		case <-in.kickCh:
		}
		cancel()
	}()
	fs := in.cl.PollRecords(pctx, 1000)
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		if ferr == nil {
			ferr = fmt.Errorf("fetching %s[%d]: %w", t, p, err)
		}
	})
	if recs := fs.Records(); len(recs) > 0 {
		in.stateMu.Lock()
		if len(in.floor) == 0 {
			in.buffer = append(in.buffer, recs...)
		} else {
			for _, r := range recs {
				if f, ok := in.floor[Partition{r.Topic, r.Partition}]; ok && r.Offset < f {
					continue // committed by the client already (skipCommittedLocked)
				}
				in.buffer = append(in.buffer, r)
			}
		}
		in.stateMu.Unlock()
	}
	if ferr != nil {
		rd.fetchErr = ferr
	}
	return nil
}

// reading is one read in progress.
type reading struct {
	in        *Instance
	q         ReadRequest
	body      []byte
	delivered []*kgo.Record
	total     int64
	// stopped: the read is complete (byte cap, a record it cannot show or
	// pay for, the byte rate in debt, the reader no longer standing);
	// stopErr is why, when that is an error for a read that returned
	// nothing.
	stopped  bool
	stopErr  error
	fetchErr error
}

// complete reports whether the read should return now.
func (rd *reading) complete() bool {
	if rd.stopped {
		return true
	}
	min := rd.in.set.MinBytes
	return len(rd.delivered) > 0 && (min <= 0 || rd.total >= int64(min))
}

// take moves buffered records into the body until the read is complete.
// Records it passes over (a forbidden topic) or stops before stay
// buffered, in order.
func (rd *reading) take(ctx context.Context) {
	in := rd.in
	f := in.set.Format
	in.stateMu.Lock()
	defer in.stateMu.Unlock()
	kept := in.buffer[:0]
	for _, r := range in.buffer {
		if rd.stopped {
			kept = append(kept, r)
			continue
		}
		if err := rd.q.Live.Authorize(ctx, auth.Fetch, r.Topic); err != nil {
			kept = append(kept, r)
			if gone(err) {
				rd.stopped, rd.stopErr = true, err
			} else {
				in.dirty.Store(true) // pause the topic
			}
			continue
		}
		n := int64(len(r.Key) + len(r.Value))
		if len(rd.delivered) > 0 && rd.total+n > rd.q.MaxBytes {
			rd.stopped = true
			kept = append(kept, r)
			continue
		}
		mark := len(rd.body)
		if len(rd.delivered) > 0 {
			rd.body = append(rd.body, ',')
		}
		var err error
		if rd.body, err = record.AppendV2Record(rd.body, r, f, f); err != nil {
			rd.body = rd.body[:mark]
			rd.stopped, rd.stopErr = true, undecodable(r, err)
			kept = append(kept, r)
			continue
		}
		wait, ex := rd.q.Ticket.Charge(time.Now(), n)
		if ex != nil {
			rd.body = rd.body[:mark]
			rd.stopped, rd.stopErr = true, ex
			kept = append(kept, r)
			continue
		}
		rd.delivered = append(rd.delivered, r)
		rd.total += n
		if wait > 0 {
			rd.stopped = true // over the byte rate: the next request waits it out
		}
	}
	clear(in.buffer[len(kept):]) // let the taken records go
	in.buffer = kept
}

func undecodable(r *kgo.Record, err error) error {
	u := &UndecodableError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Err: err}
	var e *record.Error
	if errors.As(err, &e) {
		u.Field, u.Problem = e.Field, e.Problem
	}
	return u
}
