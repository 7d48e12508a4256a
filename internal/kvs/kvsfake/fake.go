// Package kvsfake is a Kinesis Video Streams look-alike for tests: the
// control plane (DescribeStream, CreateStream, GetDataEndpoint) and
// PutMedia, on a loopback listener.
//
// Like the service, it verifies every request's SigV4 signature against
// the keys it was given (PutMedia with the empty payload hash), reads the
// Matroska stream while it arrives and answers with acknowledgement events
// on the same, still open, connection (full duplex): BUFFERING when a
// fragment's timecode arrives, RECEIVED and PERSISTED when it is complete,
// ERROR with the service's ErrorIds for invalid data. Tests can inject
// errors, dropped connections and silences per fragment, rotate keys, and
// inspect what was stored. Nothing here is used outside tests.
package kvsfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is what the fake does instead of acknowledging a fragment.
type Fault struct {
	// ErrorID, when non-zero, answers an ERROR event with this id and ends
	// the connection.
	ErrorID int
	// Drop aborts the connection without acknowledging the fragment.
	Drop bool
	// Silent acknowledges nothing for the fragment (and leaves the
	// connection open).
	Silent bool
}

// Options configure New.
type Options struct {
	// Region is the SigV4 region; default us-west-2.
	Region string
	// Keys are the accepted access keys (more can be added with AddKey).
	Keys []Key
	// Fault, when set, is asked about every complete fragment: conn is the
	// 1-based connection number, n the fragment's 1-based number on it.
	Fault func(conn, n int, f Fragment) Fault
	// IdleInterval sends IDLE events this often (0: never).
	IdleInterval time.Duration
	// Logf, when set, receives a line per notable event (t.Logf).
	Logf func(format string, args ...any)
	// RoleTTL is the lifetime of credentials from STS AssumeRole
	// (default 1 h). Each call issues a new access key, accepted from then
	// on.
	RoleTTL time.Duration
}

// Fragment is a fragment the fake received.
type Fragment struct {
	Stream      string
	Connection  int
	AccessKeyID string
	Timecode    uint64
	Blocks      []Block
	Bytes       int64
	Header      Header
	Number      string
	ReceivedAt  time.Time
}

// Connection is one PutMedia connection.
type Connection struct {
	ID          int
	Stream      string
	AccessKeyID string
	Header      http.Header
	Start, End  time.Time
	Fragments   int
	// AcksBeforeBodyEnd counts acknowledgements written while the request
	// body was still open (proof of full duplex).
	AcksBeforeBodyEnd int
	// Ended says how the connection ended: "eof", "error 4006", "dropped",
	// "client gone: ...".
	Ended string
}

// StreamState is a stream the fake knows.
type StreamState struct {
	Name, ARN      string
	RetentionHours int32
	MediaType      string
	Status         string
	Fragments      []Fragment
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of both planes.
	URL string

	opts Options
	srv  *httptest.Server

	mu       sync.Mutex
	keys     map[string]Key
	streams  map[string]*StreamState
	conns    []*Connection
	fragSeq  int64
	controls []string // control-plane operations, in order
	roles    int      // AssumeRole calls
}

// New starts a fake on a loopback port. Close it when done.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "us-west-2"
	}
	s := &Server{opts: opts, keys: map[string]Key{}, streams: map[string]*StreamState{}}
	for _, k := range opts.Keys {
		s.keys[k.AccessKeyID] = k
	}
	s.srv = httptest.NewUnstartedServer(s)
	if opts.Logf != nil {
		s.srv.Config.ErrorLog = log.New(logfWriter(opts.Logf), "kvsfake http: ", 0)
	}
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// logfWriter sends the HTTP server's own messages to Options.Logf.
type logfWriter func(format string, args ...any)

func (f logfWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// CloseClientConnections drops every open connection.
func (s *Server) CloseClientConnections() { s.srv.CloseClientConnections() }

// AddKey accepts another access key.
func (s *Server) AddKey(k Key) {
	s.mu.Lock()
	s.keys[k.AccessKeyID] = k
	s.mu.Unlock()
}

// RemoveKey stops accepting an access key.
func (s *Server) RemoveKey(accessKeyID string) {
	s.mu.Lock()
	delete(s.keys, accessKeyID)
	s.mu.Unlock()
}

// CreateStream adds an ACTIVE stream.
func (s *Server) CreateStream(name string, retentionHours int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[name] = &StreamState{Name: name, ARN: s.arn(name), RetentionHours: retentionHours, MediaType: "video/h264", Status: "ACTIVE"}
}

func (s *Server) arn(name string) string {
	return "arn:aws:kinesisvideo:" + s.opts.Region + ":123456789012:stream/" + name + "/1700000000000"
}

// Stream returns a copy of a stream's state.
func (s *Server) Stream(name string) (StreamState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[name]
	if !ok {
		return StreamState{}, false
	}
	c := *st
	c.Fragments = append([]Fragment(nil), st.Fragments...)
	return c, true
}

// Connections returns the PutMedia connections so far.
func (s *Server) Connections() []Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Connection, len(s.conns))
	for i, c := range s.conns {
		out[i] = *c
	}
	return out
}

