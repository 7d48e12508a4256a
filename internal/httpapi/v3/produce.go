package v3

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/guard"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
)

// Stream limits. The window bounds records read but not yet answered
// (memory and latency); the byte budget bounds what they hold: their
// payload and recordOverhead each (the decoded record, its slot and
// receipt), taken from the process's memory budget (httpapi.Memory) in
// creditChunk steps as the stream needs it.
const (
	streamWindow     = 4096
	firstRing        = 64 // slots a stream starts with (doubled as needed, up to streamWindow)
	streamByteBudget = 32 << 20
	creditChunk      = 1 << 20
	recordOverhead   = 512
	// drainGrace is how long a stream keeps reading after shutdown
	// starts or its lifetime ends (answering each further record 503 or
	// 408), as Confluent's grace period for streams past their maximum
	// duration.
	drainGrace = 500 * time.Millisecond
	// maxDeadlineSlack: deadlines are pushed at most once a second (or a
	// quarter of the timeout, when shorter), not on every read or write.
	maxDeadlineSlack = time.Second
)

// produceContent checks the Content-Type of a produce request: JSON (or
// none) in UTF-8 or ISO-8859-1, as Confluent; latin1 reports the latter
// (the body is then read as UTF-8 through a transcoder).
func produceContent(r *http.Request) (latin1 bool, err error) {
	if err := jsonContent(r); err != nil {
		return false, err
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false, nil
	}
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, httpapi.ErrUnsupportedMediaType.Msg("HTTP 415 Unsupported Media Type: malformed Content-Type.")
	}
	switch cs := strings.ToLower(params["charset"]); cs {
	case "", "utf-8", "utf8":
		return false, nil
	case "iso-8859-1", "latin1":
		return true, nil
	default:
		return false, httpapi.ErrBadRequest.Msg("Bad Request: unsupported charset %q; send UTF-8.", truncate(cs, 32))
	}
}

// slot is one record's place in the receipt order: a ring entry reused
// with its record, receipt buffer and callback (made once per slot).
type slot struct {
	done    atomic.Bool
	receipt []byte
	// produced and size are set with a success receipt (for metrics);
	// cost is what the record holds of the stream's budget.
	produced   bool
	size, cost int64

	rec                kgo.Record // the record in flight
	keyInfo, valueInfo dataInfo   // for the receipt
	answer             func(*kgo.Record, error)
}

// poke wakes a waiter on a channel of capacity one without blocking.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// stream is one POST .../records in flight. The handler's goroutine reads
// and produces; writeLoop writes receipts in order as records are
// acknowledged.
type stream struct {
	// info makes a receipt's key or value part.
	info   func(key bool, f record.Name, b []byte) dataInfo
	a      *api
	rc     *http.ResponseController
	w      http.ResponseWriter
	rw     *receiptWriter
	target *kafka.Target
	terr   *httpapi.Error // the topic could not be resolved
	ctx    context.Context

	// inflight counts what records read and not yet answered hold (key
	// and value bytes and recordOverhead each); the reader waits on
	// released above credit, which it takes from mem as needed up to
	// streamByteBudget (credit is the reader's alone).
	inflight atomic.Int64
	released chan struct{}
	mem      *httpapi.Account
	credit   int64

	// The ring of records in flight, in order: the reader fills slots
	// at tail, the writer answers them at head.
	ring   atomic.Pointer[ring]
	head   atomic.Uint64 // written by writeLoop only
	tail   atomic.Uint64 // written by the reader only
	closed atomic.Bool   // the reader is done: no more slots
	ready  chan struct{} // a slot completed, or the reader closed
	space  chan struct{} // the writer freed slots

	// Each waiter says so before it re-checks and blocks; the other side
	// pokes only then (sequentially consistent atomics: no lost wakeup).
	writerWaiting, spaceWaiting, budgetWaiting atomic.Bool

	records, bytes prometheus.Counter

	// What may end the stream while it runs (standing.go): end is the
	// answer of every further record once the stream is ending (shutdown
	// 503, lifetime 408), stop the one error object that ends it now
	// (rights lost, token revoked or expired, daily quota exhausted).
	// halted closes at either.
	end, stop  atomic.Pointer[httpapi.Error]
	halted     chan struct{}
	haltOnce   sync.Once
	stopAnswer bool // the stop error was written (the handler's)
	topic      string
	live       *auth.Live
	changed    <-chan struct{} // the handler's: a change to re-check at
	expires    time.Time       // the token's expiry (zero: none)
	ticket     *ratelimit.Ticket
	metered    bool  // charge each record (byte limits apply)
	uncharged  int64 // bytes produced and not yet counted (unmetered)

	// deadlineMu orders drain's deadline after any extension.
	deadlineMu sync.Mutex
	noExtend   bool        // the read deadline is final (guarded by deadlineMu)
	readDL     time.Time   // the read deadline set last (guarded by deadlineMu)
	writeDead  atomic.Bool // the client stopped reading receipts

	writeExt time.Time // last write deadline push
}

