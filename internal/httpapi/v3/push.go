package v3

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/guard"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/push"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
)

// Push consume: GET .../topics/{topic_name}/records/stream sends a topic's
// records as they arrive, over Server-Sent Events (Accept:
// text/event-stream) or WebSocket (Upgrade: websocket). The engine
// (positions, reading, filters, credit) is internal/push; this file
// translates requests and writes events. docs/api.md ("Push consume")
// is the contract.

const (
	mtEventStream = "text/event-stream"
	// wsProtocol is the WebSocket subprotocol kgate speaks; a browser
	// offers it beside its bearer token (auth.WebSocketTokenPrefix).
	wsProtocol = "kgate.v1"
	// pushBatch bounds the records read and written at once.
	pushBatch = 256
	// sseRetry is the reconnection delay kgate suggests to EventSource.
	sseRetry = 2 * time.Second
)

// endReason says in one word why a push stream ended (the end event's
// and close frame's reason).
type endReason string

const (
	endUnauthenticated endReason = "unauthenticated" // token revoked or expired, user gone
	endForbidden       endReason = "forbidden"       // the fetch right was removed
	endShutdown        endReason = "shutdown"        // the gateway is shutting down
	endLifetime        endReason = "lifetime"        // http.stream_max_duration passed
	endQuota           endReason = "quota"           // the daily byte quota is used up
	endKafka           endReason = "kafka"           // reading failed
	endProtocol        endReason = "protocol"        // the WebSocket client broke the protocol
	endLimit           endReason = "limit"           // the request's limit of records was sent
)

// maxPushLimit bounds a stream's limit parameter.
const maxPushLimit = 1_000_000

// pushEnd is why a stream ends: cancelling its context with one carries
// the answer to the end event. he is nil for a normal end (endLimit),
// which then says msg.
type pushEnd struct {
	he     *httpapi.Error
	reason endReason
	msg    string
}

func (e *pushEnd) Error() string {
	if e.he == nil {
		return string(e.reason) + ": " + e.msg
	}
	return string(e.reason) + ": " + e.he.Error()
}

// limitEnd is the end of a stream that sent its limit of records.
func limitEnd(n int64) *pushEnd {
	return &pushEnd{reason: endLimit, msg: "Sent " + strconv.FormatInt(n, 10) + " records, the request's limit; resume from the last event id."}
}

// pushQuery is a push request's parameters.
type pushQuery struct {
	format record.Format
	start  push.Start
	filter push.Filter
	group  string // group mode: a member of this consumer group
	limit  int64  // end after this many records (0: never)
}

func parsePushQuery(r *http.Request, topic string) (pushQuery, error) {
	q := r.URL.Query()
	var pq pushQuery
	name := record.Binary
	if f := q.Get("format"); f != "" {
		n, ok := record.ParseName(strings.ToUpper(f))
		if !ok || n.NeedsSchema() {
			return pq, httpapi.ErrBadRequest.Msg("format must be json, binary or string, got %q.", truncate(f, 32))
		}
		name = n
	}
	pq.format, _ = record.Builtin(name)
	var err error
	if pq.start.From, err = push.ParseFrom(q.Get("from")); err != nil {
		return pq, positionError(err)
	}
	if pq.start.Offsets, err = push.ParseOffsets(q.Get("offsets")); err != nil {
		return pq, positionError(err)
	}
	if pq.start.Timestamp, err = push.ParseTimestamp(q.Get("timestamp")); err != nil {
		return pq, positionError(err)
	}
	// Last-Event-ID (EventSource's reconnect) wins over position (a
	// client resuming by hand, a WebSocket from a browser).
	vec := r.Header.Get("Last-Event-ID")
	if vec == "" {
		vec = q.Get("position")
	}
	if vec != "" {
		if pq.start.Resume, err = push.DecodePosition(vec, topic); err != nil {
			return pq, positionError(err)
		}
	}
	if q.Has("group") {
		pq.group = q.Get("group")
		if pq.group == "" || len(pq.group) > 249 {
			return pq, httpapi.ErrBadRequest.Msg("Bad Request: group must be a consumer group name of 1 to 249 characters.")
		}
		if pq.start.Offsets != nil || pq.start.Timestamp != nil {
			return pq, httpapi.ErrBadRequest.Msg("Bad Request: offsets and timestamp do not apply in group mode (the group's committed offsets do; from applies where none are).")
		}
	}
	if q.Has("limit") {
		n, err := strconv.ParseInt(q.Get("limit"), 10, 64)
		if err != nil || n < 1 || n > maxPushLimit {
			return pq, httpapi.ErrBadRequest.Msg("Bad Request: limit must be a number of records from 1 to %d.", maxPushLimit)
		}
		pq.limit = n
	}
	if q.Has("key") {
		k := []byte(q.Get("key"))
		pq.filter.Key = &k
	}
	for _, h := range q["header"] {
		m, err := push.ParseHeaderMatch(h)
		if err != nil {
			return pq, httpapi.ErrBadRequest.Msg("%s.", err.Error())
		}
		pq.filter.Headers = append(pq.filter.Headers, m)
	}
	return pq, nil
}