// WaitIdle waits (up to timeout) until every PutMedia connection has
// ended and its bookkeeping is done; it reports whether they all did.
func (s *Server) WaitIdle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		busy := false
		for _, c := range s.conns {
			if c.Ended == "" {
				busy = true
			}
		}
		s.mu.Unlock()
		if !busy {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ControlCalls returns the control-plane operations received, in order.
func (s *Server) ControlCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.controls...)
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf("kvsfake: "+format, args...)
	}
}

func (s *Server) lookupKey(ak string) (Key, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[ak]
	return k, ok
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "InvalidArgumentException", "POST only")
		return
	}
	switch r.URL.Path {
	case "/":
		s.sts(w, r)
	case "/putMedia":
		s.putMedia(w, r)
	case "/describeStream", "/createStream", "/getDataEndpoint":
		s.control(w, r)
	default:
		writeError(w, http.StatusNotFound, "UnknownOperationException", "unknown operation "+r.URL.Path)
	}
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-ErrorType", typ)
	w.Header().Set("x-amzn-RequestId", "fake-request")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg, "__type": typ})
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", "reading body")
		return
	}
	if _, err := verifySigV4(r, body, s.lookupKey, "kinesisvideo", s.opts.Region, time.Now()); err != nil {
		s.logf("%s: %v", r.URL.Path, err)
		writeError(w, http.StatusForbidden, "NotAuthorizedException", "The request signature we calculated does not match the signature you provided.")
		return
	}
	var in struct {
		StreamName, StreamARN, APIName, MediaType string
		DataRetentionInHours                      int32
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", "malformed JSON")
		return
	}
	op := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.controls = append(s.controls, op)
	st := s.findLocked(in.StreamName, in.StreamARN)
	w.Header().Set("Content-Type", "application/json")
	switch op {
	case "createStream":
		if st != nil {
			writeError(w, http.StatusBadRequest, "ResourceInUseException", "stream exists")
			return
		}
		st = &StreamState{Name: in.StreamName, ARN: s.arn(in.StreamName), RetentionHours: in.DataRetentionInHours, MediaType: in.MediaType, Status: "CREATING"}
		s.streams[in.StreamName] = st
		json.NewEncoder(w).Encode(map[string]string{"StreamARN": st.ARN})
	case "describeStream":
		if st == nil {
			writeError(w, http.StatusNotFound, "ResourceNotFoundException", "stream not found")
			return
		}
		info := map[string]any{"StreamName": st.Name, "StreamARN": st.ARN, "Status": st.Status, "DataRetentionInHours": st.RetentionHours,
			"MediaType": st.MediaType, "Version": "1", "CreationTime": 1700000000}
		json.NewEncoder(w).Encode(map[string]any{"StreamInfo": info})
		if st.Status == "CREATING" {
			st.Status = "ACTIVE" // active on the next look
		}
	case "getDataEndpoint":
		if st == nil {
			writeError(w, http.StatusNotFound, "ResourceNotFoundException", "stream not found")
			return
		}
		if in.APIName != "PUT_MEDIA" {
			writeError(w, http.StatusBadRequest, "InvalidArgumentException", "this fake serves PUT_MEDIA only")
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"DataEndpoint": s.URL})
	}
}

func (s *Server) findLocked(name, arn string) *StreamState {
	for _, st := range s.streams {
		if (name != "" && st.Name == name) || (arn != "" && st.ARN == arn) {
			return st
		}
	}
	return nil
}

// ackWriter serializes acknowledgement events onto the response.
type ackWriter struct {
	mu       sync.Mutex
	w        http.ResponseWriter
	rc       *http.ResponseController
	bodyOpen bool
	early    int
	err      error
}

func (a *ackWriter) send(ev map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return
	}
	b, _ := json.Marshal(ev)
	if _, err := a.w.Write(append(b, '\n')); err != nil {
		a.err = err
		return
	}
	if err := a.rc.Flush(); err != nil {
		a.err = err
		return
	}
	if a.bodyOpen {
		a.early++
	}
}