// produceStream serves POST /v3/clusters/{cluster_id}/topics/{topic_name}/records.
func (a *api) produceStream(w http.ResponseWriter, r *http.Request) error {
	latin1, err := produceContent(r)
	if err != nil {
		return err
	}
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	topic := r.PathValue("topic_name")
	release, ex := a.streams.Acquire(streamHolder(r), a.perPrincipal)
	if ex != nil {
		return guard.Exceeded(w.Header(), ex)
	}
	defer release()
	mem := httpapi.MemoryFrom(r.Context())
	if err := mem.Take(r.Context(), creditChunk); err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	// HTTP/1.1 needs full duplex to read the body after the first
	// receipt; HTTP/2 is full duplex already (and says not supported).
	_ = rc.EnableFullDuplex()
	s := &stream{
		a: a, rc: rc, w: w, rw: newReceiptWriter(l.cid, topic),
		ctx:      context.WithoutCancel(r.Context()), // a client leaving must not half-cancel acknowledged work
		released: make(chan struct{}, 1),
		mem:      mem, credit: creditChunk,
		ready:  make(chan struct{}, 1),
		space:  make(chan struct{}, 1),
		halted: make(chan struct{}),
		topic:  topic,
		live:   auth.LiveFor(r.Context()),
		ticket: ratelimit.TicketFrom(r.Context()),
	}
	s.ring.Store(&ring{slots: make([]*slot, firstRing)})
	s.metered = s.ticket.Metered()
	if s.live != nil {
		s.changed = s.live.Changed()
		s.expires = s.live.Principal().Expires
	}
	if a.m != nil {
		s.records, s.bytes = a.m.RecordsProduced.WithLabelValues("v3"), a.m.BytesProduced.WithLabelValues("v3")
	}
	var in io.Reader = r.Body
	if latin1 {
		in = record.Latin1Reader(in)
	}
	body := &beforeRead{r: in}
	res, audited, info := a.resolver(r, topic)
	s.info = info
	defer audited()
	// 4 KiB for a stream that sends a record now and then, 64 KiB once
	// its body comes 2 KiB or more at a time (fewer reads for one
	// sending flat out).
	st := record.NewGrowingStream(body, 4<<10, 64<<10, a.maxRecord, res, topic)

	// The first record decides between a pre-stream error and 200.
	s.extendRead(time.Now(), true)
	first, ferr := st.Next()
	if errors.Is(ferr, io.EOF) {
		return httpapi.ErrPayload.Msg("Payload error. %s", emptyData)
	}
	var de *record.Error
	if ferr != nil && !errors.As(ferr, &de) {
		return readErr(ferr)
	}
	s.target, err = a.kc.Target(r.Context(), topic)
	if err != nil {
		s.terr = httpapi.FromKafka(err)
		if errors.Is(err, kafka.ErrUnknownTopic) {
			s.terr = httpapi.ErrTopicNotFound.Msg("Topic %s not found.", truncate(topic, 255)).Wrap(err)
		}
	}
	httpapi.StartStream(w)
	w.Header().Set("Content-Type", mtJSON)
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.writeLoop()
	}()
	done := make(chan struct{})
	var dwg sync.WaitGroup
	dwg.Add(1)
	go func() {
		defer dwg.Done()
		s.watch(done)
	}()

	// The first record, then the rest through the reader goroutine,
	// which scans and decodes the next records while this one produces.
	it, ok, more := s.classify(first, ferr, st.Started())
	if ok {
		if it.he == nil {
			it.cost = s.hold(&it.d)
		}
		s.apply(&it)
	}
	if more {
		items := make(chan []item, 4)
		free := make(chan []item, 8) // spent batches go back to the reader
		stop := make(chan struct{})
		var rwg sync.WaitGroup
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			s.readLoop(st, body, items, free, stop)
		}()
		halted := s.halted
	batches:
		for {
			var batch []item
			select {
			case b, ok := <-items:
				if !ok {
					break batches
				}
				batch = b
			case <-halted:
				// Stopped while waiting for records (an idle client): the
				// error goes out now, not when the read ends.
				halted = nil
				if e := s.stop.Load(); e != nil {
					s.answerStop(e)
				}
				continue
			}
			for i := range batch {
				s.apply(&batch[i])
				batch[i] = item{} // let the record go
			}
			select {
			case free <- batch[:0]:
			default:
			}
			if s.writeDead.Load() {
				// Nobody reads receipts: stop reading records.
				close(stop)
				s.abortRead()
				for range items {
				}
				break
			}
		}
		rwg.Wait()
	}
	close(done)
	dwg.Wait() // no deadline may be set after the handler returns
	if e := s.stop.Load(); e != nil {
		s.answerStop(e) // stopped while idle: the error object ends the stream
	}
	if s.uncharged > 0 {
		s.ticket.Charge(time.Now(), s.uncharged)
	}
	s.closed.Store(true)
	s.wakeWriter()
	wg.Wait()
	if s.stop.Load() != nil && !s.writeDead.Load() {
		s.discard(body)
	}
	return nil
}