func positionError(err error) error {
	var pe *push.PositionError
	if errors.As(err, &pe) {
		return httpapi.ErrStreamPosition.Msg("Invalid stream position: %s.", pe.Problem).Wrap(err)
	}
	return err
}

// isWebSocket reports whether r asks for a WebSocket.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// acceptsEventStream reports whether r's Accept allows text/event-stream
// (no Accept, */* and text/* do).
func acceptsEventStream(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		if mt == mtEventStream || mt == "*/*" || mt == "text/*" {
			return true
		}
	}
	return false
}

// crossOrigin checks the Origin a browser sends with a push request: none
// (not a browser, or same-origin navigation), kgate's own, or one of
// http.allowed_origins, which gets Access-Control-Allow-Origin so that
// its page may read the stream. Any other is 403: a page elsewhere must
// not hold streams open with credentials the browser cached, even if it
// cannot read them. (A WebSocket's Origin is checked by its handshake.)
func (a *api) crossOrigin(w http.ResponseWriter, r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, o := range a.allowed {
		if strings.EqualFold(o, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			return nil
		}
	}
	return httpapi.ErrForbidden.Msg("Cross-origin request refused: browsers may read push streams only from kgate's own origin or one in http.allowed_origins.")
}

// pushPreflight answers a CORS preflight (OPTIONS) of the push route.
// Preflights carry no credentials: the GET that follows is authenticated
// and authorized as usual.
func (a *api) pushPreflight(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Origin") == "" {
		return httpapi.ErrBadRequest.Msg("Bad Request: a CORS preflight needs an Origin.")
	}
	if err := a.crossOrigin(w, r); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET")
	h.Set("Access-Control-Allow-Headers", "Authorization, X-API-Key, Last-Event-ID, Accept, Traceparent, Tracestate")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pushStream serves GET /v3/clusters/{cluster_id}/topics/{topic_name}/records/stream.
