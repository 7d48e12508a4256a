package app_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

const superuserPW = "test-superuser-password-0123456789abcdef"

func jti(t testing.TB, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		t.Fatalf("no jti in %s", b)
	}
	return c.ID
}

func bearer(tok string) string { return "Bearer " + tok }

// eventually polls cond every 20ms for up to 5s and returns how long it
// took to hold.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not happen within 5s", what)
	return 0
}

// twoGateways starts gateway A with the embedded broker and gateway B on
// A's broker, sharing the users, permissions and JWT key files.
func twoGateways(t *testing.T) (a, b *testutil.Gateway, startB func() *testutil.Gateway) {
	t.Helper()
	users, perms := secureFiles(t)
	sasl := config.SASL{Mechanism: "SCRAM-SHA-512", Username: "kgate", Password: superuserPW}
	a = testutil.StartGateway(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Kafka.SASL = sasl
	})
	keyFile := auth.GeneratedKeyPath(a.Config.DataDir, "ES512")
	cfgB := testutil.GatewayConfig(t)
	cfgB.Brokers = []string{a.Info.BrokerAddr}
	autoCreate := true
	cfgB.AutoCreateTopics = &autoCreate
	cfgB.Auth.Users, cfgB.Auth.Permissions = users, perms
	cfgB.Auth.JWT.KeyFile = keyFile
	cfgB.Kafka.SASL = sasl
	startB = func() *testutil.Gateway { return testutil.StartGatewayConfig(t, cfgB) }
	return a, startB(), startB
}

func TestTokensAcrossGateways(t *testing.T) {
	a, b, startB := twoGateways(t)
	ok := func(g *testutil.Gateway, tok string) bool {
		return produceV2(t, g, "customer1", "Authorization", bearer(tok)).status == http.StatusOK
	}
	refused := func(g *testutil.Gateway, tok string) bool {
		r := produceV2(t, g, "customer1", "Authorization", bearer(tok))
		if r.status == http.StatusUnauthorized && r.errorCode() != 40101 {
			t.Errorf("refusal body: %s", r.body)
		}
		return r.status == http.StatusUnauthorized
	}
	// A user may hold several live tokens; one issued by A works on B at
	// once (B catches up with the token topic on a miss).
	tok1 := login(t, a.URL, "customer1")
	tok2 := login(t, a.URL, "customer1")
	if !ok(b, tok1) || !ok(b, tok2) || !ok(a, tok1) {
		t.Fatal("fresh tokens refused")
	}
	// JSON login works too.
	r := do(t, "POST", b.URL+"/login", `{"username":"customer1","password":"password1"}`, "Content-Type", "application/json")
	if r.status != http.StatusOK {
		t.Fatalf("JSON login: %d %s", r.status, r.body)
	}
	tok3, _ := r.json(t)["token"].(string)
	if !ok(a, tok3) {
		t.Fatal("token issued by B refused by A")
	}
	list := do(t, "GET", b.URL+"/admin/tokens/customer1", "", "Authorization", basic("ops"))
	if got := strings.Count(string(list.body), `"jti"`); got != 3 {
		t.Errorf("listed %d tokens, want 3: %s", got, list.body)
	}
	if strings.Contains(string(list.body), tok1) {
		t.Error("the token list holds a token")
	}

	// Revoke one token through A: B refuses it; the others stay valid.
	if r := do(t, "DELETE", a.URL+"/admin/tokens/id/"+jti(t, tok1), "", "Authorization", basic("ops")); r.status != http.StatusNoContent {
		t.Fatalf("revoke by jti: %d %s", r.status, r.body)
	}
	took := eventually(t, "revocation reaching B", func() bool { return refused(b, tok1) })
	t.Logf("a revocation through A reached B in %v", took)
	if took > time.Second {
		t.Errorf("revocation took %v to reach the other gateway, want under a second", took)
	}
	if !ok(b, tok2) {
		t.Error("revoking one token revoked another")
	}
	if r := do(t, "DELETE", a.URL+"/admin/tokens/id/"+jti(t, tok1), "", "Authorization", basic("ops")); r.status != http.StatusNotFound {
		t.Errorf("revoking a revoked token: %d", r.status)
	}

	// Revoke all of customer1's tokens through B (KastleX's endpoint).
	if r := do(t, "DELETE", b.URL+"/admin/tokens/customer1", "", "Authorization", basic("admin")); r.status != http.StatusNoContent {
		t.Fatalf("revoke user: %d %s", r.status, r.body)
	}
	eventually(t, "revoke-all reaching A", func() bool { return refused(a, tok2) && refused(a, tok3) })
	// Logging in again gives a working token.
	tok4 := login(t, a.URL, "customer1")
	if !ok(b, tok4) {
		t.Fatal("a token issued after revoke-all was refused")
	}
	// Only the revoke right may revoke.
	if r := do(t, "DELETE", a.URL+"/admin/tokens/customer2", "", "Authorization", bearer(tok4)); r.status != http.StatusForbidden {
		t.Errorf("customer1 revoking customer2: %d", r.status)
	}

	// Revocation survives restarts: B replays the topic.
	b.Stop()
	b2 := startB()
	if !refused(b2, tok1) || !refused(b2, tok2) || !refused(b2, tok3) {
		t.Error("revoked tokens accepted after a restart")
	}
	if !ok(b2, tok4) {
		t.Error("a live token refused after a restart")
	}
}