// item is one read of the stream: a record to produce or an error to
// answer (stop: the error that ends the stream). at is when it was read
// (the clock is read once per batch); cost what the record holds of the
// stream's budget.
type item struct {
	d    record.Record
	he   *httpapi.Error
	at   time.Time
	cost int64
	stop bool
}

// beforeRead calls hook before each read of the request body, that is
// whenever the buffered bytes are used up and a read may block.
type beforeRead struct {
	r    io.Reader
	hook func()
}

func (b *beforeRead) Read(p []byte) (int, error) {
	if b.hook != nil {
		b.hook()
	}
	return b.r.Read(p)
}

// readLoop reads, scans and decodes records into items, sending them in
// batches: up to 64, and always before the body is read again, so that no
// decoded record waits for bytes that have not arrived. It closes items
// when the stream ends.
func (s *stream) readLoop(st *record.Stream, body *beforeRead, items chan<- []item, free <-chan []item, stop <-chan struct{}) {
	defer close(items)
	fresh := func() []item {
		select {
		case b := <-free:
			return b
		default:
			return make([]item, 0, 64)
		}
	}
	batch := fresh()
	var at time.Time // the clock, read once per batch
	// recordStart is when the record being read began (zero between
	// records): it must arrive whole within record_timeout.
	var recordStart time.Time
	stopped := false
	var send func() bool
	body.hook = func() {
		// About to wait for the client: hand over what is decoded, and
		// give the client read_timeout from now (but no more than the
		// record in progress has left).
		if !stopped && !send() {
			stopped = true
		}
		if st.Started() {
			if recordStart.IsZero() {
				recordStart = time.Now()
			}
		} else {
			recordStart = time.Time{}
		}
		s.extendRead(recordStart, false)
	}
	defer func() { body.hook = nil }()
	send = func() bool {
		if len(batch) == 0 {
			return true
		}
		select {
		case items <- batch:
			batch, at = fresh(), time.Time{}
			return true
		case <-stop:
			return false
		}
	}
	for {
		d, err := st.Next()
		recordStart = time.Time{}
		it, ok, more := s.classify(d, err, st.Started())
		if ok {
			if it.he == nil {
				// Room for the record in the stream's budget; the
				// decoded records go first, whose answers make room.
				cost := int64(d.Size()) + recordOverhead
				if !s.room(cost) {
					if !send() {
						return
					}
					wait(&s.budgetWaiting, s.released, func() bool { return s.room(cost) })
				}
				it.cost = cost
				s.inflight.Add(cost)
			}
			if at.IsZero() {
				at = time.Now()
			}
			it.at = at
			batch = append(batch, it)
		}
		if !more || stopped {
			if !stopped {
				send()
			}
			if it.stop {
				// What the client still sends is dropped until the stop's
				// grace ends, so that it can read what was answered.
				body.hook = nil
				_, _ = io.Copy(io.Discard, body)
			}
			return
		}
		if len(batch) >= 64 && !send() {
			return
		}
	}
}

