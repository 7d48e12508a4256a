package v3

import (
	"bufio"
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
	"golang.org/x/sync/semaphore"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
)

// Stream limits. The window bounds records read but not yet answered
// (memory and latency); the byte budget bounds their payload.
const (
	streamWindow     = 4096
	streamByteBudget = 64 << 20
	// drainGrace is how long a stream keeps reading after shutdown
	// starts (answering each further record 503), as Confluent's grace
	// period for streams past their maximum duration.
	drainGrace = 500 * time.Millisecond
	// deadlineSlack: deadlines are pushed at most this often.
	deadlineSlack = time.Second
)

// produceContent checks the Content-Type of a produce request: JSON (or
// none) in UTF-8 or ISO-8859-1, as Confluent.
func produceContent(r *http.Request) error {
	if err := jsonContent(r); err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return httpapi.ErrUnsupportedMediaType.Msg("HTTP 415 Unsupported Media Type: malformed Content-Type.")
	}
	switch cs := strings.ToLower(params["charset"]); cs {
	case "", "utf-8", "utf8", "iso-8859-1":
		return nil
	default:
		return httpapi.ErrBadRequest.Msg("Bad Request: unsupported charset %q; send UTF-8.", truncate(cs, 32))
	}
}

// slot is one record's place in the receipt order.
type slot struct {
	done    chan struct{}
	receipt []byte
}

// stream is one POST .../records in flight. The handler's goroutine reads
// and produces; writeLoop writes receipts in order as records are
// acknowledged.
type stream struct {
	a      *api
	rc     *http.ResponseController
	w      http.ResponseWriter
	rw     receiptWriter
	target *kafka.Target
	terr   *httpapi.Error // the topic could not be resolved
	ctx    context.Context
	slots  chan *slot
	budget *semaphore.Weighted

	records, bytes prometheus.Counter

	// deadlineMu orders drain's deadline after any extension.
	deadlineMu sync.Mutex
	draining   atomic.Bool
	writeDead  atomic.Bool // the client stopped reading receipts

	readExt, writeExt time.Time // last deadline pushes
}

// produceStream serves POST /v3/clusters/{cluster_id}/topics/{topic_name}/records.
func (a *api) produceStream(w http.ResponseWriter, r *http.Request) error {
	if err := produceContent(r); err != nil {
		return err
	}
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	topic := r.PathValue("topic_name")
	rc := http.NewResponseController(w)
	// HTTP/1.1 needs full duplex to read the body after the first
	// receipt; HTTP/2 is full duplex already (and says not supported).
	_ = rc.EnableFullDuplex()
	s := &stream{
		a: a, rc: rc, w: w, rw: newReceiptWriter(l.cid, topic),
		ctx:    context.WithoutCancel(r.Context()), // a client leaving must not half-cancel acknowledged work
		slots:  make(chan *slot, streamWindow),
		budget: semaphore.NewWeighted(streamByteBudget),
	}
	if a.m != nil {
		s.records, s.bytes = a.m.RecordsProduced.WithLabelValues("v3"), a.m.BytesProduced.WithLabelValues("v3")
	}
	sc := newRecordScanner(bufio.NewReaderSize(r.Body, 64<<10), a.maxRecord)

	// The first record decides between a pre-stream error and 200.
	s.extendRead(true)
	first, ferr := sc.next()
	if errors.Is(ferr, io.EOF) {
		return httpapi.ErrPayload.Msg("Payload error. %s", emptyData)
	}
	if ferr != nil && !isStreamError(ferr) {
		return readErr(ferr)
	}
	s.target, err = a.kc.Target(r.Context(), topic)
	if err != nil {
		s.terr = httpapi.FromKafka(err)
		if errors.Is(err, kafka.ErrUnknownTopic) {
			s.terr = httpapi.ErrTopicNotFound.Msg("Topic %s not found.", truncate(topic, 255)).Wrap(err)
		}
	}
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
	defer close(done)
	if a.draining != nil {
		go func() {
			select {
			case <-a.draining:
				s.drain()
			case <-done:
			}
		}()
	}

	raw, rerr := first, ferr
	for {
		if !s.handle(raw, rerr, sc.started) {
			break
		}
		if s.writeDead.Load() {
			break
		}
		s.extendRead(false)
		raw, rerr = sc.next()
	}
	close(s.slots)
	wg.Wait()
	return nil
}

// drain starts the end of the stream on shutdown: reads stop after the
// grace period.
func (s *stream) drain() {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	s.draining.Store(true)
	_ = s.rc.SetReadDeadline(time.Now().Add(drainGrace))
}

