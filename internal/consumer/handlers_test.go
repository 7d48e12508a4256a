package consumer

import (
	"bytes"
	"context"
	"crypto/hmac"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func requireSh(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
}

func TestExec(t *testing.T) {
	// Not parallel: t.Setenv.
	requireSh(t)
	t.Setenv("KGATE_HANDLE_WEBHOOK_SECRET", "must-not-leak")
	rec := &kgo.Record{Topic: "in", Partition: 2, Offset: 41, Key: []byte("cam-1"), Value: []byte(`{"a":1}`),
		Headers: []kgo.RecordHeader{{Key: "trace-id", Value: []byte("abc")}}}
	tests := []struct {
		name    string
		argv    []string
		timeout time.Duration
		maxOut  int
		want    string // output value; "" none
		reason  string // dead-letter reason when failing
		wantErr bool
	}{
		{name: "stdin to stdout", argv: []string{"cat"}, want: `{"a":1}`},
		{name: "environment", argv: []string{"sh", "-c", `printf '%s %s %s %s %s %s' "$KGATE_TOPIC" "$KGATE_PARTITION" "$KGATE_OFFSET" "$KGATE_KEY" "$KGATE_HEADER_TRACE_ID" "${KGATE_HANDLE_WEBHOOK_SECRET:-unset}"`},
			want: "in 2 41 cam-1 abc unset"},
		{name: "no output", argv: []string{"true"}},
		{name: "failure", argv: []string{"sh", "-c", "echo broken >&2; exit 3"}, wantErr: true},
		{name: "malformed", argv: []string{"sh", "-c", "exit 65"}, wantErr: true, reason: ReasonMalformed},
		{name: "missing command", argv: []string{"/no/such/command"}, wantErr: true},
		{name: "timeout kills the group", argv: []string{"sh", "-c", "sleep 30 & sleep 30"}, timeout: 200 * time.Millisecond, wantErr: true},
		{name: "output too large", argv: []string{"sh", "-c", "head -c 100 /dev/zero"}, maxOut: 10, wantErr: true},
		{name: "endless output stops", argv: []string{"yes"}, maxOut: 1000, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Exec{Argv: tt.argv, Timeout: tt.timeout, MaxOutput: tt.maxOut}
			start := time.Now()
			outs, err := e.Handle(t.Context(), rec)
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, outputs %v", outs)
				}
				if got := Reason(err); got != tt.reason {
					t.Errorf("reason %q, want %q (%v)", got, tt.reason, err)
				}
				if tt.name == "failure" && !strings.Contains(err.Error(), "broken") {
					t.Errorf("error %q lacks the stderr tail", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(outs) == 1 {
				got = string(outs[0].Value)
			} else if len(outs) > 1 {
				t.Fatalf("%d outputs", len(outs))
			}
			if got != tt.want {
				t.Errorf("output %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	const secret = "hmac-secret"
	type step struct {
		status int
		body   string
		header map[string]string
	}
	tests := []struct {
		name     string
		steps    []step // answers, in order; the last repeats
		attempts int    // runtime-style retries done by the test
		want     string
		reason   string
		wantErr  bool
		minWait  time.Duration // Retry-After hint expected
	}{
		{name: "ok with body", steps: []step{{200, `{"done":true}`, nil}}, want: `{"done":true}`},
		{name: "ok empty", steps: []step{{204, "", nil}}},
		{name: "5xx", steps: []step{{503, "", nil}}, wantErr: true},
		{name: "429 retry after", steps: []step{{429, "", map[string]string{"Retry-After": "7"}}}, wantErr: true, minWait: 7 * time.Second},
		{name: "4xx permanent", steps: []step{{400, "bad", nil}}, wantErr: true, reason: ReasonPermanent},
		{name: "redirect not followed", steps: []step{{302, "", map[string]string{"Location": "/elsewhere"}}}, wantErr: true, reason: ReasonPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var badSig atomic.Bool
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if !hmac.Equal([]byte(r.Header.Get(HeaderSignature)), []byte(Sign([]byte(secret), body))) ||
					r.Header.Get(HeaderDelivery) != "in/1/7" || r.Method != http.MethodPost ||
					r.Header.Get("Content-Type") != "application/json" {
					badSig.Store(true)
				}
				i := int(calls.Add(1)) - 1
				s := tt.steps[min(i, len(tt.steps)-1)]
				for k, v := range s.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(s.status)
				io.WriteString(w, s.body)
			}))
			defer ts.Close()
			wh, err := NewWebhook(WebhookOptions{URL: ts.URL, Secret: secret, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := wh.Handle(t.Context(), &kgo.Record{Topic: "in", Partition: 1, Offset: 7, Value: []byte(`{"x":1}`)})
			if badSig.Load() {
				t.Error("request lacked a valid signature or delivery header")
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if Reason(err) != tt.reason {
					t.Errorf("reason %q, want %q", Reason(err), tt.reason)
				}
				if _, hint := classify(err); hint != tt.minWait {
					t.Errorf("retry hint %s, want %s", hint, tt.minWait)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(outs) > 0 {
				got = string(outs[0].Value)
			}
			if got != tt.want {
				t.Errorf("output %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := NewWebhook(WebhookOptions{URL: "http://x"}); err == nil {
		t.Error("no secret: no error")
	}
}

// TestWebhookThroughRuntime checks the runtime's side: a 500 is retried, a
// 429 is retried, and the answer becomes the output record.
func TestWebhookThroughRuntime(t *testing.T) {
	t.Parallel()
	kc, addr := testKafka(t)
	createTopic(t, kc, "in", 1)
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(500)
		case 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		default:
			b, _ := io.ReadAll(r.Body)
			w.Write(bytes.ToUpper(b))
		}
	}))
	defer ts.Close()
	wh, err := NewWebhook(WebhookOptions{URL: ts.URL, Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	kc.ProduceSync(t.Context(), []*kgo.Record{{Topic: "in", Key: []byte("k"), Value: []byte("hello")}})
	o := baseOptions(kc, wh)
	o.HandlerName = "webhook"
	run := start(t, o)
	outs := readN(t, addr, "out", 1, 20*time.Second)
	if len(outs) != 1 || string(outs[0].Value) != "HELLO" || string(outs[0].Key) != "k" {
		t.Fatalf("outputs %v", outs)
	}
	if s := run.rt.Stats(); s.Retried != 2 || s.Handled != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	kc, addr := testKafka(t)
	createTopic(t, kc, "in", 2)
	var healthy atomic.Bool
	var mu sync.Mutex
	handled := map[string]int{}
	h := HandlerFunc(func(ctx context.Context, r *kgo.Record) ([]Output, error) {
		mu.Lock()
		handled[string(r.Value)]++
		mu.Unlock()
		if !healthy.Load() && strings.HasPrefix(string(r.Value), "bad") {
			return nil, Permanent(io.ErrUnexpectedEOF)
		}
		return []Output{{Value: r.Value}}, nil
	})
	recs := []*kgo.Record{
		{Topic: "in", Partition: 1, Key: []byte("a"), Value: []byte("good1")},
		{Topic: "in", Partition: 1, Key: []byte("a"), Value: []byte("bad1"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}},
		{Topic: "in", Partition: 0, Key: []byte("b"), Value: []byte("bad2")},
	}
	kc.ProduceSync(t.Context(), recs)
	// A dead letter without origin headers is skipped.
	createTopic(t, kc, "dlq", 1)
	kc.ProduceSync(t.Context(), []*kgo.Record{{Topic: "dlq", Value: []byte("stray")}})

	o := baseOptions(kc, h)
	run := start(t, o)
	if got := readN(t, addr, "dlq", 3, 20*time.Second); len(got) != 3 {
		t.Fatalf("%d records in the dead-letter topic", len(got))
	}

	// Dry run: nothing produced, nothing committed.
	var seen []string
	res, err := Replay(t.Context(), ReplayOptions{Client: kc, DLQTopic: "dlq", DryRun: true,
		OnRecord: func(r *kgo.Record, target string) { seen = append(seen, string(r.Value)+">"+target) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 2 || res.Skipped != 1 || len(seen) != 3 {
		t.Fatalf("dry run %+v %v", res, seen)
	}

	healthy.Store(true)
	res, err = Replay(t.Context(), ReplayOptions{Client: kc, DLQTopic: "dlq", Logger: o.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 2 || res.Skipped != 1 || res.ByTopic["in"] != 2 {
		t.Fatalf("replay %+v", res)
	}
	outs := readN(t, addr, "out", 3, 20*time.Second)
	var vals []string
	for _, r := range outs {
		vals = append(vals, string(r.Value))
	}
	if len(outs) != 3 {
		t.Fatalf("outputs %v", vals)
	}
	// The replayed records went back to their origin partitions with
	// their headers, minus the dead-letter ones.
	in := readN(t, addr, "in", 5, 10*time.Second)
	var replayed int
	for _, r := range in {
		if header(r, HeaderReplayedFrom) == "" {
			continue
		}
		replayed++
		want := int32(1)
		if string(r.Value) == "bad2" {
			want = 0
		}
		if r.Partition != want || header(r, HeaderReplays) != "1" || header(r, HeaderDLQReason) != "" {
			t.Errorf("replayed %q: partition %d headers %v", r.Value, r.Partition, r.Headers)
		}
		if string(r.Value) == "bad1" && header(r, "h") != "v" {
			t.Errorf("replayed bad1 lost its header: %v", r.Headers)
		}
	}
	if replayed != 2 {
		t.Errorf("%d replayed records in the origin topic", replayed)
	}
	// A second replay finds nothing new.
	res, err = Replay(t.Context(), ReplayOptions{Client: kc, DLQTopic: "dlq"})
	if err != nil || res.Replayed != 0 || res.Skipped != 0 {
		t.Errorf("second replay %+v, %v", res, err)
	}
	run.stop(t)
}

func TestProgress(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var buf bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })
	var n atomic.Int64
	p := NewProgress(w, func() Stats { return Stats{Handled: n.Add(10), Lag: 3, Partitions: 2} })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { p.Run(ctx, 5*time.Millisecond); close(done) }()
	waitFor(t, 5*time.Second, "a status line", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(buf.String(), "handled")
	})
	p.Writer().Write([]byte("a log line\n"))
	time.Sleep(10 * time.Millisecond)
	cancel()
	<-done
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "\r\033[Khandled ") || !strings.Contains(out, "lag 3 · partitions 2") ||
		!strings.Contains(out, "\r\033[Ka log line\n") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress output %q", out)
	}
	if got := FormatStats(Stats{Handled: 5, Failed: 1, Retried: 2, DeadLettered: 3, InFlight: 4, Lag: 6, Partitions: 7}, 1.25); got !=
		"handled 5 (1.2/s) · failed 1 · retried 2 · dead-lettered 3 · in flight 4 · lag 6 · partitions 7" {
		t.Errorf("FormatStats = %q", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
