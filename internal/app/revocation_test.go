package app_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/testutil"
)

// A change is one way a principal loses what it had: applied to a gateway
// started by tenantGateway, it returns when the change took effect.
type change struct {
	name string
	// apply makes the change; users and perms are the gateway's files.
	apply func(t *testing.T, g *testutil.Gateway, users, perms string)
	// status and code are what work in progress ends with (HTTP status
	// of a long poll; error code of a stream's last receipt).
	status, code int
}

// withoutCustomer1 returns the users file text without customer1 (the
// entry before customer2's).
func withoutCustomer1(t *testing.T, users string) string {
	t.Helper()
	b, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, "customer1:\n"), strings.Index(s, "customer2:\n")
	if i < 0 || j < i {
		t.Fatal("the users file does not hold customer1 before customer2")
	}
	return s[:i] + s[j:]
}

// revocations are the changes of the revocation suite, each for a
// principal whose work was started with a token from POST /login (the
// token's revocation only reaches work authenticated by it).
var revocations = []change{
	{"token revoked", func(t *testing.T, g *testutil.Gateway, _, _ string) {
		mustStatus(t, "revoke", do(t, "DELETE", g.URL+"/admin/tokens/customer1", "", "Authorization", basic("ops")), http.StatusNoContent)
	}, http.StatusUnauthorized, 40101},
	{"user deleted", func(t *testing.T, g *testutil.Gateway, users, _ string) {
		writeText(t, users, withoutCustomer1(t, users))
		reloadAsAdmin(t, g)
	}, http.StatusUnauthorized, 40101},
	{"password changed", func(t *testing.T, g *testutil.Gateway, users, _ string) {
		b, err := os.ReadFile(users)
		if err != nil {
			t.Fatal(err)
		}
		const old = "$2a$04$MNef.6dnJ8JWjHLsbuRFSO8ZLIYxcdv9pgKB5iSDYuCLcuv0mYTTa" // customer1's
		if !strings.Contains(string(b), old) {
			t.Fatal("customer1's password hash is not in the users file")
		}
		h, err := bcrypt.GenerateFromPassword([]byte("a new password"), 4)
		if err != nil {
			t.Fatal(err)
		}
		writeText(t, users, strings.Replace(string(b), old, string(h), 1))
		reloadAsAdmin(t, g)
	}, http.StatusUnauthorized, 40101},
	{"permission removed", func(t *testing.T, g *testutil.Gateway, _, perms string) {
		// Neither produce nor consume on customer1's resources any more.
		p := strings.Replace(tenantPerms, `  produce: ["{user}", "{user}-*"]`+"\n", "", 1)
		p = strings.Replace(p, `consume: ["{user}-*"]`, `consume: []`, 1)
		writeText(t, perms, p)
		reloadAsAdmin(t, g)
	}, http.StatusForbidden, 40301},
}

// TestRevocationSuite: for each way of losing its rights (token revoked,
// user deleted, password changed, permission removed), a v3 produce
// stream, a v2 long poll and a v2 consumer instance that are open at the
// time stop within a second: the stream with an error receipt, the long
// poll with 401 or 403, the instance (made with the same token) by
// leaving its group. The Kafka
// port's connections are TestFinding3KafkaPortConnectionsFollowChanges'.
func TestRevocationSuite(t *testing.T) {
	for _, c := range revocations {
		t.Run(c.name, func(t *testing.T) {
			g, users, perms := tenantGateway(t, nil)
			tok := bearer(login(t, g.URL, "customer1"))
			produceValues(t, g, "customer1", "customer1-q", "x")

			// A stream, idle after its first record.
			s := openProduceStream(t, g, "customer1", tok, stringRecord(10))
			if s.status != http.StatusOK {
				t.Fatalf("stream: %d %s", s.status, s.body)
			}
			if r, _ := s.next(t, 10*time.Second); r.ErrorCode != 200 {
				t.Fatalf("first receipt %+v", r)
			}
			// A long poll waiting for records (it subscribed at latest).
			mustStatus(t, "create", v2(t, g, "POST", "/consumers/customer1-poll", `{"name":"l","format":"binary","consumer.request.timeout.ms":30000}`, tok), http.StatusOK)
			poll := "/consumers/customer1-poll/instances/l"
			mustStatus(t, "subscribe", v2(t, g, "POST", poll+"/subscription", `{"topics":["customer1-q"]}`, tok), http.StatusNoContent)
			polled := make(chan response, 1)
			go func() {
				polled <- doAsync(g.URL+poll+"/records", "Accept", "application/vnd.kafka.binary.v2+json", "Authorization", tok)
			}()
			// An instance in its group, between requests.
			inst := newInstance(t, g, tok, "customer1-idle", "i", `{"topics":["customer1-q"]}`)
			for deadline := time.Now().Add(10 * time.Second); ; {
				r := do(t, "GET", g.URL+inst+"/records?timeout=500", "", "Accept", "application/vnd.kafka.binary.v2+json", "Authorization", tok)
				mustStatus(t, "read", r, http.StatusOK)
				if r.body[0] == '[' && len(r.body) > 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the idle instance read nothing within 10s")
				}
			}
			adm := adminKafka(t, g)
			if n := groupMembers(t, adm, "customer1-idle"); n != 1 {
				t.Fatalf("the idle instance's group has %d members, want 1", n)
			}
			time.Sleep(500 * time.Millisecond) // the long poll is waiting
			select {
			case r := <-polled:
				t.Fatalf("the long poll ended before the change: %d %s", r.status, r.body)
			default:
			}

			c.apply(t, g, users, perms)
			changed := time.Now()

			if r, ok := s.next(t, 5*time.Second); !ok || r.ErrorCode != c.code {
				t.Errorf("stream: receipt %+v (open %v), want error %d", r, ok, c.code)
			} else if d := r.at.Sub(changed); d > time.Second {
				t.Errorf("the stream stopped %v after the change, want within 1s", d)
			}
			select {
			case r := <-polled:
				if d := time.Since(changed); d > time.Second {
					t.Errorf("the long poll ended %v after the change, want within 1s", d)
				}
				if r.status != c.status {
					t.Errorf("long poll: %d %s, want %d", r.status, r.body, c.status)
				}
			case <-time.After(5 * time.Second):
				t.Error("the long poll outlived the change by 5s")
			}
			// The instance follows the standing of the credential that
			// created it, as the stream and the long poll do: it leaves
			// its group.
			deadline := time.Now().Add(5 * time.Second)
			n := groupMembers(t, adm, "customer1-idle")
			for n != 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				n = groupMembers(t, adm, "customer1-idle")
			}
			if n != 0 {
				t.Error("the instance is still in its group 5s after the change")
			} else if d := time.Since(changed); d > time.Second {
				t.Errorf("the instance left its group %v after the change, want within 1s", d)
			}
			// Whatever the change, the old credential opens nothing more.
			if r := v2(t, g, "GET", inst+"/subscription", "", tok); r.status != c.status {
				t.Errorf("the instance with the old credential: %d %s, want %d", r.status, r.body, c.status)
			}
		})
	}
}
