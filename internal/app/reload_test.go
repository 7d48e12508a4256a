package app_test

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

func reloadGateway(t *testing.T) (g *testutil.Gateway, perms string) {
	t.Helper()
	users, perms := secureFiles(t)
	// No rate limit for customer1 here: these tests hammer the gateway.
	b, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte(strings.Replace(string(b), "requests_per_second: 100\n", "requests_per_second: 0\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	g = testutil.StartGateway(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Auth.FailuresPerSecond, c.Auth.FailureBurst = 1000, 1000
	})
	return g, perms
}

func TestReloadValidatesFirst(t *testing.T) {
	g, perms := reloadGateway(t)
	orig, err := os.ReadFile(perms)
	if err != nil {
		t.Fatal(err)
	}
	// customer1 may not write customer2 ...
	if r := produceV2(t, g, "customer2", "Authorization", seedAuth); r.status != http.StatusForbidden {
		t.Fatalf("before: %d", r.status)
	}
	// ... until the permissions say so and an admin reloads (POST).
	if err := os.WriteFile(perms, append(orig, []byte("customer1:\n  produce: [customer2]\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops"))
	if r.status != http.StatusOK || r.json(t)["reloaded"] != true {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	if r := produceV2(t, g, "customer2", "Authorization", seedAuth); r.status != http.StatusOK {
		t.Fatalf("after reload: %d %s", r.status, r.body)
	}
	// An invalid file: the reload fails, says why, and the policy in
	// force stays (customer1 still writes customer2).
	if err := os.WriteFile(perms, append(orig, []byte("customer1:\n  prodce: [customer2]\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	r = do(t, "GET", g.URL+"/admin/reload", "", "Authorization", basic("ops"))
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `prodce: unknown action`) ||
		!strings.Contains(string(r.body), "previous policy stays in force") {
		t.Fatalf("invalid reload: %d %s", r.status, r.body)
	}
	if r := produceV2(t, g, "customer2", "Authorization", seedAuth); r.status != http.StatusOK {
		t.Fatalf("after a failed reload: %d %s", r.status, r.body)
	}
	// KastleX's GET form answers 204.
	if err := os.WriteFile(perms, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "GET", g.URL+"/admin/reload", "", "Authorization", basic("ops")); r.status != http.StatusNoContent {
		t.Fatalf("GET reload: %d %s", r.status, r.body)
	}
	if r := produceV2(t, g, "customer2", "Authorization", seedAuth); r.status != http.StatusForbidden {
		t.Fatalf("after reverting: %d", r.status)
	}
	// Without the reload right: 403.
	if r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", seedAuth); r.status != http.StatusForbidden {
		t.Errorf("customer1 reload: %d", r.status)
	}
}

// TestReloadSIGHUP: SIGHUP re-reads the files as /admin/reload does.
func TestReloadSIGHUP(t *testing.T) {
	g, perms := reloadGateway(t)
	orig, err := os.ReadFile(perms)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(perms, append(orig, []byte("customer1:\n  produce: [customer2]\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SIGHUP reload", func() bool {
		return produceV2(t, g, "customer2", "Authorization", seedAuth).status == http.StatusOK
	})
}

// TestReloadUnderLoad: while clients keep producing, the policy is swapped
// back and forth (and an invalid file is tried): no request fails for any
// other reason than the policy in force, and no request sees half a
// policy.
func TestReloadUnderLoad(t *testing.T) {
	g, perms := reloadGateway(t)
	orig, err := os.ReadFile(perms)
	if err != nil {
		t.Fatal(err)
	}
	grant := append(append([]byte(nil), orig...), []byte("customer1:\n  produce: [customer2]\n")...)
	invalid := append(append([]byte(nil), orig...), []byte("customer1: [\n")...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var own, other, bad atomic.Int64
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
				// Always allowed: customer1 writes customer1.
				if r := produceV2(t, g, "customer1", "Authorization", seedAuth); r.status != http.StatusOK {
					bad.Add(1)
					t.Errorf("customer1 -> customer1 during reloads: %d %s", r.status, r.body)
				}
				own.Add(1)
				// Allowed or not depending on the policy, never anything else.
				switch r := produceV2(t, g, "customer2", "Authorization", seedAuth); r.status {
				case http.StatusOK, http.StatusForbidden:
					other.Add(1)
				default:
					bad.Add(1)
					t.Errorf("customer1 -> customer2 during reloads: %d %s", r.status, r.body)
				}
			}
		}()
	}
	for i := range 20 {
		content := orig
		switch i % 3 {
		case 1:
			content = grant
		case 2:
			content = invalid
		}
		if err := os.WriteFile(perms, content, 0o600); err != nil {
			t.Fatal(err)
		}
		r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops"))
		if i%3 == 2 && r.status != http.StatusUnprocessableEntity || i%3 != 2 && r.status != http.StatusOK {
			t.Errorf("reload %d: %d %s", i, r.status, r.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if own.Load() == 0 || other.Load() == 0 || bad.Load() != 0 {
		t.Errorf("requests: %d own, %d other, %d bad", own.Load(), other.Load(), bad.Load())
	}
	// The last reload (i=19: grant) is in force.
	if r := produceV2(t, g, "customer2", "Authorization", seedAuth); r.status != http.StatusOK {
		t.Errorf("final policy: %d", r.status)
	}
}

// TestReloadAcrossReplicas: three replicas on one Kafka cluster, each
// with its own copy of the users and permissions files (as each pod
// mounts its ConfigMap). A plain reload stays on the replica that got
// it. New permissions are written for all of them, then one reload is
// announced on one replica (POST /admin/reload?cluster=true): within a
// second every replica enforces them.
func TestReloadAcrossReplicas(t *testing.T) {
	sasl := config.SASL{Mechanism: "SCRAM-SHA-512", Username: "kgate", Password: superuserPW}
	var gs []*testutil.Gateway
	var permsFiles []string
	for i := range 3 {
		users, perms := secureFiles(t)
		permsFiles = append(permsFiles, perms)
		mutate := func(c *config.Config) {
			c.Auth.Users, c.Auth.Permissions = users, perms
			c.Kafka.SASL = sasl
			autoCreate := true
			c.AutoCreateTopics = &autoCreate
		}
		if i == 0 {
			gs = append(gs, testutil.StartGateway(t, mutate))
			continue
		}
		cfg := testutil.GatewayConfig(t)
		cfg.Brokers = []string{gs[0].Info.BrokerAddr}
		mutate(&cfg)
		gs = append(gs, testutil.StartGatewayConfig(t, cfg))
	}
	// Each replica knows the others before the announcement.
	for _, g := range gs {
		eventually(t, "three replicas in membership", func() bool { return len(nodeIDs(t, g)) == 3 })
	}
	// allowed reports whether customer1 may write topic on g.
	allowed := func(g *testutil.Gateway, topic string) bool {
		switch r := produceV2(t, g, topic, "Authorization", seedAuth); r.status {
		case http.StatusOK:
			return true
		case http.StatusForbidden:
			return false
		default:
			t.Fatalf("customer1 -> %s: %d %s", topic, r.status, r.body)
			return false
		}
	}
	orig, err := os.ReadFile(permsFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	grant := func(topics string) {
		t.Helper()
		for _, perms := range permsFiles {
			if err := os.WriteFile(perms, append(orig, []byte("customer1:\n  produce: ["+topics+"]\n")...), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, g := range gs {
		if allowed(g, "customer2") || allowed(g, "customer3") {
			t.Fatalf("replica %d lets customer1 write customer2 or customer3 before the change", i)
		}
	}

	// Not announced: only the replica asked reloads.
	grant("customer2")
	if r := do(t, "POST", gs[0].URL+"/admin/reload", "", "Authorization", basic("ops")); r.status != http.StatusOK || r.json(t)["announced"] != nil {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	if !allowed(gs[0], "customer2") || allowed(gs[1], "customer2") || allowed(gs[2], "customer2") {
		t.Fatal("a plain reload reached other replicas, or not the one asked")
	}
	if r := do(t, "POST", gs[0].URL+"/admin/reload?cluster=maybe", "", "Authorization", basic("ops")); r.status != http.StatusBadRequest {
		t.Errorf("cluster=maybe: %d %s", r.status, r.body)
	}

	// Announced from replica 1: every replica reads its own files again.
	grant("customer2, customer3")
	r := do(t, "POST", gs[1].URL+"/admin/reload?cluster=true", "", "Authorization", basic("ops"))
	if r.status != http.StatusOK || r.json(t)["announced"] != true {
		t.Fatalf("announced reload: %d %s", r.status, r.body)
	}
	if !allowed(gs[1], "customer3") {
		t.Error("the announcing replica did not reload")
	}
	for _, i := range []int{0, 2} {
		took := eventually(t, "the announced reload", func() bool { return allowed(gs[i], "customer3") })
		t.Logf("replica %d enforces the new permissions %v after the announcement's answer", i, took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("replica %d took %v to reload, want within a second", i, took)
		}
	}
	if !allowed(gs[2], "customer2") {
		t.Error("replica 2 did not read its whole file again")
	}
}
