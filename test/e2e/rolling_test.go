package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// retryClient is a client of the load balancer that retries a failed
// request once (after the Retry-After the answer asks for, at most 2s),
// as a careful client does, and counts what happened.
type retryClient struct {
	mu       sync.Mutex
	requests int
	retried  int
	failures []string // requests that failed after their one retry
	causes   []string // what the retried requests first got
}

type attempt struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// failed reports whether an answer is a failure a client retries:
// no answer, a 5xx, or a produce answer with a record refused.
func (a attempt) failed() bool {
	return a.err != nil || a.status >= 500 || bytes.Contains(a.body, []byte(`"error_code":5`))
}

func (a attempt) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d %s (node %s)", a.status, bytes.TrimSpace(a.body), a.header.Get("Kgate-Node"))
}

func send(ctx context.Context, method, url, ctype, body string, headers ...string) attempt {
	return sendAs(ctx, "alice", method, url, ctype, body, headers...)
}

// sendAs sends one request as user (none when empty; the test users'
// password), and returns the answer read whole, or the error.
func sendAs(ctx context.Context, user, method, url, ctype, body string, headers ...string) attempt {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return attempt{err: err}
	}
	if user != "" {
		req.SetBasicAuth(user, "alicepw")
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return attempt{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return attempt{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// do sends a request, and once more if it failed; ok is false when the
// retry failed too (recorded as a failure, with both answers).
func (c *retryClient) do(ctx context.Context, what, method, url, ctype, body string, headers ...string) (attempt, bool) {
	a := send(ctx, method, url, ctype, body, headers...)
	c.mu.Lock()
	c.requests++
	c.mu.Unlock()
	if !a.failed() || ctx.Err() != nil {
		return a, !a.failed()
	}
	wait := 200 * time.Millisecond
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err == nil {
		wait = min(time.Duration(s)*time.Second, 2*time.Second)
	}
	select {
	case <-ctx.Done():
		return a, false
	case <-time.After(wait):
	}
	b := send(ctx, method, url, ctype, body, headers...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retried++
	c.causes = append(c.causes, what+": "+a.String())
	if b.failed() && ctx.Err() == nil {
		c.failures = append(c.failures, fmt.Sprintf("%s: %v; retried: %v", what, a, b))
	}
	return b, !b.failed()
}

// rollingConsumer is a v2 consumer flow through the load balancer: it
// reads, commits what it read, and reads again, checking that what it
// is given never starts before what it committed.
type rollingConsumer struct {
	c    *retryClient
	base string
	// committed is, per partition, the next offset after what the client
	// committed (with an acknowledged commit).
	committed map[int32]int64
	read      atomic.Int64
	holders   map[string]int // answers per replica holding the instance
	moves     []string       // the holders in turn
	backwards []string       // records given before the committed offset
}

// holder returns the replica that last answered as holding the
// instance.
func (rc *rollingConsumer) holder() string {
	rc.c.mu.Lock()
	defer rc.c.mu.Unlock()
	if len(rc.moves) == 0 {
		return ""
	}
	return rc.moves[len(rc.moves)-1]
}

func (rc *rollingConsumer) run(ctx context.Context) {
	for ctx.Err() == nil {
		a, ok := rc.c.do(ctx, "read", "GET", rc.base+"/records?timeout=300&max_bytes=2048", "", "", "Accept", v2JSON)
		if !ok {
			continue
		}
		if a.status != 200 {
			rc.c.mu.Lock()
			rc.c.failures = append(rc.c.failures, "read: "+a.String())
			rc.c.mu.Unlock()
			continue
		}
		h := a.header.Get("Kgate-Instance-Node")
		rc.c.mu.Lock()
		rc.holders[h]++
		if len(rc.moves) == 0 || rc.moves[len(rc.moves)-1] != h {
			rc.moves = append(rc.moves, h)
		}
		rc.c.mu.Unlock()
		var recs []consumed
		if err := json.Unmarshal(a.body, &recs); err != nil {
			rc.c.mu.Lock()
			rc.c.failures = append(rc.c.failures, fmt.Sprintf("read: %v: %s", err, a.body))
			rc.c.mu.Unlock()
			continue
		}
		last := map[int32]int64{}
		for _, r := range recs {
			if c, ok := rc.committed[r.Partition]; ok && r.Offset < c {
				rc.backwards = append(rc.backwards, fmt.Sprintf("partition %d offset %d, committed %d", r.Partition, r.Offset, c))
			}
			last[r.Partition] = max(last[r.Partition], r.Offset)
		}
		rc.read.Add(int64(len(recs)))
		if len(last) == 0 {
			continue
		}
		var offs []string
		for p, o := range last {
			offs = append(offs, fmt.Sprintf(`{"topic":%q,"partition":%d,"offset":%d}`, scaleTopic, p, o))
		}
		if a, ok := rc.c.do(ctx, "commit", "POST", rc.base+"/offsets", v2, `{"offsets":[`+strings.Join(offs, ",")+`]}`); ok && a.status == 200 {
			for p, o := range last {
				rc.committed[p] = max(rc.committed[p], o+1)
			}
		} else if ok {
			rc.c.mu.Lock()
			rc.c.failures = append(rc.c.failures, "commit: "+a.String())
			rc.c.mu.Unlock()
		}
	}
}

// TestRollingRestart restarts the three replicas behind haproxy one at a
// time (SIGTERM, then started again on the same data directory, node id
// and address, and waited for until ready) while a producer writes
// through the load balancer and a v2 consumer reads and commits through
// it, each retrying a failed request once. No acknowledged record is
// lost, no request fails after its retry, and the consumer is never
// given a record before what it committed. Each stopped replica answers
// /readyz 503 while it drains, and forwards a create that reaches it to
// another replica.
func TestRollingRestart(t *testing.T) {
	s := startScaleOut(t)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()

	// The producer: batches of five values, in sequence.
	prod := &retryClient{}
	var (
		ackedMu sync.Mutex
		acked   = map[int]bool{}
	)
	var wg sync.WaitGroup
	wg.Go(func() {
		for next := 0; ctx.Err() == nil; next += 5 {
			var recs []string
			for i := next; i < next+5; i++ {
				recs = append(recs, fmt.Sprintf(`{"value":%d}`, i))
			}
			a, ok := prod.do(ctx, "produce", "POST", s.lb+"/topics/"+scaleTopic, v2JSON, `{"records":[`+strings.Join(recs, ",")+`]}`)
			if ok && a.status == 200 {
				ackedMu.Lock()
				for i := next; i < next+5; i++ {
					acked[i] = true
				}
				ackedMu.Unlock()
			} else if ok {
				prod.mu.Lock()
				prod.failures = append(prod.failures, "produce: "+a.String())
				prod.mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	// The consumer: created and subscribed once, then read and commit.
	cons := &retryClient{}
	a, ok := cons.do(ctx, "create", "POST", s.lb+"/consumers/alice-rolling", v2,
		`{"name":"c1","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false"}`)
	if !ok || a.status != 200 {
		t.Fatalf("create: %v", a)
	}
	rc := &rollingConsumer{c: cons, base: s.lb + "/consumers/alice-rolling/instances/c1", committed: map[int32]int64{}, holders: map[string]int{}}
	if a, ok := cons.do(ctx, "subscribe", "POST", rc.base+"/subscription", v2, `{"topics":["`+scaleTopic+`"]}`); !ok || a.status != 204 {
		t.Fatalf("subscribe: %v", a)
	}
	wg.Go(func() { rc.run(ctx) })

	progress := func(what string) {
		waitFor(t, 20*time.Second, what, func() bool {
			ackedMu.Lock()
			n := len(acked)
			ackedMu.Unlock()
			return n > 0 && rc.read.Load() > 0
		})
	}
	progress("the producer and the consumer under way")

	started := time.Now()
	// Each round restarts the replica holding the instance if it was not
	// restarted yet, so that the instance moves as often as it can.
	restarted := map[int]bool{}
	for range s.replicas {
		i := -1
		for j := range s.replicas {
			if !restarted[j] && (i < 0 || nodeOf(t, s.replicas[j]) == rc.holder()) {
				i = j
			}
		}
		restarted[i] = true
		old := s.replicas[i]
		id := nodeOf(t, old)
		begin := time.Now()
		if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// /readyz answers 503 while the replica drains, and a create
		// that reaches it is forwarded to another replica.
		sawDraining, forwardedCreate := false, ""
		for !sawDraining && time.Since(begin) < 5*time.Second {
			if a := send(ctx, "GET", old.HTTP+"/readyz", "", ""); a.status == 503 {
				sawDraining = true
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !sawDraining {
			t.Errorf("replica %s never answered /readyz 503 while draining", id)
		} else {
			name := "drain-" + strconv.Itoa(i)
			a := send(ctx, "POST", old.HTTP+"/consumers/alice-rolling-"+name, v2, `{"name":"`+name+`","format":"json"}`)
			if a.status != 200 || a.header.Get("Kgate-Instance-Node") == id {
				t.Errorf("a create reaching draining replica %s: %v, instance on %q", id, a, a.header.Get("Kgate-Instance-Node"))
			} else {
				forwardedCreate = a.header.Get("Kgate-Instance-Node")
				send(ctx, "DELETE", s.lb+"/consumers/alice-rolling-"+name+"/instances/"+name, v2, "")
			}
		}
		select {
		case <-old.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("replica %s did not exit after SIGTERM\n%s", id, old.Logs())
		}
		if code := old.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("replica %s exited %d", id, code)
		}
		stopped := time.Since(begin)
		p := startServeArgs(t, s.args[i], s.env...)
		s.replicas[i], s.nodes[id] = p, p
		if got := nodeOf(t, p); got != id {
			t.Fatalf("restarted replica is %s, want %s (same data directory)", got, id)
		}
		waitFor(t, 20*time.Second, "the restarted replica ready and known to all", func() bool {
			if a := send(ctx, "GET", p.HTTP+"/readyz", "", ""); a.status != 200 {
				return false
			}
			for _, q := range s.replicas {
				r := call(t, "GET", q.HTTP+"/admin/nodes", "admin", "", "")
				var n struct{ Nodes []json.RawMessage }
				if r.status != 200 || json.Unmarshal(r.body, &n) != nil || len(n.Nodes) != 3 {
					return false
				}
			}
			return true
		})
		t.Logf("replica %s: stopped in %v (create forwarded to %s), ready again after %v", id, stopped.Round(time.Millisecond),
			forwardedCreate, time.Since(begin).Round(time.Millisecond))
		// Both flows make progress with this replica back before the
		// next one goes.
		ackedMu.Lock()
		before := len(acked)
		ackedMu.Unlock()
		readBefore := rc.read.Load()
		waitFor(t, 20*time.Second, "progress after the restart", func() bool {
			ackedMu.Lock()
			n := len(acked)
			ackedMu.Unlock()
			return n > before && rc.read.Load() > readBefore
		})
	}
	t.Logf("rolling restart of three replicas took %v", time.Since(started).Round(time.Millisecond))
	stop()
	wg.Wait()

	for _, c := range []*retryClient{prod, cons} {
		for _, f := range c.failures {
			t.Errorf("failed after one retry: %s", f)
		}
	}
	t.Logf("retried after: %q, %q", prod.causes, cons.causes)
	for _, b := range rc.backwards {
		t.Errorf("the consumer was given a record before its commit: %s", b)
	}
	t.Logf("producer: %d requests, %d retried, %d records acknowledged; consumer: %d requests, %d retried, %d records read, answers by holder %v, holders in turn %v",
		prod.requests, prod.retried, len(acked), cons.requests, cons.retried, rc.read.Load(), rc.holders, rc.moves)

	// Every acknowledged record is in Kafka.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers), kgo.ConsumeTopics(scaleTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stored := map[int]bool{}
	missing := func() int {
		n := 0
		for v := range acked {
			if !stored[v] {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(20 * time.Second); missing() > 0 && time.Now().Before(deadline); {
		pctx, cancel := context.WithTimeout(t.Context(), time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if v, err := strconv.Atoi(string(r.Value)); err == nil {
				stored[v] = true
			}
		})
		cancel()
	}
	if n := missing(); n > 0 {
		t.Errorf("%d of %d acknowledged records are not in Kafka", n, len(acked))
	}
	// The group's committed offsets are at least what the consumer
	// committed: a handover never moved them back.
	offs, err := kadm.NewClient(cl).FetchOffsets(t.Context(), "alice-rolling")
	if err != nil {
		t.Fatal(err)
	}
	for p, c := range rc.committed {
		if o, ok := offs.Lookup(scaleTopic, p); !ok || o.At < c {
			t.Errorf("partition %d: committed %+v in Kafka, the consumer committed %d", p, o, c)
		}
	}
}

// nodeOf returns a replica's node id.
func nodeOf(t *testing.T, p *proc) string {
	t.Helper()
	resp, err := http.Get(p.HTTP + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Kgate-Node")
}
