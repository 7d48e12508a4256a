package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// limitedGateway starts a gateway whose users file gives customer1 and
// customer2 the limits in extra (YAML under each user).
func limitedGateway(t *testing.T, c1, c2 string) *testutil.Gateway {
	t.Helper()
	users, perms := secureFiles(t)
	b, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "  limits:\n    requests_per_second: 100\n    daily_bytes: 10Mi\n", "", 1)
	s = strings.Replace(s, "customer1:\n", "customer1:\n  limits:\n"+c1, 1)
	if c2 != "" {
		s = strings.Replace(s, "customer2:\n", "customer2:\n  limits:\n"+c2, 1)
	}
	if err := os.WriteFile(users, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return testutil.StartGateway(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Auth.Limits.FlushInterval = config.Duration(100 * time.Millisecond)
	})
}

func TestRateLimitPerTenant(t *testing.T) {
	g := limitedGateway(t, "    requests_per_second: 0.5\n    request_burst: 2\n", "")
	for i := range 2 {
		r := produceV2(t, g, "customer1", "Authorization", seedAuth)
		if r.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		if r.header.Get("RateLimit-Limit") != "2" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(1-i) {
			t.Errorf("request %d: RateLimit-Limit %q Remaining %q", i, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
	}
	r := produceV2(t, g, "customer1", "Authorization", seedAuth)
	if r.status != http.StatusTooManyRequests || r.errorCode() != 429 {
		t.Fatalf("over the limit: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.kafka.v2+json" {
		t.Errorf("429 Content-Type %q", ct)
	}
	retry, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if retry < 1 || retry > 2 {
		t.Errorf("Retry-After = %q, want 1 or 2 (one request per 2s)", r.header.Get("Retry-After"))
	}
	if r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Reset") == "" {
		t.Errorf("RateLimit headers on 429: %v", r.header)
	}
	var body struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Message == "" {
		t.Errorf("429 body %s", r.body)
	}

	// customer1 keeps hammering; customer2 is not slowed or refused, and
	// customer1's refusals are immediate (nobody waits in a queue).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := produceV2(t, g, "customer1", "Authorization", seedAuth); r.status != http.StatusTooManyRequests && r.status != http.StatusOK {
					t.Errorf("customer1: %d", r.status)
				}
			}
		}()
	}
	for i := range 50 {
		if r := produceV2(t, g, "customer2", "Authorization", basic("customer2")); r.status != http.StatusOK {
			t.Errorf("customer2 request %d while customer1 is limited: %d %s", i, r.status, r.body)
		}
	}
	close(stop)
	wg.Wait()
}

func TestByteRateLimit(t *testing.T) {
	g := limitedGateway(t, "    bytes_per_second: 100\n    byte_burst: 100\n", "")
	big := `{"records":[{"value":"` + strings.Repeat("x", 500) + `"}]}`
	r := do(t, "POST", g.URL+"/topics/customer1", big, "Content-Type", mtJSONv2, "Authorization", seedAuth)
	if r.status != http.StatusOK {
		t.Fatalf("first produce: %d %s", r.status, r.body)
	}
	// 500+ bytes against 100 B/s: the bucket is ~4s in debt.
	r = do(t, "POST", g.URL+"/topics/customer1", big, "Content-Type", mtJSONv2, "Authorization", seedAuth)
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "bytes per second") {
		t.Fatalf("second produce: %d %s", r.status, r.body)
	}
	if retry, _ := strconv.Atoi(r.header.Get("Retry-After")); retry < 3 {
		t.Errorf("Retry-After = %s, want the debt (~4s)", r.header.Get("Retry-After"))
	}
	// Requests that move no data are not held by the byte bucket.
	if r := do(t, "GET", g.URL+"/topics/customer1", "", "Authorization", seedAuth); r.status != http.StatusOK {
		t.Errorf("metadata while in byte debt: %d", r.status)
	}
}

