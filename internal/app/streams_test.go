package app_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// streamReceipt is one line of a v3 produce stream's answer.
type streamReceipt struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
	Offset    int64  `json:"offset"`
	Value     *struct {
		Size int `json:"size"`
	} `json:"value"`
	at time.Time // when it arrived
}

// produceStream is a v3 streaming produce in flight: records go in through
// the pipe, receipts come out on a channel (closed at the end of the
// answer, with end saying how it ended).
type produceStream struct {
	pw       *io.PipeWriter
	status   int
	header   http.Header
	body     []byte // the answer of a stream refused before it started
	receipts chan streamReceipt
	cancel   context.CancelFunc
	mu       sync.Mutex
	end      error
}

// openProduceStream opens a stream to topic with the Authorization value
// authz, sending first to get the response started.
func openProduceStream(t *testing.T, g *testutil.Gateway, topic, authz, first string) *produceStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, "POST", g.URL+"/v3/clusters/kgate-embedded/topics/"+topic+"/records", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	go func() { _, _ = io.WriteString(pw, first) }()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &produceStream{pw: pw, status: resp.StatusCode, header: resp.Header, receipts: make(chan streamReceipt, 1<<16), cancel: cancel}
	t.Cleanup(func() {
		cancel()
		pw.Close()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		s.body, _ = io.ReadAll(resp.Body)
		close(s.receipts)
		return s
	}
	go func() {
		defer close(s.receipts)
		rd := bufio.NewReader(resp.Body)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				s.mu.Lock()
				s.end = err
				s.mu.Unlock()
				return
			}
			var r streamReceipt
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				r = streamReceipt{ErrorCode: -1, Message: line}
			}
			r.at = time.Now()
			s.receipts <- r
		}
	}()
	return s
}

// next returns the next receipt, ok false at the end of the answer; it
// fails the test if none arrives within d.
func (s *produceStream) next(t *testing.T, d time.Duration) (streamReceipt, bool) {
	t.Helper()
	select {
	case r, ok := <-s.receipts:
		return r, ok
	case <-time.After(d):
		t.Fatalf("no receipt and no end of the stream within %v", d)
	}
	return streamReceipt{}, false
}

// ended waits for the end of the answer and returns how it ended.
func (s *produceStream) ended(t *testing.T, d time.Duration) error {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case r, ok := <-s.receipts:
			if !ok {
				s.mu.Lock()
				defer s.mu.Unlock()
				return s.end
			}
			t.Errorf("receipt after the end: %+v", r)
		case <-deadline:
			t.Fatalf("the stream did not end within %v", d)
		}
	}
}

func stringRecord(size int) string {
	return `{"value":{"type":"STRING","data":"` + strings.Repeat("x", size) + `"}}`
}

