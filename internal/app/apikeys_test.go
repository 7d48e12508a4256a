package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/cli"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// createKey makes an API key through g's admin route as admin.
func createKey(t *testing.T, g *testutil.Gateway, body string) (key, id string) {
	t.Helper()
	r := do(t, "POST", g.URL+"/admin/apikeys", body, "Content-Type", "application/json", "Authorization", basic("admin"))
	if r.status != http.StatusCreated {
		t.Fatalf("creating an API key (%s): %d %s", body, r.status, r.body)
	}
	var out struct {
		Key    string `json:"key"`
		APIKey struct {
			ID string `json:"id"`
		} `json:"api_key"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || !strings.HasPrefix(out.Key, "kg_") || out.APIKey.ID == "" {
		t.Fatalf("created key: %s %v", r.body, err)
	}
	return out.Key, out.APIKey.ID
}

// keySecret is an API key's secret part: what follows "kg_", the id and
// "_" (the secret's base64url may hold '_' itself, so it is not what
// follows the last '_', which can be a few characters found anywhere).
func keySecret(t *testing.T, key, id string) string {
	t.Helper()
	prefix := "kg_" + id + "_"
	if !strings.HasPrefix(key, prefix) || len(key)-len(prefix) < 32 {
		t.Fatalf("API key %q does not read as kg_<id>_<secret> with id %q", key, id)
	}
	return key[len(prefix):]
}

// TestAPIKeys: an admin makes a key for a user; the key acts as the user
// with X-API-Key and as the password of Basic (what fluent-bit and
// syslog-ng send), on another replica at once; it is never listed, never
// accepted in a URL, and stops on revocation (every replica) and expiry.
func TestAPIKeys(t *testing.T) {
	a, b, _ := twoGateways(t)
	key, id := createKey(t, a, `{"user":"customer1","description":"fleet gateway 7","expires":"90d"}`)

	if r := produceV2(t, a, "customer1", "X-API-Key", key); r.status != 200 {
		t.Fatalf("X-API-Key: %d %s", r.status, r.body)
	}
	if r := produceV2(t, b, "customer1", "Authorization", "Basic "+b64("customer1:"+key)); r.status != 200 {
		t.Fatalf("Basic with the key as password, on the other replica: %d %s", r.status, r.body)
	}
	if r := produceV2(t, a, "customer2", "X-API-Key", key); r.status != 403 {
		t.Errorf("the key's user's rights: produce to customer2 %d, want 403", r.status)
	}
	if r := produceV2(t, a, "customer1", "Authorization", "Basic "+b64("customer2:"+key)); r.status != 401 {
		t.Errorf("Basic naming another user: %d, want 401", r.status)
	}
	wrong := key[:len(key)-4] + "AAAA"
	if wrong == key {
		wrong = key[:len(key)-4] + "BBBB"
	}
	if r := produceV2(t, a, "customer1", "X-API-Key", wrong); r.status != 401 {
		t.Errorf("a wrong secret: %d, want 401", r.status)
	}
	if r := do(t, "POST", a.URL+"/topics/customer1?api_key="+key, seedBody, "Content-Type", mtJSONv2); r.status != 401 ||
		!strings.Contains(string(r.body), "Authentication failed") {
		t.Errorf("a key in the query string: %d %s, want 401", r.status, r.body)
	}
	if r := produceV2(t, a, "customer1", "X-API-Key", key, "Authorization", basic("customer1")); r.status != 401 {
		t.Errorf("two credentials: %d, want 401", r.status)
	}
	// Only admins make keys.
	if r := do(t, "POST", a.URL+"/admin/apikeys", `{"user":"customer1"}`, "Content-Type", "application/json", "Authorization", basic("customer1")); r.status != 403 {
		t.Errorf("customer1 making a key: %d, want 403", r.status)
	}
	list := do(t, "GET", b.URL+"/admin/apikeys?user=customer1", "", "Authorization", basic("admin"))
	if list.status != 200 || !strings.Contains(string(list.body), id) || !strings.Contains(string(list.body), "fleet gateway 7") {
		t.Fatalf("list: %d %s", list.status, list.body)
	}
	secret := keySecret(t, key, id)
	if strings.Contains(string(list.body), secret) {
		t.Error("the list holds the key's secret")
	}

	// Revoked on A: B refuses it within a second.
	if r := do(t, "DELETE", a.URL+"/admin/apikeys/"+id, "", "Authorization", basic("ops")); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	took := eventually(t, "B refuses the revoked key", func() bool {
		return produceV2(t, b, "customer1", "X-API-Key", key).status == 401
	})
	t.Logf("an API key revoked through A was refused by B after %v", took)
	if took > time.Second {
		t.Errorf("B took %s to refuse the revoked key", took)
	}
	if r := do(t, "DELETE", a.URL+"/admin/apikeys/"+id, "", "Authorization", basic("ops")); r.status != 404 {
		t.Errorf("revoking twice: %d, want 404", r.status)
	}

	// A key that expires.
	// (A few seconds of life: on a loaded machine the first use may come
	// a while after the creation; only a refusal within its life fails.)
	made := time.Now()
	short, _ := createKey(t, a, `{"user":"customer1","expires":"3s"}`)
	if r := produceV2(t, a, "customer1", "X-API-Key", short); r.status != 200 && time.Since(made) < 3*time.Second {
		t.Fatalf("a fresh short key: %d %s", r.status, r.body)
	}
	eventually(t, "the short key expires", func() bool { return produceV2(t, a, "customer1", "X-API-Key", short).status == 401 })

	// Every refusal is audited, with the key's id and never the key.
	// (Read until all three reasons are there: the audit topic is
	// written asynchronously, and the expiry is the last refusal.)
	wantReasons := []string{"unknown API key", "API key revoked", "API key expired"}
	reasons := map[string]bool{}
	recs := auditRecords(t, a, 10*time.Second, -1, func(m map[string]any) bool {
		if m["event"] != "auth_failure" || m["auth_method"] != "api_key" {
			return false
		}
		reason, _ := m["reason"].(string)
		reasons[reason] = true
		return true
	}, func() bool {
		for _, want := range wantReasons {
			if !reasons[want] {
				return false
			}
		}
		return true
	})
	for _, rec := range recs {
		blob, _ := json.Marshal(rec)
		if strings.Contains(string(blob), secret) {
			t.Errorf("audit record holds a secret: %s", blob)
		}
	}
	for _, want := range wantReasons {
		if !reasons[want] {
			t.Errorf("no audit record with reason %q (have %v)", want, reasons)
		}
	}
	created := auditRecords(t, a, 10*time.Second, 2, func(m map[string]any) bool { return m["event"] == "apikey_create" })
	if len(created) < 2 || created[0]["target"] != "customer1" || created[0]["principal"] != "admin" {
		t.Errorf("key creations audited: %v", created)
	}
}

// TestAPIKeyCommand: kgate apikey create, list and revoke against a
// running gateway, as an admin whose password comes from stdin.
func TestAPIKeyCommand(t *testing.T) {
	g := secureGateway(t, nil)
	run := func(stdin string, args ...string) (code int, stdout, stderr string) {
		var out, errb strings.Builder
		env := cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
			Getenv: func(k string) string { return map[string]string{"KGATE_URL": g.URL}[k] }}
		code = cli.Run(t.Context(), append([]string{"apikey"}, args...), env)
		return code, out.String(), errb.String()
	}
	code, out, errs := run(passwords["admin"]+"\n", "create", "--as", "admin", "--user", "customer1", "--expires", "30d", "--description", "syslog-ng on host 3")
	key := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(key, "kg_") || !strings.Contains(errs, "shown once") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	if r := produceV2(t, g, "customer1", "Authorization", "Basic "+b64("customer1:"+key)); r.status != 200 {
		t.Fatalf("the new key: %d %s", r.status, r.body)
	}
	code, out, errs = run(passwords["admin"]+"\n", "list", "--as", "admin", "--user", "customer1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[1], "live") || !strings.Contains(lines[1], "syslog-ng on host 3") || strings.Contains(out, key[20:]) {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	id := strings.Fields(lines[1])[0]
	if code, _, errs = run(passwords["admin"]+"\n", "revoke", "--as", "admin", key); code != 2 || !strings.Contains(errs, "not the key") {
		t.Errorf("revoke given the key itself: %d %q", code, errs)
	}
	if code, _, errs = run(passwords["admin"]+"\n", "revoke", "--as", "admin", id); code != 0 {
		t.Fatalf("revoke: %d %q", code, errs)
	}
	if r := produceV2(t, g, "customer1", "X-API-Key", key); r.status != 401 {
		t.Errorf("the revoked key: %d, want 401", r.status)
	}
	// A wrong admin password fails with the gateway's message.
	if code, _, errs = run("wrong\n", "list", "--as", "admin"); code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("wrong password: %d %q", code, errs)
	}
	// Without credentials the command says how to give them.
	if code, _, errs = run("", "list"); code != 2 || !strings.Contains(errs, "--as") {
		t.Errorf("no credentials: %d %q", code, errs)
	}
}

// TestUsagePlans: usage plans from an API key and from the users file:
// a route class's own rate, a monthly and a daily quota answered 429
// with Retry-After to the period's end and RateLimit-*, the key's usage
// at its admin route and the plan's in metrics; the key's user without
// the key keeps its own limits.
func TestUsagePlans(t *testing.T) {
	start := time.Now().UTC()
	g := secureGateway(t, func(c *config.Config) {
		c.Auth.Plans = map[string]config.Plan{
			"bronze": {RequestsPerSecond: 1000, MonthlyRequests: 5,
				Routes: map[string]config.PlanRates{"produce": {RequestsPerSecond: 0.01, RequestBurst: 2}}},
			"silver": {DailyRequests: 3, WeeklyRequests: 1000},
		}
		b, err := os.ReadFile(c.Auth.Users)
		if err != nil {
			t.Fatal(err)
		}
		writeText(t, c.Auth.Users, strings.Replace(string(b), "customer2:\n", "customer2:\n  plan: silver\n", 1))
	})
	seedTopic(t, g, "customer1")
	key, id := createKey(t, g, `{"user":"customer1","plan":"bronze"}`)

	// The produce class: 2 at once, then its rate (one per 100 s).
	for i := range 2 {
		if r := produceV2(t, g, "customer1", "X-API-Key", key); r.status != 200 {
			t.Fatalf("produce %d with the key: %d %s", i, r.status, r.body)
		}
	}
	r := produceV2(t, g, "customer1", "X-API-Key", key)
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Limit") != "2" {
		t.Fatalf("third produce: %d %s %v, want 429 with Retry-After and RateLimit-Limit 2", r.status, r.body, r.header)
	}
	// Other routes take the plan's own rate, and count against its
	// monthly quota of 5 (two produced, the refused one not counted).
	for i := range 3 {
		if r := do(t, "GET", g.URL+"/topics/customer1", "", "X-API-Key", key); r.status != 200 {
			t.Fatalf("GET %d with the key: %d %s", i, r.status, r.body)
		}
	}
	r = do(t, "GET", g.URL+"/topics/customer1", "", "X-API-Key", key)
	if r.status != 429 || !strings.Contains(string(r.body), "Monthly request quota of 5 exceeded") {
		t.Fatalf("sixth request: %d %s, want the monthly quota", r.status, r.body)
	}
	if now := time.Now().UTC(); now.Month() == start.Month() {
		next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
		if want := int(next.Sub(now).Seconds()); ra < want-2 || ra > want+2 {
			t.Errorf("Retry-After %d, want about %d (the month's end)", ra, want)
		}
	}
	// The key's user without the key: its own limits.
	if r := produceV2(t, g, "customer1", "Authorization", basic("customer1")); r.status != 200 {
		t.Errorf("customer1 with its password: %d %s", r.status, r.body)
	}
	// The key's usage and its plan's limits.
	u := do(t, "GET", g.URL+"/admin/apikeys/"+id+"/usage", "", "Authorization", basic("admin"))
	var ku struct {
		CountedAs string `json:"counted_as"`
		Usage     struct {
			ThisMonth struct {
				Requests int64 `json:"requests"`
			} `json:"this_month"`
			Limits struct {
				MonthlyRequests int64 `json:"monthly_requests"`
			} `json:"limits"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(u.body, &ku); err != nil || ku.CountedAs != "apikey:"+id || ku.Usage.ThisMonth.Requests != 5 || ku.Usage.Limits.MonthlyRequests != 5 {
		t.Errorf("key usage: %d %s", u.status, u.body)
	}
	// customer2's users-file plan: 3 requests a day.
	for i := range 3 {
		if r := produceV2(t, g, "customer2", "Authorization", basic("customer2")); r.status != 200 {
			t.Fatalf("customer2 request %d: %d %s", i, r.status, r.body)
		}
	}
	if r := produceV2(t, g, "customer2", "Authorization", basic("customer2")); r.status != 429 || !strings.Contains(string(r.body), "Daily request quota of 3") {
		t.Errorf("customer2's fourth request: %d %s, want the daily quota", r.status, r.body)
	}
	m := do(t, "GET", g.URL+"/metrics", "", "Authorization", basic("ops"))
	for _, want := range []string{`kgate_plan_requests_total{plan="bronze"} 5`, `kgate_plan_requests_total{plan="silver"} 3`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(string(m.body), "kgate_plan"))
		}
	}
	// A key naming an unknown plan is refused.
	if r := do(t, "POST", g.URL+"/admin/apikeys", `{"user":"customer1","plan":"gold"}`, "Content-Type", "application/json", "Authorization", basic("admin")); r.status != 422 {
		t.Errorf("a key with an unknown plan: %d %s, want 422", r.status, r.body)
	}
}