func (a *api) pushStream(w http.ResponseWriter, r *http.Request) error {
	ws := isWebSocket(r)
	if !ws && !acceptsEventStream(r.Header.Get("Accept")) {
		return httpapi.ErrNotAcceptable.Msg("HTTP 406 Not Acceptable: this route streams %s (or a WebSocket with Upgrade: websocket).", mtEventStream)
	}
	if !ws {
		if err := a.crossOrigin(w, r); err != nil {
			return err
		}
	}
	if _, err := a.cluster(r); err != nil {
		return err
	}
	topic := r.PathValue("topic_name")
	pq, err := parsePushQuery(r, topic)
	if err != nil {
		return err
	}
	live := auth.LiveFor(r.Context())
	if pq.group != "" {
		// Group mode reads as the group's member: consume on the group
		// too, as a v2 consumer instance needs.
		if he := guard.LiveRefusal(live.Authorize(r.Context(), auth.Consume, pq.group)); he != nil {
			return he
		}
	}
	// The slot first: a principal at its cap costs the cluster nothing.
	release, ex := a.pushSlots.Acquire(streamHolder(r), a.perPrincipal)
	if ex != nil {
		return guard.Exceeded(w.Header(), ex)
	}
	defer release()
	pos, err := push.Resolve(r.Context(), a.kc, topic, pq.start)
	if err != nil {
		if errors.Is(err, kafka.ErrUnknownTopic) {
			return httpapi.ErrTopicNotFound.Msg("Topic %s not found.", truncate(topic, 255)).Wrap(err)
		}
		if errors.Is(err, push.ErrPosition) {
			return positionError(err)
		}
		return httpapi.FromKafka(err)
	}
	var rd *push.Reader
	if pq.group != "" {
		rd, err = push.OpenGroup(r.Context(), a.kc, topic, pq.group, pq.start.From, pq.start.Resume, pos, push.Options{Filter: pq.filter, Tracer: a.tracer})
	} else {
		rd, err = push.Open(a.kc, topic, pos, push.Options{Filter: pq.filter, Tracer: a.tracer})
	}
	if err != nil {
		return httpapi.FromKafka(err)
	}
	defer rd.Close()

	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	ps := &pusher{
		a: a, rd: rd, topic: topic, group: pq.group, format: pq.format, ctx: ctx, limit: pq.limit,
		live:   live,
		ticket: ratelimit.TicketFrom(r.Context()),
		rid:    httpapi.RequestID(r.Context()), principal: httpapi.Principal(r.Context()),
	}
	if ps.live != nil {
		ps.changed = ps.live.Changed()
		ps.expires = ps.live.Principal().Expires
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil) // the watcher ends before wg.Wait returns
	wg.Add(1)
	go func() {
		defer wg.Done()
		ps.watch(cancel)
	}()
	if ws {
		return ps.serveWebSocket(w, r, cancel, &wg)
	}
	return ps.serveSSE(w)
}

// pusher is one push stream in flight.
type pusher struct {
	a         *api
	rd        *push.Reader
	topic     string
	group     string // group mode's group, or ""
	format    record.Format
	ctx       context.Context // cancelled with a *pushEnd when the stream must end
	rid       string
	principal string

	live    *auth.Live
	changed <-chan struct{} // the main loop's: a change to re-check at
	expires time.Time
	ticket  *ratelimit.Ticket
	items   []push.Item
	buf     []byte
	limit   int64 // end after this many records (0: never)
	sent    int64 // records sent
}

// room is how many records the stream may still send in one batch, at
// most max.
func (s *pusher) room(max int) int {
	if s.limit > 0 {
		return int(min(int64(max), s.limit-s.sent))
	}
	return max
}

// done reports whether the stream sent its limit.
func (s *pusher) done() bool { return s.limit > 0 && s.sent >= s.limit }

// watch ends the stream (cancel with a *pushEnd) when its principal loses
// its standing or its right to fetch the topic, when its lifetime is over
// and on shutdown, until the stream's context ends.
func (s *pusher) watch(cancel context.CancelCauseFunc) {
	life := time.NewTimer(s.a.maxDuration)
	defer life.Stop()
	var expiry <-chan time.Time
	if !s.expires.IsZero() {
		t := time.NewTimer(time.Until(s.expires))
		defer t.Stop()
		expiry = t.C
	}
	changed := s.live.Changed() // nil without a Live: never
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.a.draining:
			cancel(&pushEnd{he: httpapi.ErrShuttingDown.Msg("The gateway is shutting down; resume from the last event id."), reason: endShutdown})
			return
		case <-life.C:
			cancel(&pushEnd{he: httpapi.ErrRequestTimeout.Msg("Streaming connection open for longer than allowed (%s); resume from the last event id.", s.a.maxDuration), reason: endLifetime})
			return
		case <-changed:
			changed = s.live.Changed() // before the check: no change is missed
			if e := s.standing(s.authorize()); e != nil {
				cancel(e)
				return
			}
		case <-expiry:
			expiry = nil
			if e := s.standing(s.authorize()); e != nil {
				cancel(e)
				return
			}
		}
	}
}

// authorize decides the stream's rights now: fetch on the topic, and in
// group mode consume on the group.
func (s *pusher) authorize() error {
	if err := s.live.Authorize(s.ctx, auth.Fetch, s.topic); err != nil || s.group == "" {
		return err
	}
	return s.live.Authorize(s.ctx, auth.Consume, s.group)
}

