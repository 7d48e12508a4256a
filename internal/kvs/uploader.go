package kvs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"golang.org/x/time/rate"

	"github.com/kgate/kgate/internal/config"
)

// Service limits of PutMedia (reference/media.md §2.4).
const (
	MaxFragmentDuration   = 10 * time.Second
	MaxFragmentBytes      = 50 << 20
	MaxFragmentsPerSecond = 5
	MaxConnectsPerSecond  = 5
	MaxBytesPerSecond     = 12.5e6
)

// EmptyPayloadHash is the SHA-256 of the empty string, the payload hash
// PutMedia is signed with (the body is streamed, not hashed).
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// AckLevel is the acknowledgement after which a fragment is no longer kept
// for resending.
type AckLevel int

const (
	// AckPersisted waits for PERSISTED (streams with retention > 0).
	AckPersisted AckLevel = iota
	// AckReceived stops at RECEIVED (streams without retention never
	// send PERSISTED).
	AckReceived
)

func (l AckLevel) String() string {
	if l == AckReceived {
		return "received"
	}
	return "persisted"
}

// Fragment is one Matroska Cluster: the unit KVS acknowledges.
type Fragment struct {
	// Timecode is the Cluster's Timecode in milliseconds; acknowledgements
	// carry it. Timecodes must increase.
	Timecode int64
	// Duration is the time the fragment covers (at most 10 s).
	Duration time.Duration
	// Data is the complete Cluster element. The Uploader keeps it until
	// the fragment is acknowledged; callers must not modify it.
	Data []byte
}

// Errors of Put.
var (
	ErrClosed            = errors.New("uploader closed")
	ErrFragmentTooLong   = errors.New("fragment longer than 10 s")
	ErrFragmentTooLarge  = errors.New("fragment larger than 50 MB")
	ErrTimecodeDecreased = errors.New("fragment timecode does not increase")
	ErrNoHeader          = errors.New("no Matroska header set")
)

// Config configures an Uploader.
type Config struct {
	Stream StreamRef
	Region string
	// Credentials sign each PutMedia connection. When Retrieve starts
	// returning other keys (a refresh), the Uploader moves to a new
	// connection at the next fragment boundary.
	Credentials aws.CredentialsProvider
	// Endpoint returns the PutMedia endpoint (GetDataEndpoint). It is
	// called before the first connection and again after repeated
	// failures.
	Endpoint func(context.Context) (string, error)
	// HTTPClient defaults to NewHTTPClient().
	HTTPClient *http.Client
	// AckLevel defaults to AckPersisted.
	AckLevel AckLevel
	// AckTimeout bounds the wait for a fragment's final acknowledgement
	// (and for response headers) before the connection is considered dead
	// (config's stream.kvs.ack_timeout when zero).
	AckTimeout time.Duration
	// MaxBufferBytes bounds the fragments kept until acknowledged
	// (stream.kvs.max_buffer_bytes when zero).
	MaxBufferBytes int64
	// BlockWhenFull makes Put wait for room instead of dropping the oldest
	// unacknowledged fragments (the default, like kvssink's storage).
	BlockWhenFull bool
	// MaxAttempts is how often a fragment is sent after ERROR events
	// before it is dropped. Default 5.
	MaxAttempts int
	// MaxConnectionAge rotates to a new connection after this long.
	// Default 40 min.
	MaxConnectionAge time.Duration
	// ProducerStart is sent as x-amzn-producer-start-timestamp; default
	// the Uploader's creation time.
	ProducerStart time.Time
	// UserAgent defaults to "kgate".
	UserAgent string
	// FragmentRate, ConnectRate and ByteRate default to the service
	// limits.
	FragmentRate, ConnectRate, ByteRate float64
	// MinBackoff and MaxBackoff bound the wait between failed connections
	// (defaults 250 ms and 10 s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	Metrics                *Metrics
}