// hold counts a record read outside the reader (the first) in flight.
func (s *stream) hold(d *record.Record) int64 {
	cost := int64(d.Size()) + recordOverhead
	s.inflight.Add(cost)
	return cost
}

// room reports whether a record of cost fits the stream's budget, taking
// more of the process's memory budget if it is free (never waiting for
// it: a stream always has its first credit, and makes room by answering).
// The reader's alone.
func (s *stream) room(cost int64) bool {
	n := s.inflight.Load()
	if n == 0 || n+cost <= s.credit {
		return true
	}
	for s.credit < streamByteBudget && n+cost > s.credit && s.mem.TryTake(creditChunk) {
		s.credit += creditChunk
	}
	return n+cost <= s.credit
}

// unhold gives a record's cost back when it was not produced.
func (s *stream) unhold(cost int64) {
	if cost > 0 {
		s.inflight.Add(-cost)
		if s.budgetWaiting.Load() {
			poke(s.released)
		}
	}
}

// apply answers one item: produce its record or queue its error.
func (s *stream) apply(it *item) {
	switch {
	case it.stop:
		s.answerStop(it.he)
	case it.he != nil:
		s.fail(it.he)
	default:
		s.produce(it.d, it.at, it.cost)
	}
}

// drain starts the end of the stream (shutdown, or its lifetime is over):
// every further record is answered he, and reads stop after the grace
// period.
func (s *stream) drain(he *httpapi.Error) {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	if !s.end.CompareAndSwap(nil, he) {
		return
	}
	s.haltOnce.Do(func() { close(s.halted) })
	if !s.noExtend {
		s.noExtend = true
		_ = s.rc.SetReadDeadline(time.Now().Add(drainGrace))
	}
}

// discard reads and drops what the client still sends after the stream
// stopped and its receipts went out, for the grace period: a client still
// sending then reads them before the connection closes (closing it with
// unread bytes resets it, and the client would lose what it had not read).
// (A read that timed out leaves a chunked body unreadable: then there is
// nothing more to drop.)
func (s *stream) discard(body *beforeRead) {
	body.hook = nil
	s.deadlineMu.Lock()
	s.noExtend = true
	_ = s.rc.SetReadDeadline(time.Now().Add(drainGrace))
	s.deadlineMu.Unlock()
	_, _ = io.Copy(io.Discard, body)
}

// abortRead ends a blocked read at once (the reader must stop).
func (s *stream) abortRead() {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	s.noExtend = true
	_ = s.rc.SetReadDeadline(time.Now())
}