func (s *stream) extendRead(force bool) {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	if s.draining.Load() {
		return
	}
	now := time.Now()
	if force || now.Sub(s.readExt) > deadlineSlack {
		s.readExt = now
		_ = s.rc.SetReadDeadline(now.Add(s.a.readTimeout))
	}
}

func isStreamError(err error) bool {
	var m errMalformed
	var t errTooLarge
	return errors.As(err, &m) || errors.As(err, &t)
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

// handle answers one read: a record to produce, a record-level error, or
// the end of the stream. It returns false when the stream must end.
func (s *stream) handle(raw []byte, rerr error, started bool) bool {
	if rerr != nil {
		var m errMalformed
		var t errTooLarge
		switch {
		case errors.Is(rerr, io.EOF):
			return false
		case errors.As(rerr, &m):
			s.fail(m.he)
		case errors.As(rerr, &t):
			s.fail(httpapi.ErrTooLarge.Msg("Record is larger than %d bytes; the stream ends here.", t.max))
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			if s.draining.Load() {
				return false // shutdown: end cleanly
			}
			if started {
				s.fail(httpapi.ErrRequestTimeout.Msg("Timed out reading the record; the stream ends here."))
			}
		case errors.Is(rerr, io.ErrUnexpectedEOF):
			s.fail(httpapi.ErrBadRequest.Msg("Bad Request: the request body ended inside a record."))
		default:
			// The client went away; nobody reads receipts any more.
			s.a.logger.Debug("produce stream read failed", "err", rerr)
		}
		return false
	}
	if s.draining.Load() {
		s.fail(httpapi.ErrShuttingDown.Msg("The gateway is shutting down; this record was not produced."))
		return true
	}
	d, err := decodeRecord(raw)
	if err != nil {
		var m errMalformed
		if errors.As(err, &m) {
			s.fail(m.he)
			return false
		}
		s.fail(httpapi.Classify(context.Background(), err))
		return true
	}
	s.produce(d)
	return true
}

// fail queues an error receipt (already complete).
func (s *stream) fail(he *httpapi.Error) {
	sl := &slot{done: make(chan struct{}), receipt: streamError(nil, he)}
	close(sl.done)
	s.slots <- sl
}

func (s *stream) produce(d decodedRecord) {
	if s.terr != nil {
		s.fail(s.terr)
		return
	}
	if err := s.a.kc.Refresh(s.ctx, s.target); err != nil {
		s.fail(httpapi.FromKafka(err))
		return
	}
	rec, err := s.target.Record(d.partition, d.key, d.value, d.headers, d.timestamp)
	if err != nil {
		s.fail(httpapi.ErrPartitionNotFound.Msg("Partition %d not found: topic %s has %d partition(s).", *d.partition, s.target.Topic, s.target.Partitions))
		return
	}
	size := int64(len(d.key) + len(d.value))
	cost := min(size, streamByteBudget)
	_ = s.budget.Acquire(s.ctx, cost) // s.ctx is never canceled
	sl := &slot{done: make(chan struct{})}
	keyInfo, valueInfo := d.keyInfo, d.valueInfo
	s.slots <- sl
	s.a.kc.Produce(s.ctx, rec, func(r *kgo.Record, err error) {
		if err != nil {
			sl.receipt = streamError(nil, httpapi.FromKafka(err))
		} else {
			sl.receipt = s.rw.success(make([]byte, 0, 192), r.Partition, r.Offset, r.Timestamp, keyInfo, valueInfo)
			if s.records != nil {
				s.records.Inc()
				s.bytes.Add(float64(size))
			}
		}
		s.budget.Release(cost)
		close(sl.done)
	})
}

// writeLoop writes receipts in record order, each as soon as its record
// is answered. Receipts that are ready together go out in one write;
// none waits for a later one.
func (s *stream) writeLoop() {
	buf := make([]byte, 0, 16<<10)
	var pending *slot
	for {
		sl := pending
		pending = nil
		if sl == nil {
			var ok bool
			if sl, ok = <-s.slots; !ok {
				return
			}
		}
		<-sl.done
		buf = append(append(buf, sl.receipt...), '\r', '\n')
		closed := false
	more:
		for len(buf) < 64<<10 {
			select {
			case nx, ok := <-s.slots:
				if !ok {
					closed = true
					break more
				}
				select {
				case <-nx.done:
					buf = append(append(buf, nx.receipt...), '\r', '\n')
				default:
					pending = nx
					break more
				}
			default:
				break more
			}
		}
		s.write(buf)
		buf = buf[:0]
		if closed {
			return
		}
	}
}

func (s *stream) write(b []byte) {
	if s.writeDead.Load() {
		return // keep draining slots so that the reader never blocks
	}
	now := time.Now()
	if now.Sub(s.writeExt) > deadlineSlack {
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