// standing maps what auth.Live answered onto the end of the stream.
func (s *pusher) standing(err error) *pushEnd {
	he := guard.LiveRefusal(err)
	if he == nil {
		return nil
	}
	reason := endUnauthenticated
	if errors.Is(he, httpapi.ErrForbidden) {
		reason = endForbidden
	}
	return &pushEnd{he: he.Msg("%s The stream ends here.", he.Message), reason: reason}
}

// check is the per-batch test of the stream's standing, before records
// go out: a change not yet seen by the watcher, or the token expired.
func (s *pusher) check() *pushEnd {
	if s.live == nil {
		return nil
	}
	err := s.live.Still(s.ctx, s.changed, auth.Fetch, s.topic)
	if err == nil && s.group != "" {
		err = s.live.Still(s.ctx, s.changed, auth.Consume, s.group)
	}
	select {
	case <-s.changed:
		s.changed = s.live.Changed()
	default:
	}
	return s.standing(err)
}

// endOf is why the stream's context ended: a *pushEnd, or nil when the
// client went away.
func (s *pusher) endOf() *pushEnd {
	var e *pushEnd
	if errors.As(context.Cause(s.ctx), &e) {
		return e
	}
	return nil
}

// next waits for records, at most max, until the heartbeat interval
// passes (idle: no items, no error) or the stream ends (its *pushEnd, or
// a bare error when the client went away).
func (s *pusher) next(max int) (idle bool, end *pushEnd, gone bool) {
	hctx, hcancel := context.WithTimeout(s.ctx, s.a.heartbeat)
	items, err := s.rd.Next(hctx, max, s.items)
	hcancel()
	s.items = items
	if len(items) > 0 {
		return false, nil, false
	}
	switch {
	case s.ctx.Err() != nil:
		if e := s.endOf(); e != nil {
			return false, e, false
		}
		return false, nil, true
	case errors.Is(err, context.DeadlineExceeded):
		return true, nil, false
	}
	s.a.logger.Warn("push stream read failed", "request_id", s.rid, "topic", s.topic, "err", err)
	return false, &pushEnd{he: httpapi.FromKafka(err), reason: endKafka}, false
}

// charge meters one record's bytes as it goes out: over the byte rate the
// stream pauses (slowed, not cut off); past the daily byte quota it ends.
func (s *pusher) charge(n int64) *pushEnd {
	pause, ex := s.ticket.Charge(time.Now(), n)
	if ex != nil {
		he := guard.Exceeded(nil, ex)
		return &pushEnd{he: he.Msg("%s The stream ends here; resume from the last event id later.", he.Message), reason: endQuota}
	}
	if pause > 0 {
		t := time.NewTimer(pause)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
		}
	}
	return nil
}

// appendData appends one item's JSON (record.AppendV2Record's shape:
// topic, key, value, partition, offset, timestamp, headers), or, when the
// record does not decode in the stream's format, an error object naming
// it; bad reports which.
func (s *pusher) appendData(dst []byte, it push.Item) (out []byte, bad bool) {
	out, err := record.AppendV2Record(dst, it.Record, s.format, s.format)
	if err == nil {
		return out, false
	}
	he := httpapi.ErrSerialization.Msg("Record %d of partition %d does not decode as %s: %v.", it.Record.Offset, it.Record.Partition, s.format.Name().Lower(), err)
	out = append(dst, `{"error_code":`...)
	out = strconv.AppendInt(out, int64(he.Code), 10)
	out = append(out, `,"message":`...)
	out = record.AppendJSONString(out, he.Message)
	out = append(out, `,"partition":`...)
	out = strconv.AppendInt(out, int64(it.Record.Partition), 10)
	out = append(out, `,"offset":`...)
	out = strconv.AppendInt(out, it.Record.Offset, 10)
	return append(out, '}'), true
}

// endJSON is the end event's data.
func endJSON(e *pushEnd) []byte {
	if e.he == nil {
		b, _ := json.Marshal(struct {
			Message string `json:"message"`
			Reason  string `json:"reason"`
		}{e.msg, string(e.reason)})
		return b
	}
	b, _ := json.Marshal(struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
		Reason    string `json:"reason"`
	}{e.he.Code, e.he.Message, string(e.reason)})
	return b
}