// extendRead gives the client read_timeout from now to send more, but no
// more than record_timeout from the start of the record in progress
// (zero: between records): it runs before each read of the body, and
// pushes the deadline at most once a second (unless forced); it is never
// pushed past either bound.
func (s *stream) extendRead(recordStart time.Time, force bool) {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	if s.noExtend {
		return
	}
	now := time.Now()
	dl := now.Add(s.a.readTimeout)
	if !recordStart.IsZero() {
		dl = minTime(dl, recordStart.Add(s.a.recordTimeout))
	}
	if force || dl.Before(s.readDL) || dl.Sub(s.readDL) > min(maxDeadlineSlack, s.a.readTimeout/4) {
		s.readDL = dl
		_ = s.rc.SetReadDeadline(dl)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// readErr classifies a body read error that ends a stream before it
// started.
func readErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return httpapi.ErrRequestTimeout.Wrap(err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return httpapi.ErrBadRequest.Msg("Bad Request: the request body ended early.").Wrap(err)
	}
	return err
}

// classify turns one read into an item (ok false: nothing to answer) and
// reports whether the stream goes on. Items are values: one per record,
// on the hot path, must not cost an allocation.
func (s *stream) classify(d record.Record, rerr error, started bool) (it item, ok, more bool) {
	if e := s.stop.Load(); e != nil {
		// The stream stopped: whatever was read is not produced, and the
		// stop error ends it.
		return item{he: e, stop: true}, true, false
	}
	if rerr != nil {
		var e *record.Error
		switch {
		case errors.Is(rerr, io.EOF):
			return item{}, false, false
		case errors.As(rerr, &e):
			if e.Ends() {
				return item{he: recordError(e)}, true, false
			}
			if s.end.Load() != nil {
				break // answered as not produced, below
			}
			return item{he: recordError(e)}, true, true
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			if s.end.Load() != nil || !started {
				return item{}, false, false // shutdown, or idle between records: end cleanly
			}
			return item{he: httpapi.ErrRequestTimeout.Msg("Timed out reading the record; the stream ends here.")}, true, false
		case errors.Is(rerr, io.ErrUnexpectedEOF):
			return item{he: httpapi.ErrBadRequest.Msg("Bad Request: the request body ended inside a record.")}, true, false
		default:
			// The client went away; nobody reads receipts any more.
			s.a.logger.Debug("produce stream read failed", "err", rerr)
			return item{}, false, false
		}
	}
	if e := s.end.Load(); e != nil {
		return item{he: e}, true, true
	}
	return item{d: d}, true, true
}

// wait blocks on ch until cond holds, flagging waiting meanwhile.
func wait(waiting *atomic.Bool, ch chan struct{}, cond func() bool) {
	for !cond() {
		waiting.Store(true)
		if cond() {
			waiting.Store(false)
			return
		}
		<-ch
		waiting.Store(false)
	}
}

// wakeWriter pokes the writer if it waits.
func (s *stream) wakeWriter() {
	if s.writerWaiting.Load() {
		poke(s.ready)
	}
}

// ring is the slots of a stream's records in flight: record i's at
// i mod len(slots), a power of two. A stream starts with firstRing slots
// and doubles them when its records in flight fill them, up to
// streamWindow, so that it holds slots (about 600 bytes each with their
// receipts) for as many records as it has had in flight at once, not for
// a whole window: a device's stream sending a record now and then keeps
// 64, not 4096.
type ring struct{ slots []*slot }

func (r *ring) at(i uint64) *slot { return r.slots[i&uint64(len(r.slots)-1)] }

// reserve returns the next free slot, waiting while the window is full.
func (s *stream) reserve() *slot {
	t := s.tail.Load()
	wait(&s.spaceWaiting, s.space, func() bool { return t-s.head.Load() < streamWindow })
	r := s.ring.Load()
	if h := s.head.Load(); t-h >= uint64(len(r.slots)) {
		r = s.grow(r, h, t)
	}
	i := t & uint64(len(r.slots)-1)
	sl := r.slots[i]
	if sl == nil {
		// The writer reads it only once tail moves past it (an atomic
		// store after this one).
		sl = &slot{receipt: make([]byte, 0, 256)}
		sl.answer = func(r *kgo.Record, err error) { s.answer(sl, r, err) }
		r.slots[i] = sl
	}
	sl.done.Store(false)
	sl.produced = false
	sl.receipt = sl.receipt[:0]
	return sl
}

// grow doubles the ring, full with the records h to t in flight. The
// writer, at some record from h on, may still read the old ring: it
// holds the same slots for those records, and the new one is published
// before tail moves on (the writer loads the ring after tail).
func (s *stream) grow(old *ring, h, t uint64) *ring {
	r := &ring{slots: make([]*slot, 2*len(old.slots))}
	for i := h; i < t; i++ {
		r.slots[i&uint64(len(r.slots)-1)] = old.at(i)
	}
	s.ring.Store(r)
	return r
}

// publish makes the reserved slot visible to the writer (which has
// nothing to do with it before it completes).
func (s *stream) publish() {
	s.tail.Add(1)
}

// complete marks a slot answered.
func (s *stream) complete(sl *slot) {
	sl.done.Store(true)
	s.wakeWriter()
}

// fail queues an error receipt (already complete).
func (s *stream) fail(he *httpapi.Error) {
	sl := s.reserve()
	sl.receipt = streamError(sl.receipt, he)
	sl.done.Store(true)
	s.publish()
	s.wakeWriter()
}

// produce produces one record, if the stream's principal still may and
// its byte limits allow (standing.go); cost is what it holds.
func (s *stream) produce(d record.Record, at time.Time, cost int64) {
	if he := s.check(); he != nil {
		s.unhold(cost)
		s.answerStop(he)
		return
	}
	if s.terr != nil {
		s.unhold(cost)
		s.fail(s.terr)
		return
	}
	if err := s.a.kc.Refresh(s.ctx, s.target); err != nil {
		s.unhold(cost)
		s.fail(httpapi.FromKafka(err))
		return
	}
	size := int64(d.Size())
	if he := s.charge(size); he != nil {
		s.unhold(cost)
		s.answerStop(he)
		return
	}
	sl := s.reserve()
	if err := s.target.Fill(&sl.rec, d.Partition, d.Key, d.Value, d.Headers, d.Timestamp); err != nil {
		s.unhold(cost)
		sl.receipt = streamError(sl.receipt, httpapi.ErrPartitionNotFound.Msg("Partition %d not found: topic %s has %d partition(s).", d.Partition, s.target.Topic, s.target.Partitions))
		sl.done.Store(true)
		s.publish()
		s.wakeWriter()
		return
	}
	sl.keyInfo, sl.valueInfo, sl.size, sl.cost = s.info(true, d.KeyFormat, d.Key), s.info(false, d.ValueFormat, d.Value), size, cost
	s.publish()
	s.a.kc.ProduceAt(s.ctx, at, &sl.rec, sl.answer)
}

// answer renders a record's receipt when Kafka answered it.
func (s *stream) answer(sl *slot, r *kgo.Record, err error) {
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = kgo.ErrRecordTimeout // our produce timeout, not a client's
		}
		sl.receipt = streamError(sl.receipt, httpapi.FromKafka(err))
	} else {
		sl.receipt = s.rw.success(sl.receipt, r.Partition, r.Offset, r.Timestamp, sl.keyInfo, sl.valueInfo)
		sl.produced = true
	}
	s.inflight.Add(-sl.cost)
	if s.budgetWaiting.Load() {
		poke(s.released)
	}
	s.complete(sl)
}