// session is the Handler of one PutMedia connection.
type session struct {
	s      *Server
	conn   *Connection
	stream *StreamState
	acks   *ackWriter
	header Header
	lastTC uint64
	haveTC bool
	n      int
}

func (s *Server) putMedia(w http.ResponseWriter, r *http.Request) {
	// Full duplex from the start: a Go server otherwise reads (up to 256
	// KB of) the unread body before it sends even an error response, and
	// the service answers at once.
	rc := http.NewResponseController(w)
	if err := rc.EnableFullDuplex(); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalFailure", "no full duplex")
		return
	}
	ak, err := verifySigV4(r, nil, s.lookupKey, "kinesisvideo", s.opts.Region, time.Now())
	if err != nil {
		s.logf("putMedia: %v", err)
		writeError(w, http.StatusForbidden, "NotAuthorizedException", "The request signature we calculated does not match the signature you provided.")
		return
	}
	name, arn := r.Header.Get("x-amzn-stream-name"), r.Header.Get("x-amzn-stream-arn")
	if (name == "") == (arn == "") {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", "exactly one of x-amzn-stream-name and x-amzn-stream-arn is required")
		return
	}
	if tt := r.Header.Get("x-amzn-fragment-timecode-type"); tt != "ABSOLUTE" && tt != "RELATIVE" {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", "x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE")
		return
	}
	if ts := r.Header.Get("x-amzn-producer-start-timestamp"); ts != "" {
		if _, err := strconv.ParseFloat(ts, 64); err != nil {
			writeError(w, http.StatusBadRequest, "InvalidArgumentException", "bad x-amzn-producer-start-timestamp")
			return
		}
	}
	s.mu.Lock()
	st := s.findLocked(name, arn)
	if st == nil || st.Status != "ACTIVE" {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "stream not found")
		return
	}
	conn := &Connection{ID: len(s.conns) + 1, Stream: st.Name, AccessKeyID: ak, Header: r.Header.Clone(), Start: time.Now()}
	s.conns = append(s.conns, conn)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	acks := &ackWriter{w: w, rc: rc, bodyOpen: true}
	sess := &session{s: s, conn: conn, stream: st, acks: acks}
	ended := "eof"
	defer func() {
		s.mu.Lock()
		conn.End = time.Now()
		conn.AcksBeforeBodyEnd = acks.early
		conn.Ended = ended
		s.mu.Unlock()
		s.logf("connection %d ended: %s", conn.ID, ended)
	}()

	if s.opts.IdleInterval > 0 {
		// The ticker is waited for: an IDLE event written after the
		// handler returned would go into the connection's next response
		// (or a released buffer).
		stop := make(chan struct{})
		var idle sync.WaitGroup
		defer func() { close(stop); idle.Wait() }()
		idle.Go(func() {
			t := time.NewTicker(s.opts.IdleInterval)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					acks.send(map[string]any{"EventType": "IDLE"})
				}
			}
		})
	}

	err = ParseMatroska(r.Body, sess)
	acks.mu.Lock()
	acks.bodyOpen = false
	acks.mu.Unlock()
	var fe *faultError
	switch {
	case err == nil:
		return
	case errors.As(err, &fe) && fe.drop:
		ended = "dropped"
	case errors.As(err, &fe):
		ended = fmt.Sprintf("error %d", fe.id)
	case errors.Is(err, ErrInvalidMatroska):
		ended = "error 4006"
		acks.send(map[string]any{"EventType": "ERROR", "FragmentTimecode": sess.lastTC, "ErrorId": 4006})
	default:
		ended = "client gone: " + err.Error()
	}
	// After an error the connection is closed, as the service does, with
	// the events sent so far flushed. Returning instead would make the
	// server drain the rest of the body, and net/http (Go 1.26) then
	// starts a background read that panics when it looks for the next
	// request on a full-duplex connection.
	panic(http.ErrAbortHandler)
}

// faultError stops parsing for an injected or detected error.
type faultError struct {
	id   int
	drop bool
}

func (e *faultError) Error() string {
	if e.drop {
		return "connection dropped"
	}
	return fmt.Sprintf("error %d", e.id)
}

func (ss *session) fail(tc uint64, id int) error {
	ss.acks.send(map[string]any{"EventType": "ERROR", "FragmentTimecode": tc, "ErrorId": id})
	return &faultError{id: id}
}

// Header implements Handler.
func (ss *session) Header(h Header) error {
	if len(h.Tracks) > 3 {
		return ss.fail(0, 4012)
	}
	ss.header = h
	return nil
}