// The daily quotas reset at 00:00 UTC; a test that uses one up, restarts
// and expects it still used up must not straddle that midnight.
// (ratelimit's TestDailyQuota crosses it on synctest's clock.)
func TestQuotaSurvivesRestart(t *testing.T) {
	avoidUTCMidnight(t, time.Minute)
	g := limitedGateway(t, "    daily_requests: 3\n", "")
	for i := range 3 {
		if r := produceV2(t, g, "customer1", "Authorization", seedAuth); r.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	r := produceV2(t, g, "customer1", "Authorization", seedAuth)
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "Daily request quota of 3 exceeded") {
		t.Fatalf("4th request: %d %s", r.status, r.body)
	}
	midnight := nextUTCMidnight(time.Now())
	retry, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if d := time.Until(midnight); retry < int(d.Seconds())-5 || retry > int(d.Seconds())+5 {
		t.Errorf("Retry-After = %d, want about %v (next midnight UTC)", retry, d)
	}
	// The usage is shown per principal, at the admin endpoint and in
	// metrics.
	u := do(t, "GET", g.URL+"/admin/usage/customer1", "", "Authorization", basic("admin"))
	var usage struct {
		Requests int64 `json:"requests"`
		Limits   struct {
			DailyRequests int64 `json:"daily_requests"`
		} `json:"limits"`
	}
	if err := json.Unmarshal(u.body, &usage); err != nil || usage.Requests < 3 || usage.Limits.DailyRequests != 3 {
		t.Errorf("usage: %d %s", u.status, u.body)
	}
	m := do(t, "GET", g.URL+"/metrics", "", "Authorization", basic("admin"))
	if !strings.Contains(string(m.body), `kgate_usage_requests{principal="customer1"}`) ||
		!strings.Contains(string(m.body), `kgate_ratelimit_rejected_total{limit="daily_requests"} 1`) {
		t.Errorf("metrics lack the usage or the rejection")
	}
	// Restart on the same data directory: the quota is still used up.
	cfg := g.Config
	g.Stop()
	g2 := testutil.StartGatewayConfig(t, cfg)
	if r := produceV2(t, g2, "customer1", "Authorization", seedAuth); r.status != http.StatusTooManyRequests {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
	// Other tenants are not affected.
	if r := produceV2(t, g2, "customer2", "Authorization", basic("customer2")); r.status != http.StatusOK {
		t.Errorf("customer2: %d", r.status)
	}
}

// TestAuditTrail: failures, denials, logins, revocations and reloads reach
// the audit topic, and no secret does.
func TestAuditTrail(t *testing.T) {
	g := secureGateway(t, nil)
	const wrongPW = "Wr0ng-Secret-Attempt"
	produceV2(t, g, "customer1", "Authorization", "Basic "+b64("customer1:"+wrongPW))        // auth_failure
	produceV2(t, g, "customer1", "Authorization", "Basic "+b64("password1-typed-as-user:x")) // auth_failure, unknown user
	produceV2(t, g, "customer2", "Authorization", seedAuth)                                  // denied
	do(t, "POST", g.URL+"/login", "username=customer2&password="+wrongPW, "Content-Type", "application/x-www-form-urlencoded")
	tok := login(t, g.URL, "customer2")                                                      // login
	do(t, "DELETE", g.URL+"/admin/tokens/customer2", "", "Authorization", basic("ops"))      // revoke
	do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops"))                  // reload
	produceV2(t, g, "customer2", "Authorization", bearer(tok))                               // auth_failure (revoked)
	if err := os.WriteFile(g.Config.Auth.Permissions, []byte("x: [\n"), 0o600); err != nil { // reload_failed
		t.Fatal(err)
	}
	do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops"))

	secret, err := os.ReadFile(filepath.Join(g.Config.DataDir, "broker-superuser.secret"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr),
		kgo.SASL(scram.Auth{User: "kgate", Pass: strings.TrimSpace(string(secret))}.AsSha512Mechanism()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"_kgate_audit": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[string]bool{"auth_failure": false, "denied": false, "login": false, "login_failure": false, "revoke": false, "reload": false, "reload_failed": false}
	var all strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		done := true
		for _, seen := range want {
			done = done && seen
		}
		if done {
			break
		}
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			all.Write(r.Value)
			all.WriteByte('\n')
			var rec struct {
				Event     string `json:"event"`
				Principal string `json:"principal"`
				Time      string `json:"time"`
			}
			if err := json.Unmarshal(r.Value, &rec); err != nil || rec.Time == "" {
				t.Errorf("audit record %s: %v", r.Value, err)
			}
			want[rec.Event] = true
		})
	}
	for ev, seen := range want {
		if !seen {
			t.Errorf("no %s record in the audit topic:\n%s", ev, all.String())
		}
	}
	for _, secret := range []string{wrongPW, "password1", "password2", tok, "$2a$", "password1-typed-as-user", string(secret)} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("the audit topic holds a secret (%.12q...)", secret)
		}
	}
	if !strings.Contains(all.String(), `"principal":"(unknown)"`) {
		t.Error("an unknown user name is not masked")
	}
}

func nextUTCMidnight(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
}

// avoidUTCMidnight returns once the next 00:00 UTC is more than margin
// away, waiting for it to pass if it is closer.
func avoidUTCMidnight(t *testing.T, margin time.Duration) {
	t.Helper()
	now := time.Now()
	if d := nextUTCMidnight(now).Sub(now); d < margin {
		t.Logf("waiting %v for 00:00 UTC to pass: the test needs one UTC day", d.Round(time.Second))
		time.Sleep(d + time.Second)
	}
}
