package kvs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/kgate/kgate/internal/kvs/kvsfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testCodecPrivate = []byte{1, 66, 0xC0, 30, 0xFF, 0xE1, 0, 4, 0x67, 66, 0xC0, 30, 1, 0, 2, 0x68, 0xCE}

// testHeader is a one-track H.264 Matroska header built with ebml-go.
func testHeader(t testing.TB) []byte {
	t.Helper()
	var h struct {
		Header  webm.EBMLHeader `ebml:"EBML"`
		Segment struct {
			Info   webm.Info   `ebml:"Info"`
			Tracks webm.Tracks `ebml:"Tracks"`
		} `ebml:"Segment,size=unknown"`
	}
	h.Header = webm.EBMLHeader{EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4, EBMLMaxSizeLength: 8, DocType: "matroska", DocTypeVersion: 4, DocTypeReadVersion: 2}
	h.Segment.Info = webm.Info{TimecodeScale: 1000000, MuxingApp: "kgate-test", WritingApp: "kgate-test"}
	h.Segment.Tracks.TrackEntry = []webm.TrackEntry{{TrackNumber: 1, TrackUID: 1, TrackType: 1, CodecID: "V_MPEG4/ISO/AVC",
		CodecPrivate: testCodecPrivate, Video: &webm.Video{PixelWidth: 64, PixelHeight: 48}}}
	var b bytes.Buffer
	if err := ebml.Marshal(&h, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testCluster is a 1-second cluster of 5 blocks for track (1 normally).
func testCluster(t testing.TB, tc int64, track uint64) []byte {
	t.Helper()
	var c struct {
		Cluster webm.Cluster `ebml:"Cluster"`
	}
	c.Cluster.Timecode = uint64(tc)
	for i := range 5 {
		c.Cluster.SimpleBlock = append(c.Cluster.SimpleBlock, ebml.Block{TrackNumber: track, Timecode: int16(i * 200), Keyframe: i == 0,
			Data: [][]byte{bytes.Repeat([]byte{byte(i)}, 100)}})
	}
	var b bytes.Buffer
	if err := ebml.Marshal(&c, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type harness struct {
	fake *kvsfake.Server
	up   *Uploader
	logs *syncBuffer
	reg  *prometheus.Registry
	done chan error
	tcs  []int64
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, fopts kvsfake.Options, credsFor func(*kvsfake.Server) aws.CredentialsProvider, mutate func(*Config)) *harness {
	t.Helper()
	fopts.Logf = t.Logf
	if fopts.Keys == nil {
		fopts.Keys = []kvsfake.Key{{AccessKeyID: testAK, SecretAccessKey: testSK}}
	}
	fake := kvsfake.New(fopts)
	t.Cleanup(fake.Close)
	fake.CreateStream("cam1", 24)
	h := &harness{fake: fake, logs: &syncBuffer{}, reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	var creds aws.CredentialsProvider = Refreshing(NewStaticProvider(testAK, testSK, ""))
	if credsFor != nil {
		creds = credsFor(fake)
	}
	cfg := Config{
		Stream:       StreamRef{Name: "cam1"},
		Region:       "us-west-2",
		Credentials:  creds,
		Endpoint:     func(context.Context) (string, error) { return fake.URL, nil },
		FragmentRate: 100,
		MinBackoff:   20 * time.Millisecond,
		MaxBackoff:   100 * time.Millisecond,
		AckTimeout:   5 * time.Second,
		Logger:       slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:      NewMetrics(h.reg),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	up, err := NewUploader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.up = up
	up.SetHeader(testHeader(t))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- up.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
		if t.Failed() {
			t.Logf("uploader log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) put(t *testing.T, n int, every time.Duration) {
	t.Helper()
	base := int64(1700000000000)
	if len(h.tcs) > 0 {
		base = h.tcs[len(h.tcs)-1] + 1000
	}
	for i := range n {
		tc := base + int64(i)*1000
		if err := h.up.Put(t.Context(), Fragment{Timecode: tc, Duration: time.Second, Data: testCluster(t, tc, 1)}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		h.tcs = append(h.tcs, tc)
		if every > 0 {
			time.Sleep(every)
		}
	}
}

// finish closes the uploader and waits for Run to drain.
func (h *harness) finish(t *testing.T) {
	t.Helper()
	h.up.Close()
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		h.done <- nil // for the cleanup
		if !h.fake.WaitIdle(5 * time.Second) {
			t.Fatal("fake connections did not end")
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not drain; stats %+v", h.up.Stats())
	}
}

// stored returns the timecodes the fake stored, in order.
func (h *harness) stored(t *testing.T) []int64 {
	t.Helper()
	st, ok := h.fake.Stream("cam1")
	if !ok {
		t.Fatal("stream gone")
	}
	var tcs []int64
	for _, f := range st.Fragments {
		tcs = append(tcs, int64(f.Timecode))
	}
	return tcs
}

func sameInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUploaderStreamsWithAcksDuringUpload(t *testing.T) {
	h := newHarness(t, kvsfake.Options{IdleInterval: 10 * time.Millisecond}, nil, nil)
	h.put(t, 3, 30*time.Millisecond)
	// Acknowledgements arrive while the body is still open: wait for them
	// before closing.
	deadline := time.Now().Add(5 * time.Second)
	for h.up.Stats().Persisted < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no acknowledgements while uploading: %+v", h.up.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.put(t, 2, 0)
	h.finish(t)

	if got := h.stored(t); !sameInts(got, h.tcs) {
		t.Fatalf("stored timecodes %v, want %v", got, h.tcs)
	}
	st, _ := h.fake.Stream("cam1")
	for _, f := range st.Fragments {
		if len(f.Header.Tracks) != 1 || !bytes.Equal(f.Header.Tracks[0].CodecPrivate, testCodecPrivate) || f.Header.Tracks[0].CodecID != "V_MPEG4/ISO/AVC" {
			t.Fatalf("fragment %d header %+v", f.Timecode, f.Header)
		}
		if len(f.Blocks) != 5 || !f.Blocks[0].Key {
			t.Fatalf("fragment %d blocks %d, first key %v", f.Timecode, len(f.Blocks), f.Blocks[0].Key)
		}
	}
	conns := h.fake.Connections()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	c := conns[0]
	if c.AcksBeforeBodyEnd == 0 {
		t.Error("no acknowledgement was written while the body was open")
	}
	for k, want := range map[string]string{"X-Amzn-Stream-Name": "cam1", "X-Amzn-Fragment-Timecode-Type": "ABSOLUTE", "X-Amzn-Fragment-Acknowledgment-Required": "1"} {
		if got := c.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(c.Header.Get("Authorization"), "x-amz-date") || c.AccessKeyID != testAK {
		t.Errorf("signature: %q by %q", c.Header.Get("Authorization"), c.AccessKeyID)
	}
	s := h.up.Stats()
	if s.Sent != 5 || s.Persisted != 5 || s.Received != 5 || s.Resent != 0 || s.Buffered != 0 {
		t.Errorf("stats %+v", s)
	}
	if got := testutil.ToFloat64(h.up.m.FragmentsAcked.WithLabelValues("persisted")); got != 5 {
		t.Errorf("persisted metric = %v", got)
	}
	if n := testutil.CollectAndCount(h.up.m.AckLatency); n != 2 {
		t.Errorf("ack latency series = %d, want received and persisted", n)
	}
	logs := h.logs.String()
	if strings.Contains(logs, testAK) || strings.Contains(logs, testSK) {
		t.Errorf("a static key appears in the logs:\n%s", logs)
	}
	if !strings.Contains(logs, "AKIA****") {
		t.Errorf("the masked key does not appear in the logs:\n%s", logs)
	}
}

func TestUploaderResends(t *testing.T) {
	tests := []struct {
		name       string
		fault      func(conn, n int, f kvsfake.Fragment) kvsfake.Fault
		wantEnded  string
		wantErrors float64
	}{
		{"error 4006", func(conn, n int, _ kvsfake.Fragment) kvsfake.Fault {
			if conn == 1 && n == 3 {
				return kvsfake.Fault{ErrorID: 4006}
			}
			return kvsfake.Fault{}
		}, "error 4006", 1},
		{"error 4010", func(conn, n int, _ kvsfake.Fragment) kvsfake.Fault {
			if conn == 1 && n == 2 {
				return kvsfake.Fault{ErrorID: 4010}
			}
			return kvsfake.Fault{}
		}, "error 4010", 1},
		{"dropped connection", func(conn, n int, _ kvsfake.Fragment) kvsfake.Fault {
			if conn == 1 && n == 3 {
				return kvsfake.Fault{Drop: true}
			}
			return kvsfake.Fault{}
		}, "dropped", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, kvsfake.Options{Fault: tt.fault}, nil, nil)
			h.put(t, 5, 20*time.Millisecond)
			h.finish(t)
			if got := h.stored(t); !sameInts(got, h.tcs) {
				t.Fatalf("stored timecodes %v, want every fragment once, in order: %v", got, h.tcs)
			}
			conns := h.fake.Connections()
			if len(conns) < 2 {
				t.Fatalf("%d connections, want a reconnect", len(conns))
			}
			if tt.wantEnded != "" && conns[0].Ended != tt.wantEnded {
				t.Errorf("first connection ended %q, want %q", conns[0].Ended, tt.wantEnded)
			}
			s := h.up.Stats()
			if s.Resent == 0 {
				t.Errorf("nothing resent: %+v", s)
			}
			var errs float64
			for _, id := range []string{"4006", "4010"} {
				errs += testutil.ToFloat64(h.up.m.AckErrors.WithLabelValues(id))
			}
			if errs != tt.wantErrors {
				t.Errorf("error metric = %v, want %v", errs, tt.wantErrors)
			}
		})
	}
}

// A fragment that is never acknowledged on an open connection is resent
// on a new one after the ack timeout.
func TestUploaderAckTimeout(t *testing.T) {
	h := newHarness(t, kvsfake.Options{Fault: func(conn, n int, _ kvsfake.Fragment) kvsfake.Fault {
		if conn == 1 && n >= 2 {
			return kvsfake.Fault{Silent: true}
		}
		return kvsfake.Fault{}
	}}, nil, func(c *Config) { c.AckTimeout = time.Second })
	h.put(t, 3, 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for len(h.fake.Connections()) < 2 { // the body stays open meanwhile
		if time.Now().After(deadline) {
			t.Fatal("no reconnect after the ack timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.finish(t)
	// At least once: every fragment stored, in order within a connection;
	// a fragment acknowledged later than the timeout on a loaded machine
	// may be stored twice.
	stored := map[int64]bool{}
	for _, tc := range h.stored(t) {
		stored[tc] = true
	}
	for _, tc := range h.tcs {
		if !stored[tc] {
			t.Errorf("fragment %d never stored", tc)
		}
	}
	if s := h.up.Stats(); s.Resent < 2 {
		t.Errorf("resent %d, want at least the 2 unacknowledged fragments", s.Resent)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "no acknowledgement within the ack timeout") {
		t.Errorf("log does not give the reason:\n%s", logs)
	}
}

func TestUploaderGivesUpOnAPoisonFragment(t *testing.T) {
	var poison int64
	h := newHarness(t, kvsfake.Options{Fault: func(conn, n int, f kvsfake.Fragment) kvsfake.Fault {
		if int64(f.Timecode) == poison {
			return kvsfake.Fault{ErrorID: 4006}
		}
		return kvsfake.Fault{}
	}}, nil, func(c *Config) { c.MaxAttempts = 3 })
	poison = 1700000000000 + 2000
	h.put(t, 4, 0)
	h.finish(t)
	want := []int64{h.tcs[0], h.tcs[1], h.tcs[3]}
	if got := h.stored(t); !sameInts(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	s := h.up.Stats()
	if s.Dropped != 1 || s.Errors != 3 {
		t.Errorf("stats %+v, want 1 dropped after 3 errors", s)
	}
	if got := testutil.ToFloat64(h.up.m.FragmentsDropped.WithLabelValues("errors")); got != 1 {
		t.Errorf("dropped metric = %v", got)
	}
}

// A rewritten credentials file with a new key is picked up two minutes
// before the old key's declared expiry, and the stream moves to a
// connection signed with it without losing a fragment.
func TestUploaderRotatesToRefreshedCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials.txt")
	expiry1 := time.Now().Add(RefreshWindow + time.Second).Truncate(time.Second).Add(time.Second)
	writeCreds(t, path, "AKIAOLDKEY0000000001", expiry1, "oldSecret", "oldToken")
	creds := Refreshing(&FileProvider{Path: path})
	h := newHarness(t, kvsfake.Options{Keys: []kvsfake.Key{
		{AccessKeyID: "AKIAOLDKEY0000000001", SecretAccessKey: "oldSecret", SessionToken: "oldToken"},
		{AccessKeyID: "AKIANEWKEY0000000002", SecretAccessKey: "newSecret", SessionToken: "newToken"},
	}}, func(*kvsfake.Server) aws.CredentialsProvider { return creds }, nil)
	h.put(t, 2, 50*time.Millisecond)
	writeCreds(t, path, "AKIANEWKEY0000000002", time.Now().Add(time.Hour), "newSecret", "newToken")
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.put(t, 1, 100*time.Millisecond)
		conns := h.fake.Connections()
		if last := conns[len(conns)-1]; last.AccessKeyID == "AKIANEWKEY0000000002" {
			if !last.Start.Before(expiry1) {
				t.Fatalf("new key used at %s, not before the old expiry %s", last.Start, expiry1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new key was never used")
		}
	}
	h.fake.RemoveKey("AKIAOLDKEY0000000001") // the old key is revoked
	h.put(t, 2, 0)
	h.finish(t)
	if got := h.stored(t); !sameInts(got, h.tcs) {
		t.Fatalf("stored %v, want %v", got, h.tcs)
	}
	conns := h.fake.Connections()
	if conns[0].AccessKeyID != "AKIAOLDKEY0000000001" || conns[0].Ended != "eof" {
		t.Errorf("first connection %+v, want the old key, ended cleanly", conns[0])
	}
	if s := h.up.Stats(); s.Resent != 0 {
		t.Errorf("rotation resent fragments: %+v", s)
	}
}

func TestUploaderRejectedSignatureRetries(t *testing.T) {
	h := newHarness(t, kvsfake.Options{Keys: []kvsfake.Key{{AccessKeyID: testAK, SecretAccessKey: "other-secret"}}}, nil, nil)
	h.put(t, 1, 0)
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(h.up.m.Connections.WithLabelValues("http_error")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no retries after 403")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.fake.AddKey(kvsfake.Key{AccessKeyID: testAK, SecretAccessKey: testSK}) // fixed
	h.finish(t)
	if got := h.stored(t); !sameInts(got, h.tcs) {
		t.Fatalf("stored %v", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "NotAuthorizedException") || strings.Contains(logs, testSK) {
		t.Errorf("logs should name the error without the secret:\n%s", logs)
	}
}

func TestUploaderRespectsFragmentRate(t *testing.T) {
	h := newHarness(t, kvsfake.Options{}, nil, func(c *Config) { c.FragmentRate = MaxFragmentsPerSecond })
	h.put(t, 6, 0)
	h.finish(t)
	st, _ := h.fake.Stream("cam1")
	if len(st.Fragments) != 6 {
		t.Fatalf("%d fragments", len(st.Fragments))
	}
	span := st.Fragments[5].ReceivedAt.Sub(st.Fragments[0].ReceivedAt)
	if min := 5 * time.Second / MaxFragmentsPerSecond * 9 / 10; span < min {
		t.Errorf("6 fragments arrived within %s, faster than %d per second", span, MaxFragmentsPerSecond)
	}
}

func TestUploaderPutValidation(t *testing.T) {
	up, err := NewUploader(Config{Stream: StreamRef{Name: "s"}, Region: "r", Credentials: NewStaticProvider("a", "b", ""),
		Endpoint: func(context.Context) (string, error) { return "", nil }, MaxBufferBytes: 250})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := up.Put(ctx, Fragment{Timecode: 1, Data: []byte("x")}); !errors.Is(err, ErrNoHeader) {
		t.Errorf("no header: %v", err)
	}
	up.SetHeader([]byte("h"))
	if err := up.Put(ctx, Fragment{Timecode: 1, Duration: 11 * time.Second}); !errors.Is(err, ErrFragmentTooLong) {
		t.Errorf("11 s: %v", err)
	}
	if err := up.Put(ctx, Fragment{Timecode: 1, Data: make([]byte, MaxFragmentBytes+1)}); !errors.Is(err, ErrFragmentTooLarge) {
		t.Errorf("50 MB: %v", err)
	}
	for i := int64(1); i <= 3; i++ {
		if err := up.Put(ctx, Fragment{Timecode: i, Data: make([]byte, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	if s := up.Stats(); s.Buffered != 2 || s.Dropped != 1 {
		t.Errorf("drop-oldest: %+v", s)
	}
	if err := up.Put(ctx, Fragment{Timecode: 3, Data: []byte("x")}); !errors.Is(err, ErrTimecodeDecreased) {
		t.Errorf("same timecode: %v", err)
	}
	up.Close()
	if err := up.Put(ctx, Fragment{Timecode: 9}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestControlPrepare(t *testing.T) {
	fake := kvsfake.New(kvsfake.Options{Keys: []kvsfake.Key{{AccessKeyID: testAK, SecretAccessKey: testSK, SessionToken: testToken}}, Logf: t.Logf})
	defer fake.Close()
	cfg := aws.Config{Region: "us-west-2", Credentials: Refreshing(NewStaticProvider(testAK, testSK, testToken))}
	c := NewControl(cfg, ControlOptions{Endpoint: fake.URL}, slog.New(slog.DiscardHandler))
	c.PollInterval = 10 * time.Millisecond
	ctx := t.Context()
	if _, err := c.Prepare(ctx, StreamRef{Name: "new"}, nil, time.Second); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("missing stream: %v", err)
	}
	info, err := c.Prepare(ctx, StreamRef{Name: "new"}, &CreateOptions{RetentionHours: 2}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Created || info.RetentionHours != 2 || !strings.HasPrefix(info.ARN, "arn:aws:kinesisvideo:us-west-2:") {
		t.Errorf("info %+v", info)
	}
	st, _ := fake.Stream("new")
	if st.MediaType != "video/h264" || st.Status != "ACTIVE" {
		t.Errorf("stream %+v", st)
	}
	ep, err := c.DataEndpoint(ctx, StreamRef{ARN: info.ARN})
	if err != nil || ep != fake.URL {
		t.Fatalf("DataEndpoint = %q, %v", ep, err)
	}
	calls := strings.Join(fake.ControlCalls(), ",")
	if calls != "describeStream,describeStream,createStream,describeStream,describeStream,getDataEndpoint" {
		t.Errorf("calls %s", calls)
	}

	bad := NewControl(aws.Config{Region: "us-west-2", Credentials: NewStaticProvider(testAK, "wrong", testToken)}, ControlOptions{Endpoint: fake.URL}, slog.New(slog.DiscardHandler))
	if _, err := bad.DataEndpoint(ctx, StreamRef{Name: "new"}); err == nil || !strings.Contains(err.Error(), "NotAuthorized") {
		t.Fatalf("wrong secret: %v", err)
	}
}

// Assumed-role credentials (STS) are renewed two minutes before they
// expire, and the stream moves to a connection signed with the new ones.
func TestUploaderAssumedRoleRefresh(t *testing.T) {
	var desc string
	h := newHarness(t, kvsfake.Options{RoleTTL: RefreshWindow + 1500*time.Millisecond}, func(fake *kvsfake.Server) aws.CredentialsProvider {
		cfg, d, err := LoadAWSConfig(t.Context(), "us-west-2", CredentialOptions{Source: SourceStatic, AccessKeyID: testAK, SecretAccessKey: testSK,
			RoleARN: "arn:aws:iam::123456789012:role/camera", STSEndpoint: fake.URL})
		if err != nil {
			t.Fatal(err)
		}
		desc = d
		return cfg.Credentials
	}, nil)
	if !strings.Contains(desc, "assuming role arn:aws:iam::123456789012:role/camera") {
		t.Errorf("description %q", desc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.fake.AssumeRoleCalls() < 2 {
		h.put(t, 1, 100*time.Millisecond)
		if time.Now().After(deadline) {
			t.Fatalf("the role was assumed %d times, want a renewal", h.fake.AssumeRoleCalls())
		}
	}
	h.put(t, 2, 0)
	h.finish(t)
	if got := h.stored(t); !sameInts(got, h.tcs) {
		t.Fatalf("stored %v, want %v", got, h.tcs)
	}
	keys := map[string]bool{}
	for _, c := range h.fake.Connections() {
		keys[c.AccessKeyID] = true
	}
	if !keys["ASIAFAKEROLE00000001"] || !keys["ASIAFAKEROLE00000002"] || keys[testAK] {
		t.Errorf("connections signed by %v, want both role keys and never the base key", keys)
	}
}
