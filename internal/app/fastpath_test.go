package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestFastPath: on one keep-alive connection (as a load balancer reuses
// its connections to a replica) produces and a GET are served by the
// fast loop; a v2 long poll, held open while it waits, hands the
// connection to the standard server (counted in
// kgate_http_connections_handed_over_total), which serves what follows;
// the answers are the same either way. With http.fast_path off nothing
// is handed over and the answers are the same.
func TestFastPath(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprintf("fast_path=%v", fast), func(t *testing.T) {
			g := testutil.StartGateway(t, func(c *config.Config) { c.HTTP.FastPath = fast })
			// Metrics are read on a connection of their own, kept open:
			// it is handed over once, before the first count.
			mc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
			defer mc.CloseIdleConnections()
			handed := func() int {
				t.Helper()
				res, err := mc.Get(g.URL + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				got := regexp.MustCompile(`(?m)^kgate_http_connections_handed_over_total ([0-9]+)$`).FindStringSubmatch(string(b))
				if got == nil {
					t.Fatalf("no kgate_http_connections_handed_over_total in /metrics")
				}
				n, _ := strconv.Atoi(got[1])
				return n
			}
			before := handed()
			conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(conn)
			exchange := func(raw string) (int, string) {
				t.Helper()
				if _, err := io.WriteString(conn, raw); err != nil {
					t.Fatal(err)
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				return res.StatusCode, string(b)
			}
			post := fmt.Sprintf("POST /topics/fastpath HTTP/1.1\r\nHost: kgate\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", mtJSONv2, len(seedBody), seedBody)
			for i := range 2 {
				if status, body := exchange(post); status != 200 || !strings.Contains(body, `"error_code":null`) {
					t.Fatalf("produce %d: %d %s", i, status, body)
				}
			}
			if got := handed(); got != before {
				t.Errorf("handed over after two produces: %d, want %d", got, before)
			}
			if status, body := exchange("GET /topics HTTP/1.1\r\nHost: kgate\r\n\r\n"); status != 200 || !strings.Contains(body, `"fastpath"`) {
				t.Fatalf("GET /topics on the same connection: %d %s", status, body)
			}
			if status, body := exchange(post); status != 200 || !strings.Contains(body, `"error_code":null`) {
				t.Fatalf("produce after the GET: %d %s", status, body)
			}
			if got := handed(); got != before {
				t.Errorf("handed over after a GET: %d, want %d", got, before)
			}
			// A long poll of an instance that does not exist: answered
			// 404 at once, by the standard server.
			if status, body := exchange("GET /consumers/fastpath/instances/nobody/records HTTP/1.1\r\nHost: kgate\r\nAccept: application/vnd.kafka.binary.v2+json\r\n\r\n"); status != 404 || !strings.Contains(body, "40403") {
				t.Fatalf("v2 records of a missing instance: %d %s", status, body)
			}
			if status, body := exchange(post); status != 200 || !strings.Contains(body, `"error_code":null`) {
				t.Fatalf("produce after the long poll: %d %s", status, body)
			}
			want := before
			if fast {
				want++
			}
			if got := handed(); got != want {
				t.Errorf("handed over after the long poll: %d, want %d", got, want)
			}
		})
	}
}
