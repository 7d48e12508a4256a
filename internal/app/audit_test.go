package app_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// floodFailures sends n requests with wrong Basic credentials.
func floodFailures(t *testing.T, g *testutil.Gateway, n int) {
	t.Helper()
	for range n {
		r := do(t, "GET", g.URL+"/topics", "", "Authorization", "Basic "+b64("nobody:wrong"))
		if r.status != http.StatusUnauthorized && r.status != http.StatusTooManyRequests {
			t.Fatalf("bad credentials: %d %s", r.status, r.body)
		}
	}
}

func isFlood(m map[string]any) bool {
	return m["event"] == "auth_failure" && m["principal"] == "(unknown)" && m["client_ip"] == "127.0.0.1"
}

// TestFinding15AuditFloodAggregated: a flood of refused requests writes
// one audit record at once, not one per request.
func TestFinding15AuditFloodAggregated(t *testing.T) {
	// One kind of refusal: the per-name failure limit would add another.
	g := secureGateway(t, func(c *config.Config) { c.Auth.UserFailuresPerSecond, c.Auth.UserFailureBurst = 1000, 1000 })
	floodFailures(t, g, 300)
	recs := auditRecords(t, g, 3*time.Second, 0, isFlood)
	if len(recs) != 1 {
		t.Errorf("%d audit records for 300 failures of one kind from one address, want 1 (and a summary later)", len(recs))
	}
}

// TestFinding15AuditSummaryCounts: the rest of an interval's repeated
// denials come as one summary record with their count; the next interval
// starts counting again.
func TestFinding15AuditSummaryCounts(t *testing.T) {
	g := secureGateway(t, func(c *config.Config) {
		c.Auth.Audit.AggregateInterval = config.Duration(time.Second)
		c.Auth.UserFailuresPerSecond, c.Auth.UserFailureBurst = 1000, 1000
	})
	floodFailures(t, g, 50)
	count := func(m map[string]any) int {
		n, _ := m["count"].(float64)
		return int(n)
	}
	// The flood may span intervals: one record at once, then summaries
	// adding up to the rest.
	total := 0
	recs := auditRecords(t, g, 10*time.Second, -1, func(m map[string]any) bool {
		if !isFlood(m) {
			return false
		}
		total += max(count(m), 1) // a summary stands for count refusals
		return true
	}, func() bool { return total >= 50 })
	if len(recs) < 2 || count(recs[0]) != 0 || recs[0]["since"] != nil {
		t.Fatalf("want the first refusal at once, then summaries: %v", recs)
	}
	sum := 0
	for _, m := range recs[1:] {
		if count(m) == 0 || m["since"] == nil {
			t.Errorf("not a summary: %v", m)
		}
		sum += count(m)
	}
	if sum != 49 {
		t.Errorf("summaries count %d refusals, want 49: %v", sum, recs)
	}
}

// TestFinding15AuditTopicCappedByBytes: the audit topic is created with
// retention.bytes = auth.audit.max_bytes, and an existing audit topic
// without it gets it at start.
func TestFinding15AuditTopicCappedByBytes(t *testing.T) {
	g := secureGateway(t, nil)
	retention := func(g *testutil.Gateway) string {
		t.Helper()
		cl := kafkaSuperuser(t, g)
		rc, err := kadm.NewClient(cl).DescribeTopicConfigs(t.Context(), g.Config.Auth.Audit.Topic)
		if err != nil {
			t.Fatal(err)
		}
		r, err := rc.On(g.Config.Auth.Audit.Topic, nil)
		if err != nil || r.Err != nil {
			t.Fatalf("%v %v", err, r.Err)
		}
		for _, c := range r.Configs {
			if c.Key == "retention.bytes" {
				return c.MaybeValue()
			}
		}
		return ""
	}
	want := strconv.FormatInt(int64(config.Default().Auth.Audit.MaxBytes), 10)
	if got := retention(g); got != want || want == "0" {
		t.Errorf("new audit topic: retention.bytes %q, want %q", got, want)
	}
	// An audit topic from an earlier version, without the cap.
	cl := kafkaSuperuser(t, g)
	if _, err := kadm.NewClient(cl).AlterTopicConfigs(t.Context(),
		[]kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.bytes"}}, g.Config.Auth.Audit.Topic); err != nil {
		t.Fatal(err)
	}
	g.Stop()
	cfg := g.Config
	cfg.Auth.Audit.MaxBytes = 64 << 20
	g2 := testutil.StartGatewayConfig(t, cfg)
	if got := retention(g2); got != fmt.Sprint(64<<20) {
		t.Errorf("existing audit topic: retention.bytes %q, want %d", got, 64<<20)
	}
}