func (ss *session) ms(tc uint64) uint64 {
	return tc * ss.header.TimecodeScale / 1000000
}

// ClusterStart implements Handler.
func (ss *session) ClusterStart(tc uint64) error {
	if ss.haveTC && tc <= ss.lastTC {
		return ss.fail(ss.ms(tc), 4004)
	}
	ss.lastTC, ss.haveTC = tc, true
	ss.acks.send(map[string]any{"EventType": "BUFFERING", "FragmentTimecode": ss.ms(tc)})
	return nil
}

// ClusterEnd implements Handler.
func (ss *session) ClusterEnd(c Cluster) error {
	tcMS := ss.ms(c.Timecode)
	seen := map[uint64]bool{}
	var last int16
	for _, b := range c.Blocks {
		known := false
		for _, t := range ss.header.Tracks {
			if t.Number == b.Track {
				known = true
			}
		}
		if !known {
			return ss.fail(tcMS, 4010)
		}
		seen[b.Track] = true
		last = max(last, b.Timecode)
	}
	for _, t := range ss.header.Tracks {
		if !seen[t.Number] {
			return ss.fail(tcMS, 4011)
		}
	}
	if uint64(last)*ss.header.TimecodeScale/1000000 > 10000 {
		return ss.fail(tcMS, 4002)
	}
	ss.n++
	s := ss.s
	s.mu.Lock()
	s.fragSeq++
	num := fmt.Sprintf("9134385233318143%031d", s.fragSeq)
	ss.conn.Fragments++
	s.mu.Unlock()
	f := Fragment{Stream: ss.stream.Name, Connection: ss.conn.ID, AccessKeyID: ss.conn.AccessKeyID, Timecode: tcMS,
		Blocks: c.Blocks, Bytes: c.Bytes, Header: ss.header, Number: num, ReceivedAt: time.Now()}
	var fault Fault
	if s.opts.Fault != nil {
		fault = s.opts.Fault(ss.conn.ID, ss.n, f)
	}
	switch {
	case fault.Drop:
		s.logf("connection %d: dropping at fragment %d (tc %d)", ss.conn.ID, ss.n, tcMS)
		return &faultError{drop: true}
	case fault.ErrorID != 0:
		s.logf("connection %d: error %d for fragment %d (tc %d)", ss.conn.ID, fault.ErrorID, ss.n, tcMS)
		return ss.fail(tcMS, fault.ErrorID)
	case fault.Silent:
		return nil
	}
	ss.acks.send(map[string]any{"EventType": "RECEIVED", "FragmentTimecode": tcMS, "FragmentNumber": num})
	s.mu.Lock()
	ss.stream.Fragments = append(ss.stream.Fragments, f)
	persist := ss.stream.RetentionHours > 0
	s.mu.Unlock()
	if persist {
		ss.acks.send(map[string]any{"EventType": "PERSISTED", "FragmentTimecode": tcMS, "FragmentNumber": num})
	}
	return nil
}

// AssumeRoleCalls returns how many times STS AssumeRole was called.
func (s *Server) AssumeRoleCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roles
}

// sts serves STS AssumeRole (query protocol, XML answer): it verifies the
// caller's signature and issues a fresh temporary key.
func (s *Server) sts(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", "reading body")
		return
	}
	if _, err := verifySigV4(r, body, s.lookupKey, "sts", s.opts.Region, time.Now()); err != nil {
		s.logf("sts: %v", err)
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>signature</Message></Error></ErrorResponse>`)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Action") != "AssumeRole" || form.Get("RoleArn") == "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>AssumeRole only</Message></Error></ErrorResponse>`)
		return
	}
	ttl := s.opts.RoleTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	s.mu.Lock()
	s.roles++
	k := Key{AccessKeyID: fmt.Sprintf("ASIAFAKEROLE%08d", s.roles), SecretAccessKey: fmt.Sprintf("roleSecret%d", s.roles), SessionToken: fmt.Sprintf("roleToken%d", s.roles)}
	s.keys[k.AccessKeyID] = k
	s.mu.Unlock()
	s.logf("sts: assumed %s as %s", form.Get("RoleArn"), k.AccessKeyID)
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>`+
		`<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration>`+
		`</Credentials><AssumedRoleUser><Arn>%s/kgate-stream</Arn><AssumedRoleId>AROAFAKE:kgate-stream</AssumedRoleId></AssumedRoleUser>`+
		`</AssumeRoleResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></AssumeRoleResponse>`,
		k.AccessKeyID, k.SecretAccessKey, k.SessionToken, time.Now().Add(ttl).UTC().Format(time.RFC3339), form.Get("RoleArn"))
}
