package app_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// BenchmarkProduceRequest measures what one v2 produce request of one
// small record costs the whole process (gateway, its embedded broker and,
// over the listener, the client), one request at a time, so that
// allocs/op and B/op are nearly deterministic and show what kgate's
// middleware and handler spend per request. The gateways log as kgate
// serve does (JSON at info: an access log line per request, to
// io.Discard here). Doors:
//
//	open/binary, open/json   open development mode (no security stack)
//	basic/json               users and permissions, HTTP Basic
//	apikey/json              users and permissions, X-API-Key
//
// each over a real listener (listener/...) and in process through the
// served handler with an httptest recorder (handler/...), which leaves
// out net/http's and the client's share. Besides ns/op (wall time, of
// which most is the broker's round trip) each reports cpu-ns/op, the
// process's CPU time (user and system, gateway, broker and client
// together) per request, which moves with what the gateway spends and
// less with what else runs on the machine. Run:
//
//	go test -run '^$' -bench ProduceRequest -benchmem -benchtime 5000x ./internal/app/
func BenchmarkProduceRequest(b *testing.B) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	users, perms := benchSecurityFiles(b, "customer1:\n  produce: [bench-basic, bench-apikey]\nadmin:\n  admin: true\n")
	open := testutil.StartGatewayLogger(b, nil, logger)
	sec := testutil.StartGatewayLogger(b, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
	}, logger)
	r := do(b, "POST", sec.URL+"/admin/apikeys", `{"user":"customer1"}`, "Content-Type", "application/json", "Authorization", basic("admin"))
	var created struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(r.body, &created); err != nil || created.Key == "" {
		b.Fatalf("creating an API key: %d %s", r.status, r.body)
	}

	const (
		binaryBody = `{"records":[{"value":"eyJkZXZpY2VpZCI6IkFwcGxlV2F0Y2g0IiwiaGVhcnRyYXRlIjoiNzIifQ=="}]}`
		mtBinaryV2 = "application/vnd.kafka.binary.v2+json"
	)
	doors := []struct {
		name     string
		g        *testutil.Gateway
		path     string
		body, ct string
		header   http.Header
	}{
		{"open/binary", open, "/topics/bench-binary", binaryBody, mtBinaryV2, nil},
		{"open/json", open, "/topics/bench-json", seedBody, mtJSONv2, nil},
		{"basic/json", sec, "/topics/bench-basic", seedBody, mtJSONv2, http.Header{"Authorization": {seedAuth}}},
		{"apikey/json", sec, "/topics/bench-apikey", seedBody, mtJSONv2, http.Header{"X-Api-Key": {created.Key}}},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	for _, d := range doors {
		newRequest := func(url string) *http.Request {
			req, _ := http.NewRequest("POST", url, strings.NewReader(d.body))
			for k, v := range d.header {
				req.Header[k] = v
			}
			req.Header["Content-Type"] = []string{d.ct}
			return req
		}
		b.Run("listener/"+d.name, func(b *testing.B) {
			send := func() {
				resp, err := client.Do(newRequest(d.g.URL + d.path))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", d.name, resp.StatusCode)
				}
			}
			measureRequests(b, send)
		})
		b.Run("handler/"+d.name, func(b *testing.B) {
			h := d.g.Info.Handler
			serve := func() {
				req := newRequest(d.path)
				req.RemoteAddr = "127.0.0.1:40000"
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", d.name, w.Code, w.Body)
				}
			}
			measureRequests(b, serve)
		})
	}
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureRequests warms up (the topic exists, the connection is open,
// credentials are cached), then times b.N calls of one, reporting
// allocations and the process's CPU time per request.
func measureRequests(b *testing.B, one func()) {
	for range 20 {
		one()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		one()
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}