func (s *pusher) logEnd(e *pushEnd) {
	if e.he == nil {
		s.a.logger.Info("push stream ended", "request_id", s.rid, "principal", s.principal, "topic", s.topic,
			"reason", string(e.reason), "records", s.sent)
		return
	}
	s.a.logger.Info("push stream ended", "request_id", s.rid, "principal", s.principal, "topic", s.topic,
		"reason", string(e.reason), "error_code", e.he.Code, "err", e.he.Cause)
}

// serveSSE streams records as Server-Sent Events until the stream ends.
func (s *pusher) serveSSE(w http.ResponseWriter) error {
	rc := http.NewResponseController(w)
	// The client sends nothing more: no read deadline (net/http would
	// cancel the request when it passes). Heartbeats find a client that
	// went away.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", mtEventStream)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	var out []byte // grows with the first records: an idle stream holds little
	out = append(out, "retry: "...)
	out = strconv.AppendInt(out, sseRetry.Milliseconds(), 10)
	out = append(out, "\n\n"...)
	write := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.a.writeTimeout))
		_, err := w.Write(out)
		if err == nil {
			err = rc.Flush()
		}
		out = out[:0]
		return err == nil
	}
	end := func(e *pushEnd) error {
		s.logEnd(e)
		out = append(out, "event: end\ndata: "...)
		out = append(out, endJSON(e)...)
		out = append(out, "\n\n"...)
		write()
		return nil
	}
	if !write() {
		return nil
	}
	for {
		idle, e, gone := s.next(s.room(pushBatch))
		switch {
		case gone:
			return nil
		case e != nil:
			return end(e)
		case idle:
			out = append(out, ": heartbeat\n\n"...)
			if !write() {
				return nil
			}
			continue
		}
		if e := s.check(); e != nil {
			return end(e)
		}
		for _, it := range s.items {
			if e := s.charge(int64(len(it.Record.Key) + len(it.Record.Value))); e != nil {
				if len(out) > 0 {
					write()
				}
				return end(e)
			}
			if s.ctx.Err() != nil {
				break // ended while paused: not this record
			}
			var bad bool
			s.buf, bad = s.appendData(s.buf[:0], it)
			out = append(out, "id: "...)
			out = append(out, it.After...)
			if bad {
				out = append(out, "\nevent: error"...)
			}
			out = append(out, "\ndata: "...)
			out = append(out, s.buf...)
			out = append(out, "\n\n"...)
			s.sent++
			if len(out) >= 64<<10 && !write() {
				return nil
			}
		}
		if len(out) > 0 && !write() {
			return nil
		}
		if s.done() {
			return end(limitEnd(s.sent))
		}
		if e := s.endOf(); e != nil {
			return end(e)
		}
	}
}

// originPatterns turns http.allowed_origins (scheme://host[:port]) into
// the host patterns the WebSocket library checks Origin against.
func originPatterns(origins []string) []string {
	var ps []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			ps = append(ps, u.Host)
		}
	}
	return ps
}

// wsMessage is what a WebSocket client sends: credit for more records,
// and in group mode an acknowledgement (the id of the last record it
// processed: the group commits it).
type wsMessage struct {
	Credit *int64  `json:"credit"`
	Ack    *string `json:"ack"`
}

// wsClose maps an end onto a close status.
func wsClose(e *pushEnd) websocket.StatusCode {
	switch e.reason {
	case endShutdown:
		return websocket.StatusGoingAway
	case endUnauthenticated, endForbidden:
		return websocket.StatusPolicyViolation
	case endQuota:
		return websocket.StatusTryAgainLater
	case endProtocol:
		return websocket.StatusPolicyViolation
	case endLifetime, endLimit:
		return websocket.StatusNormalClosure
	}
	return websocket.StatusInternalError
}