func TestLoginFailures(t *testing.T) {
	g := secureGateway(t, nil)
	for _, tt := range []struct{ body, ct string }{
		{"username=customer1&password=wrong", "application/x-www-form-urlencoded"},
		{"username=nobody&password=password1", "application/x-www-form-urlencoded"},
		{`{"username":"customer1","password":"wrong"}`, "application/json"},
	} {
		r := do(t, "POST", g.URL+"/login", tt.body, "Content-Type", tt.ct)
		if r.status != http.StatusUnauthorized || r.errorCode() != 40101 {
			t.Errorf("login %s: %d %s", tt.body, r.status, r.body)
		}
		// The same answer whether the user exists or not.
		if !strings.Contains(string(r.body), "Invalid user name or password.") {
			t.Errorf("login %s: %s", tt.body, r.body)
		}
	}
	if r := do(t, "POST", g.URL+"/login", "password=x", "Content-Type", "application/x-www-form-urlencoded"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("login without a user name: %d", r.status)
	}
	// A token for a user later removed from the users file stops working.
	tok := login(t, g.URL, "customer2")
	if r := produceV2(t, g, "customer2", "Authorization", bearer(tok)); r.status != http.StatusOK {
		t.Fatalf("bearer: %d %s", r.status, r.body)
	}
}

func TestWrongAndUnknownUsersLookAlike(t *testing.T) {
	g := secureGateway(t, nil)
	wrong := produceV2(t, g, "customer1", "Authorization", "Basic "+b64("customer1:nope"))
	unknown := produceV2(t, g, "customer1", "Authorization", "Basic "+b64("nobody:nope"))
	if wrong.status != http.StatusUnauthorized || unknown.status != wrong.status || string(unknown.body) != string(wrong.body) {
		t.Errorf("wrong password: %d %s; unknown user: %d %s", wrong.status, wrong.body, unknown.status, unknown.body)
	}
	if strings.Join(wrong.header.Values("WWW-Authenticate"), "|") != strings.Join(unknown.header.Values("WWW-Authenticate"), "|") {
		t.Error("WWW-Authenticate differs")
	}
	malformed := produceV2(t, g, "customer1", "Authorization", "Basic %%%")
	if malformed.status != http.StatusUnauthorized {
		t.Errorf("malformed header: %d %s", malformed.status, malformed.body)
	}
}