func (c *Config) setDefaults() {
	if c.HTTPClient == nil {
		c.HTTPClient = NewHTTPClient()
	}
	d := config.DefaultStream().KVS // kgate stream's defaults, written once
	if c.AckTimeout <= 0 {
		c.AckTimeout = d.AckTimeout.D()
	}
	if c.MaxBufferBytes <= 0 {
		c.MaxBufferBytes = int64(d.MaxBufferBytes)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.MaxConnectionAge <= 0 {
		c.MaxConnectionAge = 40 * time.Minute
	}
	if c.ProducerStart.IsZero() {
		c.ProducerStart = time.Now()
	}
	if c.UserAgent == "" {
		c.UserAgent = "kgate"
	}
	if c.FragmentRate <= 0 {
		c.FragmentRate = MaxFragmentsPerSecond
	}
	if c.ConnectRate <= 0 {
		c.ConnectRate = MaxConnectsPerSecond
	}
	if c.ByteRate <= 0 {
		c.ByteRate = MaxBytesPerSecond
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(10*time.Second, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
}

// NewHTTPClient returns the HTTP/1.1 client PutMedia uses: no overall
// timeout (the body streams for as long as the video does), proxies from
// the environment.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ForceAttemptHTTP2 = false
	var p http.Protocols
	p.SetHTTP1(true)
	t.Protocols = &p
	t.MaxIdleConnsPerHost = 2
	return &http.Client{Transport: t}
}

// fragment is a Fragment in the Uploader's buffer.
type fragment struct {
	Fragment
	seq     uint64
	state   EventType // "" before any event of the current attempt
	sentOn  uint64    // session that last wrote it; 0 = not written since the last reset
	sentAt  time.Time // when its last byte was written
	sends   int
	errors  int
	putTime time.Time
}

// Stats are an Uploader's counters since it started.
type Stats struct {
	Put, Sent, Resent, Received, Persisted, Dropped, Errors, Connections int64
	Buffered                                                             int
	BufferedBytes                                                        int64
}

// Uploader streams fragments to one stream over successive PutMedia
// connections. Put, Close and Stats are safe for concurrent use; Run is
// called once.
type Uploader struct {
	cfg    Config
	log    *slog.Logger
	m      *Metrics
	signer *v4.Signer

	fragLimiter *rate.Limiter
	byteLimiter *rate.Limiter
	connLimiter *rate.Limiter

	sessions atomic.Uint64

	put, sent, resent, received, persisted, dropped, errs, conns atomic.Int64

	mu           sync.Mutex
	header       []byte
	pending      []*fragment
	pendingBytes int64
	nextSeq      uint64
	lastTimecode int64
	havePut      bool
	closed       bool
	changed      chan struct{} // closed and replaced on every change
}

// NewUploader returns an Uploader; call Run to start it.
func NewUploader(cfg Config) (*Uploader, error) {
	if (cfg.Stream.Name == "") == (cfg.Stream.ARN == "") {
		return nil, errors.New("kvs: exactly one of the stream name and ARN must be set")
	}
	if cfg.Region == "" {
		return nil, errors.New("kvs: region is required")
	}
	if cfg.Credentials == nil || cfg.Endpoint == nil {
		return nil, errors.New("kvs: credentials and an endpoint resolver are required")
	}
	cfg.setDefaults()
	return &Uploader{
		cfg:         cfg,
		log:         cfg.Logger,
		m:           cfg.Metrics,
		signer:      v4.NewSigner(),
		fragLimiter: rate.NewLimiter(rate.Limit(cfg.FragmentRate), 1),
		byteLimiter: rate.NewLimiter(rate.Limit(cfg.ByteRate), MaxFragmentBytes),
		connLimiter: rate.NewLimiter(rate.Limit(cfg.ConnectRate), 1),
		changed:     make(chan struct{}),
	}, nil
}

// SetHeader sets the Matroska stream header (EBML header, Segment start,
// Info, Tracks) sent at the start of every connection. It must be set
// before the first Put and must not change the track layout later.
func (u *Uploader) SetHeader(b []byte) {
	u.mu.Lock()
	u.header = append([]byte(nil), b...)
	u.broadcastLocked()
	u.mu.Unlock()
}

func (u *Uploader) broadcastLocked() {
	close(u.changed)
	u.changed = make(chan struct{})
}

// Put queues a fragment. It returns at once unless BlockWhenFull is set
// and the buffer is full; then it waits for room or ctx.
func (u *Uploader) Put(ctx context.Context, f Fragment) error {
	if f.Duration > MaxFragmentDuration {
		return fmt.Errorf("%w: %s", ErrFragmentTooLong, f.Duration)
	}
	if len(f.Data) > MaxFragmentBytes {
		return fmt.Errorf("%w: %d bytes", ErrFragmentTooLarge, len(f.Data))
	}
	size := int64(len(f.Data))
	u.mu.Lock()
	defer u.mu.Unlock()
	for {
		if u.closed {
			return ErrClosed
		}
		if u.header == nil {
			return ErrNoHeader
		}
		if u.havePut && f.Timecode <= u.lastTimecode {
			return fmt.Errorf("%w: %d after %d", ErrTimecodeDecreased, f.Timecode, u.lastTimecode)
		}
		if u.pendingBytes+size <= u.cfg.MaxBufferBytes || len(u.pending) == 0 {
			break
		}
		if !u.cfg.BlockWhenFull {
			old := u.pending[0]
			u.removeLocked(old)
			u.dropped.Add(1)
			u.m.FragmentsDropped.WithLabelValues("buffer_full").Inc()
			u.log.Warn("kvs buffer full, dropping the oldest unacknowledged fragment",
				"fragment_timecode", old.Timecode, "buffered_bytes", u.pendingBytes, "max_buffer_bytes", u.cfg.MaxBufferBytes)
			continue
		}
		ch := u.changed
		u.mu.Unlock()
		select {
		case <-ch:
			u.mu.Lock()
		case <-ctx.Done():
			u.mu.Lock()
			return ctx.Err()
		}
	}
	u.nextSeq++
	u.pending = append(u.pending, &fragment{Fragment: f, seq: u.nextSeq, putTime: time.Now()})
	u.pendingBytes += size
	u.lastTimecode, u.havePut = f.Timecode, true
	u.put.Add(1)
	u.gaugesLocked()
	u.broadcastLocked()
	return nil
}

// Close says no more fragments will come. Run returns once every buffered
// fragment is acknowledged (or given up on) or its context ends.
func (u *Uploader) Close() {
	u.mu.Lock()
	if !u.closed {
		u.closed = true
		u.broadcastLocked()
	}
	u.mu.Unlock()
}

// Stats returns the counters.
func (u *Uploader) Stats() Stats {
	u.mu.Lock()
	n, b := len(u.pending), u.pendingBytes
	u.mu.Unlock()
	return Stats{
		Put: u.put.Load(), Sent: u.sent.Load(), Resent: u.resent.Load(), Received: u.received.Load(),
		Persisted: u.persisted.Load(), Dropped: u.dropped.Load(), Errors: u.errs.Load(), Connections: u.conns.Load(),
		Buffered: n, BufferedBytes: b,
	}
}

func (u *Uploader) removeLocked(f *fragment) {
	for i, p := range u.pending {
		if p == f {
			u.pending = append(u.pending[:i], u.pending[i+1:]...)
			u.pendingBytes -= int64(len(f.Data))
			u.gaugesLocked()
			u.broadcastLocked()
			return
		}
	}
}

func (u *Uploader) gaugesLocked() {
	u.m.BufferedBytes.Set(float64(u.pendingBytes))
	u.m.BufferedFrags.Set(float64(len(u.pending)))
}

// waitWork blocks until there is a fragment to send (true), or the
// uploader is closed and drained, or ctx ends (false).
func (u *Uploader) waitWork(ctx context.Context) (bool, error) {
	for {
		u.mu.Lock()
		if len(u.pending) > 0 && u.header != nil {
			u.mu.Unlock()
			return true, nil
		}
		if u.closed {
			u.mu.Unlock()
			return false, nil
		}
		ch := u.changed
		u.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// Run connects, streams and reconnects until Close was called and every
// fragment is acknowledged (it returns nil) or ctx ends (ctx's error).
func (u *Uploader) Run(ctx context.Context) error {
	var endpoint string
	failures := 0
	backoff := u.cfg.MinBackoff
	for {
		more, err := u.waitWork(ctx)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if endpoint == "" || (failures > 0 && failures%3 == 0) {
			ep, err := u.cfg.Endpoint(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				u.log.Warn("resolving the kvs data endpoint failed", "err", err)
				failures++
				if !sleep(ctx, jitter(backoff)) {
					return ctx.Err()
				}
				backoff = min(2*backoff, u.cfg.MaxBackoff)
				continue
			}
			if ep != endpoint {
				u.log.Info("kvs data endpoint", "endpoint", ep)
			}
			endpoint = ep
		}
		if err := u.connLimiter.Wait(ctx); err != nil {
			return ctx.Err()
		}
		res := u.session(ctx, endpoint)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res.acked > 0 {
			failures, backoff = 0, u.cfg.MinBackoff
		}
		switch {
		case res.err == nil:
			continue // drained, or rotated to a new connection
		case errors.As(res.err, new(*AckError)):
			// The service rejected a fragment; reconnect soon and resend.
			u.log.Warn("kvs rejected a fragment; reconnecting to resend", "err", res.err)
		default:
			failures++
			var he *HTTPError
			if errors.As(res.err, &he) {
				if he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden {
					if inv, ok := u.cfg.Credentials.(interface{ Invalidate() }); ok {
						inv.Invalidate()
					}
				}
				if he.Status == http.StatusNotFound {
					endpoint = "" // resolve the endpoint again
				}
			}
			u.log.Warn("kvs connection failed; reconnecting", "err", res.err, "failures", failures, "backoff", backoff)
		}
		if !sleep(ctx, jitter(backoff)) {
			return ctx.Err()
		}
		if res.err != nil && !errors.As(res.err, new(*AckError)) {
			backoff = min(2*backoff, u.cfg.MaxBackoff)
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// AckError is an ERROR acknowledgement event.
type AckError struct {
	ErrorID          int
	FragmentTimecode int64
	Attempts         int
	Dropped          bool
}

func (e *AckError) Error() string {
	s := fmt.Sprintf("kvs error %d (%s) for fragment %d, attempt %d", e.ErrorID, ErrorName(e.ErrorID), e.FragmentTimecode, e.Attempts)
	if e.Dropped {
		s += "; fragment dropped"
	}
	return s
}

// HTTPError is a PutMedia request the service refused.
type HTTPError struct {
	Status    int
	Type      string
	Message   string
	RequestID string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("putMedia: HTTP %d", e.Status)
	if e.Type != "" {
		s += " " + e.Type
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// closeGrace is how long the service may keep a response open once the
// body ended and everything is acknowledged (it normally closes at once).
const closeGrace = 2 * time.Second

// Session end causes.
var (
	errSessionDone   = errors.New("session done")
	errAckTimeout    = errors.New("no acknowledgement within the ack timeout")
	errServiceClosed = errors.New("the service closed the PutMedia response")
)

type session struct {
	id        uint64
	creds     aws.Credentials
	started   time.Time
	cancel    context.CancelCauseFunc
	next      uint64 // seq of the next fragment to write
	bodyEnded atomic.Bool
	endedAt   atomic.Int64 // unix nanos
	lastAck   atomic.Int64 // unix nanos
	rotating  atomic.Bool
}

type sessionResult struct {
	acked int
	err   error
}

// session runs one PutMedia connection.
func (u *Uploader) session(ctx context.Context, endpoint string) (res sessionResult) {
	creds, err := u.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return sessionResult{err: fmt.Errorf("retrieving AWS credentials: %w", err)}
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s := &session{id: u.sessions.Add(1), creds: creds, started: time.Now(), cancel: cancel}

	u.mu.Lock()
	header := u.header
	// Every fragment not yet acknowledged is (re)sent on this connection.
	for _, f := range u.pending {
		f.sentOn, f.state = 0, ""
	}
	if len(u.pending) > 0 {
		s.next = u.pending[0].seq
	}
	u.mu.Unlock()

	pr, pw := io.Pipe()
	req, err := u.newRequest(sctx, endpoint, pr, creds)
	if err != nil {
		return sessionResult{err: err}
	}
	u.conns.Add(1)
	log := u.log.With("connection", s.id)
	log.Debug("putMedia connecting", "endpoint", endpoint, "access_key", MaskKey(creds.AccessKeyID))

	var wg sync.WaitGroup
	defer func() {
		cancel(nil) // no-op when a cause was recorded
		pr.Close()
		wg.Wait()
	}()
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := u.writeLoop(sctx, s, pw, header)
		if err != nil {
			pw.CloseWithError(err)
			if !errors.Is(err, context.Canceled) && sctx.Err() == nil {
				cancel(fmt.Errorf("writing the PutMedia body: %w", err))
			}
		}
	}()
	go func() {
		defer wg.Done()
		u.watchdog(sctx, s)
	}()

	resp, err := u.cfg.HTTPClient.Do(req)
	if err != nil {
		cancel(err)
		u.m.Connections.WithLabelValues("error").Inc()
		return sessionResult{err: fmt.Errorf("putMedia: %w", causeOr(sctx, err))}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		he := readHTTPError(resp)
		cancel(he)
		u.m.Connections.WithLabelValues("http_error").Inc()
		return sessionResult{err: he}
	}
	u.m.Connections.WithLabelValues("ok").Inc()
	log.Info("putMedia connected", "endpoint", endpoint, "access_key", MaskKey(creds.AccessKeyID))

	acked, err := u.readAcks(sctx, s, resp.Body, log)
	if err == nil {
		cancel(errSessionDone)
		return sessionResult{acked: acked}
	}
	cause := causeOr(sctx, err)
	if errors.Is(cause, errSessionDone) {
		return sessionResult{acked: acked}
	}
	cancel(cause)
	return sessionResult{acked: acked, err: cause}
}

// causeOr prefers the session's recorded cause over the error a
// cancellation produced.
func causeOr(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

func (u *Uploader) newRequest(ctx context.Context, endpoint string, body io.Reader, creds aws.Credentials) (*http.Request, error) {
	url := strings.TrimRight(endpoint, "/") + "/putMedia"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return nil, fmt.Errorf("building the PutMedia request: %w", err)
	}
	req.ContentLength = -1 // chunked
	if u.cfg.Stream.ARN != "" {
		req.Header.Set("x-amzn-stream-arn", u.cfg.Stream.ARN)
	} else {
		req.Header.Set("x-amzn-stream-name", u.cfg.Stream.Name)
	}
	req.Header.Set("x-amzn-fragment-timecode-type", "ABSOLUTE")
	req.Header.Set("x-amzn-producer-start-timestamp", FormatTimestamp(u.cfg.ProducerStart))
	req.Header.Set("x-amzn-fragment-acknowledgment-required", "1")
	req.Header.Set("Connection", "keep-alive")
	req.Header.Set("User-Agent", u.cfg.UserAgent)
	if err := u.signer.SignHTTP(ctx, creds, req, EmptyPayloadHash, ServiceName, u.cfg.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("signing the PutMedia request: %w", err)
	}
	return req, nil
}

// FormatTimestamp formats t as seconds with a millisecond fraction, the
// x-amzn-producer-start-timestamp format.
func FormatTimestamp(t time.Time) string {
	ms := t.UnixMilli()
	return strconv.FormatInt(ms/1000, 10) + "." + fmt.Sprintf("%03d", ms%1000)
}

func readHTTPError(resp *http.Response) *HTTPError {
	he := &HTTPError{Status: resp.StatusCode}
	for _, h := range []string{"x-amzn-ErrorType", "x-amz-ErrorType"} {
		if v := resp.Header.Get(h); v != "" {
			he.Type, _, _ = strings.Cut(v, ":")
			break
		}
	}
	for _, h := range []string{"x-amzn-RequestId", "x-amz-RequestId"} {
		if v := resp.Header.Get(h); v != "" {
			he.RequestID = v
			break
		}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var body struct {
		Message  string `json:"message"`
		Message2 string `json:"Message"`
		Type     string `json:"__type"`
	}
	if json.Unmarshal(b, &body) == nil {
		he.Message = body.Message + body.Message2
		if he.Type == "" {
			he.Type = body.Type
		}
	}
	return he
}

// writeLoop writes the header and then every fragment not yet written on
// this connection, in order, within the rate limits. It ends the body when
// the uploader is closed and everything was written, or when the
// connection should rotate (new credentials or maximum age).
func (u *Uploader) writeLoop(ctx context.Context, s *session, w *io.PipeWriter, header []byte) error {
	if _, err := w.Write(header); err != nil {
		return err
	}
	u.m.BytesSent.Add(float64(len(header)))
	for {
		f, end, err := u.nextToSend(ctx, s)
		if err != nil {
			return err
		}
		if !end && u.shouldRotate(ctx, s) {
			s.rotating.Store(true)
			end = true
		}
		if end {
			s.endedAt.Store(time.Now().UnixNano())
			s.bodyEnded.Store(true)
			w.Close()
			return nil
		}
		if err := u.fragLimiter.Wait(ctx); err != nil {
			return err
		}
		if err := u.byteLimiter.WaitN(ctx, min(len(f.Data), MaxFragmentBytes)); err != nil {
			return err
		}
		if _, err := w.Write(f.Data); err != nil {
			return err
		}
		u.markSent(s, f)
	}
}

// nextToSend returns the next fragment for s, or end=true when the
// uploader is closed and s has written everything.
func (u *Uploader) nextToSend(ctx context.Context, s *session) (*fragment, bool, error) {
	for {
		u.mu.Lock()
		for _, f := range u.pending {
			if f.seq >= s.next {
				u.mu.Unlock()
				return f, false, nil
			}
		}
		if u.closed {
			u.mu.Unlock()
			return nil, true, nil
		}
		ch := u.changed
		u.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, context.Cause(ctx)
		}
	}
}

// shouldRotate reports whether s should end and a new connection start:
// the credentials changed (a refresh) or the connection is old.
func (u *Uploader) shouldRotate(ctx context.Context, s *session) bool {
	if time.Since(s.started) > u.cfg.MaxConnectionAge {
		u.log.Info("rotating the putMedia connection", "reason", "age", "connection", s.id)
		return true
	}
	c, err := u.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		u.log.Warn("refreshing AWS credentials failed; keeping the current connection", "err", err)
		return false
	}
	if c.AccessKeyID != s.creds.AccessKeyID || c.SecretAccessKey != s.creds.SecretAccessKey || c.SessionToken != s.creds.SessionToken {
		u.log.Info("rotating the putMedia connection", "reason", "credentials refreshed", "connection", s.id,
			"access_key", MaskKey(c.AccessKeyID))
		return true
	}
	return false
}

func (u *Uploader) markSent(s *session, f *fragment) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s.next = f.seq + 1
	f.sentOn, f.sentAt, f.state = s.id, time.Now(), ""
	f.sends++
	u.sent.Add(1)
	u.m.FragmentsSent.Inc()
	u.m.BytesSent.Add(float64(len(f.Data)))
	if f.sends > 1 {
		u.resent.Add(1)
		u.m.FragmentsResent.Inc()
	}
}

// sessionDoneLocked reports whether s ended its body and every fragment it
// wrote is acknowledged.
func (u *Uploader) sessionDoneLocked(s *session) bool {
	if !s.bodyEnded.Load() {
		return false
	}
	for _, f := range u.pending {
		if f.sentOn == s.id {
			return false
		}
	}
	return true
}

// readAcks handles acknowledgement events until the session is done (nil),
// an ERROR event (*AckError), or the response ends.
func (u *Uploader) readAcks(ctx context.Context, s *session, body io.Reader, log *slog.Logger) (int, error) {
	acked := 0
	sc := NewAckScanner(body)
	for sc.Scan() {
		a := sc.Ack()
		final, err := u.handleAck(s, a, log)
		if final {
			acked++
		}
		if err != nil {
			return acked, err
		}
		s.lastAck.Store(time.Now().UnixNano())
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return acked, context.Cause(ctx)
		}
		return acked, fmt.Errorf("reading acknowledgements: %w", err)
	}
	u.mu.Lock()
	done := u.sessionDoneLocked(s)
	u.mu.Unlock()
	if done {
		return acked, nil
	}
	return acked, errServiceClosed
}

// handleAck applies one event; final reports that a fragment reached the
// ack level.
func (u *Uploader) handleAck(s *session, a Ack, log *slog.Logger) (final bool, err error) {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	var f *fragment
	if a.HasTimecode {
		for _, p := range u.pending {
			if p.Timecode == a.FragmentTimecode {
				f = p
				break
			}
		}
	}
	if f == nil && a.EventType == EventError {
		// An error without a known timecode counts against the oldest
		// fragment written on this connection, so that a stream the
		// service keeps rejecting cannot loop forever.
		for _, p := range u.pending {
			if p.sentOn == s.id {
				f = p
				break
			}
		}
	}
	switch a.EventType {
	case EventIdle:
		log.Debug("putMedia idle")
		return false, nil
	case EventBuffering:
		u.m.FragmentsAcked.WithLabelValues("buffering").Inc()
		if f != nil && f.sentOn == s.id {
			f.state = EventBuffering
		}
		return false, nil
	case EventReceived:
		u.received.Add(1)
		u.m.FragmentsAcked.WithLabelValues("received").Inc()
		if f == nil || f.sentOn != s.id {
			log.Debug("acknowledgement for an unknown fragment", "event", a.EventType, "fragment_timecode", a.FragmentTimecode)
			return false, nil
		}
		f.state = EventReceived
		u.m.AckLatency.WithLabelValues("received").Observe(now.Sub(f.sentAt).Seconds())
		if u.cfg.AckLevel == AckReceived {
			log.Debug("fragment received", "fragment_timecode", f.Timecode, "fragment_number", a.FragmentNumber)
			u.removeLocked(f)
			return true, nil
		}
		return false, nil
	case EventPersisted:
		u.persisted.Add(1)
		u.m.FragmentsAcked.WithLabelValues("persisted").Inc()
		if f == nil {
			log.Debug("acknowledgement for an unknown fragment", "event", a.EventType, "fragment_timecode", a.FragmentTimecode)
			return false, nil
		}
		u.m.AckLatency.WithLabelValues("persisted").Observe(now.Sub(f.sentAt).Seconds())
		log.Debug("fragment persisted", "fragment_timecode", f.Timecode, "fragment_number", a.FragmentNumber)
		u.removeLocked(f)
		return true, nil
	case EventError:
		u.errs.Add(1)
		u.m.AckErrors.WithLabelValues(errorLabel(a.ErrorID)).Inc()
		ae := &AckError{ErrorID: a.ErrorID, FragmentTimecode: a.FragmentTimecode}
		if f != nil {
			f.errors++
			ae.Attempts = f.errors
			if f.errors >= u.cfg.MaxAttempts {
				ae.Dropped = true
				u.removeLocked(f)
				u.dropped.Add(1)
				u.m.FragmentsDropped.WithLabelValues("errors").Inc()
				log.Error("giving up on a fragment the service keeps rejecting", "fragment_timecode", f.Timecode,
					"error_id", a.ErrorID, "attempts", f.errors)
			}
		}
		return false, ae
	default:
		log.Debug("unknown acknowledgement event", "event", string(a.EventType))
		return false, nil
	}
}

// watchdog ends the session when a written fragment stays unacknowledged
// for AckTimeout (which also covers response headers that never come), and
// after the body ended: as done when everything is acknowledged but the
// service keeps the response open for closeGrace, as failed after
// AckTimeout otherwise.
func (u *Uploader) watchdog(ctx context.Context, s *session) {
	tick := min(u.cfg.AckTimeout/4, 250*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		u.mu.Lock()
		var late *fragment
		for _, f := range u.pending {
			if f.sentOn == s.id && now.Sub(f.sentAt) > u.cfg.AckTimeout {
				late = f
				break
			}
		}
		u.mu.Unlock()
		if late != nil {
			s.cancel(fmt.Errorf("%w (fragment %d, %s)", errAckTimeout, late.Timecode, u.cfg.AckTimeout))
			return
		}
		if !s.bodyEnded.Load() {
			continue
		}
		u.mu.Lock()
		done := u.sessionDoneLocked(s)
		u.mu.Unlock()
		quiet := now.Sub(time.Unix(0, max(s.endedAt.Load(), s.lastAck.Load())))
		switch {
		case done && quiet > closeGrace:
			s.cancel(errSessionDone)
			return
		case now.Sub(time.Unix(0, s.endedAt.Load())) > u.cfg.AckTimeout:
			s.cancel(fmt.Errorf("%w after the body ended", errAckTimeout))
			return
		}
	}
}