// serveWebSocket streams records as WebSocket text messages, as far as
// the client's credit allows, until the stream ends.
func (s *pusher) serveWebSocket(w http.ResponseWriter, r *http.Request, cancel context.CancelCauseFunc, wg *sync.WaitGroup) error {
	// net/http leaves its deadlines on a hijacked connection (Hijack's
	// doc: the caller clears them), the write deadline of
	// http.write_timeout from the request's start among them: clear
	// them; the stream bounds each write itself.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{wsProtocol},
		OriginPatterns: s.a.origins,
	})
	if err != nil {
		// Accept answered the client (a bad handshake, a foreign origin).
		s.a.logger.Debug("websocket refused", "request_id", s.rid, "err", err)
		return nil
	}
	defer c.CloseNow()
	c.SetReadLimit(4 << 10)
	credit := push.NewCredit(0)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			// Not s.ctx: a cancelled read closes the connection, and the
			// end message and close frame must go out first. CloseNow
			// (deferred below) ends the read.
			_, b, err := c.Read(context.WithoutCancel(s.ctx))
			if err != nil {
				cancel(err) // the client went away or closed
				return
			}
			var m wsMessage
			if err := json.Unmarshal(b, &m); err != nil || (m.Credit == nil && m.Ack == nil) || (m.Ack != nil && s.group == "") {
				cancel(&pushEnd{he: httpapi.ErrBadRequest.Msg(`Bad Request: messages must be {"credit":N} (and, in group mode, {"ack":"<id>"}).`), reason: endProtocol})
				return
			}
			if m.Ack != nil {
				pos, err := push.DecodePosition(*m.Ack, s.topic)
				if err != nil {
					cancel(&pushEnd{he: positionError(err).(*httpapi.Error), reason: endProtocol})
					return
				}
				if err := s.rd.Commit(s.ctx, pos); err != nil {
					s.a.logger.Warn("push stream commit failed", "request_id", s.rid, "topic", s.topic, "group", s.group, "err", err)
					cancel(&pushEnd{he: httpapi.FromKafka(err), reason: endKafka})
					return
				}
			}
			if m.Credit != nil {
				if err := credit.Grant(*m.Credit); err != nil {
					cancel(&pushEnd{he: httpapi.ErrBadRequest.Msg("Bad Request: %v.", err), reason: endProtocol})
					return
				}
			}
		}
	}()
	var out []byte
	send := func(b []byte) bool {
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.a.writeTimeout)
		defer wcancel()
		return c.Write(wctx, websocket.MessageText, b) == nil
	}
	end := func(e *pushEnd) error {
		s.logEnd(e)
		msg := append([]byte(`{"type":"end",`), endJSON(e)[1:]...)
		if send(msg) {
			reason := string(e.reason)
			if e.he != nil {
				reason = strconv.Itoa(e.he.Code) + " " + reason
			}
			_ = c.Close(wsClose(e), reason)
		}
		return nil
	}
	for {
		hctx, hcancel := context.WithTimeout(s.ctx, s.a.heartbeat)
		n, err := credit.Wait(hctx)
		hcancel()
		if err != nil {
			if s.ctx.Err() != nil {
				if e := s.endOf(); e != nil {
					return end(e)
				}
				return nil
			}
			if !send([]byte(`{"type":"heartbeat"}`)) {
				return nil
			}
			continue
		}
		idle, e, gone := s.next(s.room(int(min(n, pushBatch))))
		switch {
		case gone:
			return nil
		case e != nil:
			return end(e)
		case idle:
			if !send([]byte(`{"type":"heartbeat"}`)) {
				return nil
			}
			continue
		}
		if e := s.check(); e != nil {
			return end(e)
		}
		for _, it := range s.items {
			if e := s.charge(int64(len(it.Record.Key) + len(it.Record.Value))); e != nil {
				return end(e)
			}
			if s.ctx.Err() != nil {
				break // ended while paused: not this record
			}
			var bad bool
			s.buf, bad = s.appendData(s.buf[:0], it)
			if bad {
				out = append(out[:0], `{"type":"error","id":"`...)
				out = append(out, it.After...)
				out = append(out, `","error":`...)
			} else {
				out = append(out[:0], `{"type":"record","id":"`...)
				out = append(out, it.After...)
				out = append(out, `","record":`...)
			}
			out = append(out, s.buf...)
			out = append(out, '}')
			credit.Spend(1)
			s.sent++
			if !send(out) {
				return nil
			}
		}
		if s.done() {
			return end(limitEnd(s.sent))
		}
		if e := s.endOf(); e != nil {
			return end(e)
		}
	}
}