// answered reports whether the slot at h holds an answered record. (A
// slot below tail is set: the reader publishes a slot after making it.)
func (s *stream) answered(h uint64) bool {
	return h != s.tail.Load() && s.ring.Load().at(h).done.Load()
}

// writerMayGo reports whether the writer, at h, has something to do: a
// receipt to write, or nothing left at all. Closed with records still in
// flight is no reason to stop waiting: each answer wakes the writer.
// (Waking on closed alone made the writer spin until the last answer, a
// core per stream whose body had been read.)
func (s *stream) writerMayGo(h uint64) bool {
	return s.answered(h) || s.closed.Load() && h == s.tail.Load()
}

// writeLoop writes receipts in record order, each as soon as its record
// is answered: receipts that are ready together go out in one write, and
// the loop never waits for a record while holding unwritten receipts.
func (s *stream) writeLoop() {
	buf := make([]byte, 0, 16<<10)
	var records, bytes int64 // produced, counted in the metrics per write
	flush := func() {
		s.write(buf)
		buf = buf[:0]
		if s.records != nil && records > 0 {
			s.records.Add(float64(records))
			s.bytes.Add(float64(bytes))
		}
		records, bytes = 0, 0
	}
	for {
		h := s.head.Load()
		if !s.answered(h) {
			if len(buf) > 0 {
				flush()
			}
			if h == s.tail.Load() && s.closed.Load() && h == s.tail.Load() {
				return
			}
			wait(&s.writerWaiting, s.ready, func() bool { return s.writerMayGo(h) })
			continue
		}
		sl := s.ring.Load().at(h)
		buf = append(append(buf, sl.receipt...), '\r', '\n')
		if sl.produced {
			records++
			bytes += sl.size
		}
		s.head.Store(h + 1)
		if s.spaceWaiting.Load() {
			poke(s.space)
		}
		if len(buf) >= 64<<10 {
			flush()
		}
	}
}

func (s *stream) write(b []byte) {
	if s.writeDead.Load() {
		return // keep draining slots so that the reader never blocks
	}
	now := time.Now()
	if now.Sub(s.writeExt) > min(maxDeadlineSlack, s.a.writeTimeout/4) {
		s.writeExt = now
		_ = s.rc.SetWriteDeadline(now.Add(s.a.writeTimeout))
	}
	if _, err := s.w.Write(b); err != nil {
		s.writeDead.Store(true)
		s.a.logger.Debug("produce stream write failed", "err", err)
		return
	}
	if err := s.rc.Flush(); err != nil {
		s.writeDead.Store(true)
	}
}
