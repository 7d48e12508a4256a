package app_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestAccessLogFields pins the access log line of a request through the
// whole chain: its id (the client's), route, status, size and the caller
// authentication found, or anonymous when it refused the credentials.
func TestAccessLogFields(t *testing.T) {
	users, perms := secureFiles(t)
	g, logs := testutil.StartGatewayLogged(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Auth.FailuresPerSecond, c.Auth.FailureBurst = 1000, 1000
	})
	ok := do(t, "POST", g.URL+"/topics/customer1", seedBody, "Content-Type", mtJSONv2, "Authorization", seedAuth, "X-Request-Id", "log-ok")
	if ok.status != http.StatusOK || ok.header.Get("X-Request-Id") != "log-ok" {
		t.Fatalf("produce: %d %s, X-Request-Id %q", ok.status, ok.body, ok.header.Get("X-Request-Id"))
	}
	bad := do(t, "POST", g.URL+"/topics/customer1", seedBody, "Content-Type", mtJSONv2, "Authorization", basic("nobody"), "X-Request-Id", "log-bad")
	if bad.status != http.StatusUnauthorized {
		t.Fatalf("produce with a wrong password: %d %s", bad.status, bad.body)
	}
	g.Stop() // every line written
	lines := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil || m["msg"] != "http request" {
			continue
		}
		if id, _ := m["request_id"].(string); id != "" {
			lines[id] = m
		}
	}
	ignore := cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "time" || k == "duration" || k == "remote" })
	for id, want := range map[string]map[string]any{
		"log-ok": {"level": "INFO", "msg": "http request", "request_id": "log-ok", "method": "POST", "route": "POST /topics/{topic}",
			"path": "/topics/customer1", "status": float64(200), "bytes": float64(len(ok.body)), "principal": "customer1"},
		"log-bad": {"level": "INFO", "msg": "http request", "request_id": "log-bad", "method": "POST", "route": "POST /topics/{topic}",
			"path": "/topics/customer1", "status": float64(401), "bytes": float64(len(bad.body)), "principal": "anonymous"},
	} {
		got := lines[id]
		if diff := cmp.Diff(want, got, ignore); diff != "" {
			t.Errorf("access log line of %s (-want +got):\n%s", id, diff)
		}
		if d, _ := got["duration"].(float64); d <= 0 {
			t.Errorf("access log line of %s: duration %v", id, got["duration"])
		}
		if r, _ := got["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
			t.Errorf("access log line of %s: remote %v", id, got["remote"])
		}
	}
}