// brokerRecords counts the records on topic's partitions, read from the
// embedded broker's offsets as its superuser.
func brokerRecords(t *testing.T, g *testutil.Gateway, topic string) int64 {
	t.Helper()
	secret, err := os.ReadFile(filepath.Join(g.Config.DataDir, "broker-superuser.secret"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr),
		kgo.SASL(scram.Auth{User: "kgate", Pass: strings.TrimSpace(string(secret))}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

// TestFinding2StreamMetersBytes: one v3 stream used to bypass the byte
// rate and the daily quota (checked when a request starts, charged when
// it ends). Now every record is charged as it is decoded: a stream over
// the rate is slowed, not cut off, and one that exhausts the quota gets a
// 429 receipt and ends, with no more than the quota on the broker.
func TestFinding2StreamMetersBytes(t *testing.T) {
	avoidUTCMidnight(t, time.Minute)
	const size = 1000 // bytes per record (its value)
	rec := stringRecord(size)
	send := func(s *produceStream, n int) {
		for range n {
			if _, err := io.WriteString(s.pw, rec); err != nil {
				return
			}
		}
		s.pw.Close()
	}

	t.Run("rate", func(t *testing.T) {
		// The user: 10,000 bytes/s and 1 MiB/day, sending 5 MB.
		g := limitedGateway(t, "    bytes_per_second: 10000\n    daily_bytes: 1Mi\n", "")
		s := openProduceStream(t, g, "customer1", seedAuth, rec)
		if s.status != http.StatusOK {
			t.Fatalf("stream: %d %s", s.status, s.body)
		}
		go send(s, 5000)
		start := time.Now()
		ok := 0
	read:
		for time.Since(start) < 10*time.Second {
			select {
			case r, open := <-s.receipts:
				if !open {
					break read // all sent already, or cut off: the counts tell
				}
				if r.ErrorCode != 200 {
					t.Fatalf("receipt %+v: over the rate a stream is slowed, not refused", r)
				}
				ok++
			case <-time.After(time.Until(start.Add(10 * time.Second))):
			}
		}
		accepted := brokerRecords(t, g, "customer1") * size
		s.cancel()
		// The rate plus the burst (one second's worth), plus the record
		// that went into debt.
		if limit := int64(10000*10 + 10000 + size); accepted > limit {
			t.Errorf("%d bytes accepted in 10s, want at most %d (10,000 B/s for 10s plus the burst)", accepted, limit)
		}
		if accepted < 50000 || ok < 50 {
			t.Errorf("%d bytes accepted (%d receipts) in 10s: the stream must go on at the rate", accepted, ok)
		}
	})

	t.Run("quota", func(t *testing.T) {
		g := limitedGateway(t, "    daily_bytes: 1Mi\n", "")
		s := openProduceStream(t, g, "customer1", seedAuth, rec)
		if s.status != http.StatusOK {
			t.Fatalf("stream: %d %s", s.status, s.body)
		}
		go send(s, 5000)
		var ok int
		var last streamReceipt
		for {
			r, open := s.next(t, 30*time.Second)
			if !open {
				break
			}
			if last.ErrorCode != 0 && last.ErrorCode != 200 {
				t.Errorf("receipt %+v after the error %+v: the stream must end there", r, last)
			}
			if r.ErrorCode == 200 {
				ok++
			}
			last = r
		}
		if last.ErrorCode != 429 || !strings.Contains(last.Message, "Daily byte quota") {
			s.mu.Lock()
			t.Errorf("last receipt %+v (the answer ended with %v), want the daily quota's 429", last, s.end)
			s.mu.Unlock()
		}
		accepted := brokerRecords(t, g, "customer1") * size
		if accepted > 1<<20 {
			t.Errorf("%d bytes on the broker, more than the 1 MiB quota", accepted)
		}
		if accepted < 1<<20-2*size || int64(ok)*size != accepted {
			t.Errorf("%d bytes on the broker, %d success receipts: want the quota used up, each record answered", accepted, ok)
		}
		// The next stream's first record is refused (the quota has less
		// than a record left, so the door still opens).
		s2 := openProduceStream(t, g, "customer1", seedAuth, rec)
		if s2.status == http.StatusOK {
			if r, _ := s2.next(t, 10*time.Second); r.ErrorCode != 429 {
				t.Errorf("a stream after the quota: first receipt %+v", r)
			}
		} else if s2.status != http.StatusTooManyRequests {
			t.Errorf("a stream after the quota: %d %s", s2.status, s2.body)
		}
	})
}

// TestFinding2RequestsMeteredBeforeWriting: v2 produce, v3 records:batch
// and KastleX produce charge their records before producing them, and
// KastleX fetch what it returns before returning it: what would pass the
// daily quota is refused 429 and nothing of it is written or returned
// (they used to be admitted while the quota was not yet used up and
// charged afterwards).
func TestFinding2RequestsMeteredBeforeWriting(t *testing.T) {
	avoidUTCMidnight(t, time.Minute)
	g := limitedGateway(t, "    daily_bytes: 2000\n", "")
	h := []string{"Authorization", seedAuth}
	v2 := `{"records":[{"value":"` + strings.Repeat("x", 598) + `"}]}` // 600 bytes of JSON
	if r := do(t, "POST", g.URL+"/topics/customer1", v2, append(h, "Content-Type", mtJSONv2)...); r.status != http.StatusOK {
		t.Fatalf("v2 within the quota: %d %s", r.status, r.body)
	}
	entry := func(id string) string {
		return `{"id":"` + id + `","value":{"type":"STRING","data":"` + strings.Repeat("y", 600) + `"}}`
	}
	r := do(t, "POST", g.URL+"/v3/clusters/kgate-embedded/topics/customer1/records:batch",
		`{"entries":[`+entry("a")+","+entry("b")+","+entry("c")+`]}`, append(h, "Content-Type", "application/json")...)
	var batch struct {
		Successes []struct{ ID string } `json:"successes"`
		Failures  []struct {
			ID        string `json:"id"`
			ErrorCode int    `json:"error_code"`
		} `json:"failures"`
	}
	if err := json.Unmarshal(r.body, &batch); err != nil || r.status != http.StatusMultiStatus {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	if len(batch.Successes) != 2 || len(batch.Failures) != 1 || batch.Failures[0].ID != "c" || batch.Failures[0].ErrorCode != 429 {
		t.Errorf("batch past the quota: %s", r.body)
	}
	if r := do(t, "POST", g.URL+"/topics/customer1", v2, append(h, "Content-Type", mtJSONv2)...); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("v2 past the quota: %d %s", r.status, r.body)
	}
	if n := brokerRecords(t, g, "customer1"); n != 3 {
		t.Errorf("%d records on the broker, want 3: nothing past the quota is written", n)
	}
	// 1800 bytes used: returning the three records would pass 2000.
	if r := do(t, "GET", g.URL+"/api/v1/messages/customer1/0/0", "", h...); r.status != http.StatusTooManyRequests {
		t.Errorf("KastleX fetch past the quota: %d %.300s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/api/v1/messages/customer1", strings.Repeat("k", 100), append(h, "Content-Type", "application/binary")...); r.status != http.StatusNoContent {
		t.Errorf("KastleX produce within the quota: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/api/v1/messages/customer1", strings.Repeat("k", 200), append(h, "Content-Type", "application/binary")...); r.status != http.StatusTooManyRequests {
		t.Errorf("KastleX produce past the quota: %d %s", r.status, r.body)
	}
	if n := brokerRecords(t, g, "customer1"); n != 4 {
		t.Errorf("%d records on the broker, want 4", n)
	}
}

// TestFinding3StreamStopsWhenRightsEnd: a v3 stream opened with a token
// went on writing after the token was revoked, after the user was deleted
// and after its produce right was removed. Now it stops within a second
// with an error object (also when idle between records), its token's
// expiry ends it, and it has a lifetime (http.stream_max_duration).
func TestFinding3StreamStopsWhenRightsEnd(t *testing.T) {
	rec := stringRecord(10)
	// open starts a stream, checks its first receipt and leaves it idle.
	open := func(t *testing.T, g *testutil.Gateway, authz string) *produceStream {
		t.Helper()
		s := openProduceStream(t, g, "customer1", authz, rec)
		if s.status != http.StatusOK {
			t.Fatalf("stream: %d %s", s.status, s.body)
		}
		if r, _ := s.next(t, 10*time.Second); r.ErrorCode != 200 {
			t.Fatalf("first receipt %+v", r)
		}
		return s
	}
	// stops checks that the stream ends with the error code within 1s
	// of since.
	stops := func(t *testing.T, s *produceStream, since time.Time, code int, within time.Duration) {
		t.Helper()
		r, ok := s.next(t, 10*time.Second)
		if !ok || r.ErrorCode != code {
			t.Fatalf("receipt %+v (open %v), want error %d", r, ok, code)
		}
		if el := r.at.Sub(since); el > within {
			t.Errorf("the stream stopped %v after the change, want within %v", el, within)
		}
		if err := s.ended(t, 5*time.Second); err != io.EOF {
			t.Errorf("the stream ended with %v, want a clean end after the error", err)
		}
	}
	reload := func(t *testing.T, g *testutil.Gateway) {
		t.Helper()
		if r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops")); r.status != http.StatusOK {
			t.Fatalf("reload: %d %s", r.status, r.body)
		}
	}

	t.Run("token revoked", func(t *testing.T) {
		g, _ := reloadGateway(t)
		s := open(t, g, bearer(login(t, g.URL, "customer1")))
		start := time.Now()
		if r := do(t, "DELETE", g.URL+"/admin/tokens/customer1", "", "Authorization", basic("ops")); r.status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		stops(t, s, start, 40101, time.Second)
	})
	t.Run("user deleted", func(t *testing.T) {
		g, _ := reloadGateway(t)
		s := open(t, g, seedAuth)
		b, err := os.ReadFile(g.Config.Auth.Users)
		if err != nil {
			t.Fatal(err)
		}
		users := string(b)
		i, j := strings.Index(users, "customer1:\n"), strings.Index(users, "customer2:\n")
		if err := os.WriteFile(g.Config.Auth.Users, []byte(users[:i]+users[j:]), 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		reload(t, g)
		stops(t, s, start, 40101, time.Second)
	})
	t.Run("produce removed", func(t *testing.T) {
		g, perms := reloadGateway(t)
		s := open(t, g, seedAuth)
		b, err := os.ReadFile(perms)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(perms, []byte(strings.Replace(string(b), `  produce: ["{user}"]`+"\n", "", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		reload(t, g)
		stops(t, s, start, 40301, time.Second)
		if n := brokerRecords(t, g, "customer1"); n != 1 {
			t.Errorf("%d records on the broker, want the one sent before", n)
		}
	})
	t.Run("requests in flight", func(t *testing.T) {
		// A v2 or KastleX produce whose body is still arriving when the
		// token is revoked writes nothing.
		g, _ := reloadGateway(t)
		for _, c := range []struct{ path, ctype, first, rest string }{
			{"/topics/customer1", mtJSONv2, `{"records":[{"value":`, `1}]}`},
			{"/api/v1/messages/customer1", "application/binary", "half", " and the rest"},
		} {
			tok := login(t, g.URL, "customer1")
			pr, pw := io.Pipe()
			req, err := http.NewRequestWithContext(t.Context(), "POST", g.URL+c.path, pr)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.ctype)
			req.Header.Set("Authorization", bearer(tok))
			done := make(chan response, 1)
			go func() { done <- send(t, http.DefaultClient, req) }()
			if _, err := io.WriteString(pw, c.first); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // through the door
			if r := do(t, "DELETE", g.URL+"/admin/tokens/customer1", "", "Authorization", basic("ops")); r.status != http.StatusNoContent {
				t.Fatalf("revoke: %d %s", r.status, r.body)
			}
			_, _ = io.WriteString(pw, c.rest)
			pw.Close()
			if r := <-done; r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "revoked") {
				t.Errorf("%s after the revocation: %d %s", c.path, r.status, r.body)
			}
		}
		if n := brokerRecords(t, g, "customer1"); n != 0 {
			t.Errorf("%d records on the broker, want none", n)
		}
	})
	t.Run("token expired", func(t *testing.T) {
		users, perms := secureFiles(t)
		g := testutil.StartGateway(t, func(c *config.Config) {
			c.Auth.Users, c.Auth.Permissions = users, perms
			c.Auth.JWT.TTL = config.Duration(3 * time.Second)
			c.Auth.JWT.Leeway = 0
		})
		tok := login(t, g.URL, "customer1")
		s := open(t, g, bearer(tok))
		var claims struct {
			Exp int64 `json:"exp"`
		}
		if err := json.Unmarshal([]byte(jwtPayload(t, tok)), &claims); err != nil {
			t.Fatal(err)
		}
		stops(t, s, time.Unix(claims.Exp, 0), 40101, time.Second)
	})
	t.Run("lifetime", func(t *testing.T) {
		users, perms := secureFiles(t)
		g := testutil.StartGateway(t, func(c *config.Config) {
			c.Auth.Users, c.Auth.Permissions = users, perms
			c.HTTP.StreamMaxDuration = config.Duration(time.Second)
		})
		s := open(t, g, seedAuth)
		time.Sleep(1100 * time.Millisecond)
		if _, err := io.WriteString(s.pw, rec); err != nil {
			t.Fatal(err)
		}
		r, _ := s.next(t, 5*time.Second)
		if r.ErrorCode != 408 || !strings.Contains(r.Message, "longer than allowed") {
			t.Errorf("a record after the stream's lifetime: %+v, want 408", r)
		}
		if err := s.ended(t, 5*time.Second); err != io.EOF {
			t.Errorf("the stream ended with %v, want a clean end after the grace", err)
		}
	})
}

// jwtPayload returns the decoded claims part of a JWT.
func jwtPayload(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFinding5StreamsCappedPerPrincipal: one tenant could open streams
// without bound. Now each principal holds at most
// http.max_streams_per_principal and the node http.max_streams; over a
// cap the stream is refused 429 before it starts, and what one tenant
// holds leaves the others their share.
func TestFinding5StreamsCappedPerPrincipal(t *testing.T) {
	g := secureGateway(t, func(c *config.Config) {
		c.HTTP.MaxStreams, c.HTTP.MaxStreamsPerPrincipal = 3, 2
	})
	rec := stringRecord(10)
	open := func(authz string) *produceStream {
		t.Helper()
		topic := "customer1"
		if authz == basic("customer2") {
			topic = "customer2"
		}
		return openProduceStream(t, g, topic, authz, rec)
	}
	a, b := open(seedAuth), open(seedAuth)
	for _, s := range []*produceStream{a, b} {
		if s.status != http.StatusOK {
			t.Fatalf("customer1's streams: %d %s", s.status, s.body)
		}
	}
	third := open(seedAuth)
	if third.status != http.StatusTooManyRequests || !strings.Contains(string(third.body), "for this principal") || third.header.Get("Retry-After") == "" {
		t.Errorf("customer1's third stream: %d %s (Retry-After %q)", third.status, third.body, third.header.Get("Retry-After"))
	}
	if s := open(basic("customer2")); s.status != http.StatusOK {
		t.Errorf("customer2's stream while customer1 is at its cap: %d %s", s.status, s.body)
	}
	if s := open(basic("customer2")); s.status != http.StatusTooManyRequests || !strings.Contains(string(s.body), "on this node") {
		t.Errorf("a stream past the node's cap: %d %s", s.status, s.body)
	}
	// Closing one gives its slot back.
	if r, _ := a.next(t, 10*time.Second); r.ErrorCode != 200 {
		t.Fatalf("first receipt %+v", r)
	}
	a.pw.Close()
	if err := a.ended(t, 5*time.Second); err != io.EOF {
		t.Fatalf("closing: %v", err)
	}
	eventually(t, "a freed slot", func() bool {
		s := open(seedAuth)
		s.pw.Close()
		return s.status == http.StatusOK
	})
}

// TestFinding6ProduceMemoryBounded: a v2 produce body of a million tiny
// records cost about 430 MB. Now a request's records are bounded
// (http.max_records_per_request, 413 with nothing written) and requests
// take memory from one budget (http.memory_budget): a request that finds
// it in use waits up to a second, then gets 503 with Retry-After.
func TestFinding6ProduceMemoryBounded(t *testing.T) {
	g := secureGateway(t, func(c *config.Config) {
		c.HTTP.MaxRecordsPerRequest = 1000
		c.HTTP.MemoryBudget = 16 << 20
	})
	records := func(n int) string {
		return `{"records":[` + strings.TrimSuffix(strings.Repeat(`{"value":1},`, n), ",") + `]}`
	}
	if r := do(t, "POST", g.URL+"/topics/customer1", records(1000), "Content-Type", mtJSONv2, "Authorization", seedAuth); r.status != http.StatusOK {
		t.Fatalf("1000 records: %d %s", r.status, r.body)
	}
	r := do(t, "POST", g.URL+"/topics/customer1", records(1001), "Content-Type", mtJSONv2, "Authorization", seedAuth)
	if r.status != http.StatusRequestEntityTooLarge || r.errorCode() != 413 || !strings.Contains(string(r.body), "more than 1000 records") {
		t.Errorf("1001 records: %d %.300s", r.status, r.body)
	}
	if n := brokerRecords(t, g, "customer1"); n != 1000 {
		t.Errorf("%d records on the broker, want the first request's 1000 only", n)
	}

	// A body declared 15 MiB that arrives slowly holds most of the budget
	// while it does; a 2 MB body finds no room (customer2's: no quota).
	pr, pw := io.Pipe()
	slow, err := http.NewRequestWithContext(t.Context(), "POST", g.URL+"/topics/customer1", pr)
	if err != nil {
		t.Fatal(err)
	}
	slow.ContentLength = 15 << 20
	slow.Header.Set("Content-Type", mtJSONv2)
	slow.Header.Set("Authorization", seedAuth)
	slowDone := make(chan response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(slow)
		if err != nil {
			slowDone <- response{}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slowDone <- response{status: resp.StatusCode, body: b}
	}()
	if _, err := io.WriteString(pw, `{"records":[`); err != nil {
		t.Fatal(err)
	}
	big := `{"records":[{"value":"` + strings.Repeat("x", 2<<20) + `"}]}`
	eventually(t, "a request refused for memory", func() bool {
		r = do(t, "POST", g.URL+"/topics/customer2", big, "Content-Type", mtJSONv2, "Authorization", basic("customer2"))
		return r.status != http.StatusOK
	})
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "memory budget") {
		t.Errorf("a request while the budget is held: %d %.300s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	pw.CloseWithError(fmt.Errorf("the client gives up"))
	<-slowDone
	eventually(t, "the budget given back", func() bool {
		r = do(t, "POST", g.URL+"/topics/customer2", big, "Content-Type", mtJSONv2, "Authorization", basic("customer2"))
		return r.status == http.StatusOK
	})
}

// TestFinding14SlowRecordTimesOut: a v3 stream fed one byte every few
// seconds kept a record open indefinitely (the timeout was per read).
// Now a record must arrive whole within http.record_timeout of its first
// byte: a 408 receipt ends the stream.
func TestFinding14SlowRecordTimesOut(t *testing.T) {
	g := secureGateway(t, func(c *config.Config) {
		c.HTTP.ReadTimeout = config.Duration(5 * time.Second)
		c.HTTP.RecordTimeout = config.Duration(2 * time.Second)
	})
	rec := stringRecord(40)
	s := openProduceStream(t, g, "customer1", seedAuth, rec)
	if s.status != http.StatusOK {
		t.Fatalf("stream: %d %s", s.status, s.body)
	}
	if r, _ := s.next(t, 10*time.Second); r.ErrorCode != 200 {
		t.Fatalf("first receipt %+v", r)
	}
	// Each byte well within read_timeout; the record as a whole not.
	start := time.Now()
	go func() {
		for i := range len(rec) {
			if _, err := io.WriteString(s.pw, rec[i:i+1]); err != nil {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()
	r, ok := s.next(t, 15*time.Second)
	if !ok || r.ErrorCode != 408 {
		t.Fatalf("receipt %+v (open %v), want 408", r, ok)
	}
	if el := r.at.Sub(start); el < 1500*time.Millisecond || el > 4*time.Second {
		t.Errorf("the slow record was cut after %v, want about the record timeout (2s)", el)
	}
	if err := s.ended(t, 5*time.Second); err != io.EOF {
		t.Errorf("the stream ended with %v", err)
	}
}
