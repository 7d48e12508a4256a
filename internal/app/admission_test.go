package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestAdmissionShedsLoad: a gateway serving as many requests as
// http.max_concurrent_requests allows, with no room in its queue,
// answers the next request 503 with Retry-After at once instead of
// queueing it, while probes and metrics still answer; the request that
// held the slot completes, and the next one is served.
func TestAdmissionShedsLoad(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) {
		c.HTTP.MaxConcurrentRequests, c.HTTP.MaxQueuedRequests = 1, 0
	})
	if r := do(t, "POST", g.URL+"/topics/admission", seedBody, "Content-Type", mtJSONv2); r.status != 200 {
		t.Fatalf("first produce: %d %s", r.status, r.body)
	}
	// A produce whose chunked body arrives slowly holds the only slot
	// (a streamed body is read by the handler as it arrives; a body with
	// a Content-Length is read whole before the handler runs, so it
	// would not). Nothing else is in flight while it arrives, so it is
	// admitted; the test then waits for the door to refuse the next
	// request.
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /topics/admission HTTP/1.1\r\nHost: kgate\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s", mtJSONv2, len(seedBody), seedBody[:10])
	slow := bufio.NewReader(conn)
	deadline := time.Now().Add(10 * time.Second)
	var r response
	for time.Now().Before(deadline) {
		// Until the server has read the slow request's header, a request
		// of ours could take the slot first and the slow one be shed:
		// give it time alone before each try.
		time.Sleep(100 * time.Millisecond)
		_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := slow.Peek(1); err == nil {
			t.Fatal("the slow request was answered before its body arrived")
		}
		if r = do(t, "POST", g.URL+"/topics/admission", seedBody, "Content-Type", mtJSONv2); r.status == 503 {
			break
		}
	}
	if r.status != 503 || r.header.Get("Retry-After") != "1" || r.errorCode() != 503 {
		t.Fatalf("with the only slot taken: %d %s (Retry-After %q), want 503 with Retry-After 1", r.status, r.body, r.header.Get("Retry-After"))
	}
	if h := do(t, "GET", g.URL+"/healthz", ""); h.status != 200 {
		t.Errorf("/healthz while full: %d", h.status)
	}
	m := do(t, "GET", g.URL+"/metrics", "")
	if got := regexp.MustCompile(`(?m)^kgate_http_shed_requests_total ([0-9]+)$`).FindStringSubmatch(string(m.body)); got == nil || got[1] == "0" {
		t.Errorf("kgate_http_shed_requests_total is %v after a shed request (%d %.300s)", got, m.status, m.body)
	}
	// The slow request completes and is answered.
	if _, err := io.WriteString(conn, seedBody[10:]+"\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(slow, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the request that held the slot: %d", resp.StatusCode)
	}
	if r := do(t, "POST", g.URL+"/topics/admission", seedBody, "Content-Type", mtJSONv2); r.status != 200 {
		t.Fatalf("after the slot is free: %d %s", r.status, r.body)
	}
}
