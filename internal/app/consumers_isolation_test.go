package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// Tests of tenant isolation for v2 consumer instances (issue 16): each
// finding's test runs a secure gateway on the embedded broker, through a
// real listener, with users and permissions files in t.TempDir().

const mtV2 = "application/vnd.kafka.v2+json"

// tenantPerms are permissions for the consumer tests: every user owns
// the topics "{user}" and "{user}-*" and the groups "{user}-*" (and may
// look at them); ops reloads and revokes; admin is admin; mallory may
// fetch everything (an "all" grant).
const tenantPerms = `"*":
  produce: ["{user}", "{user}-*"]
  fetch: ["{user}", "{user}-*"]
  show_topic: ["{user}", "{user}-*"]
  consume: ["{user}-*"]
  show_group: ["{user}-*"]
admin:
  admin: true
ops:
  reload: true
  revoke: true
mallory:
  produce: all
  fetch: all
  deny:
    fetch: ["logs-secret"]
`

// tenantGateway starts a secure gateway with the sample users and
// tenantPerms; it returns the files' paths, for tests that rewrite them.
func tenantGateway(t *testing.T, mutate func(*config.Config)) (g *testutil.Gateway, users, perms string) {
	t.Helper()
	users, perms = secureFiles(t)
	b, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	// No request rate limit for customer1: these tests poll.
	if err := os.WriteFile(users, []byte(strings.Replace(string(b), "requests_per_second: 100\n", "requests_per_second: 0\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	writeText(t, perms, tenantPerms)
	g = testutil.StartGateway(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Auth.FailuresPerSecond, c.Auth.FailureBurst = 1000, 1000
		if mutate != nil {
			mutate(c)
		}
	})
	return g, users, perms
}

func writeText(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reloadAs reloads the users and permissions files as ops, and returns
// when the reload took effect.
func reloadAsAdmin(t *testing.T, g *testutil.Gateway) {
	t.Helper()
	if r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops")); r.status != http.StatusOK {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
}

// v2 sends a v2 control request as user (an Authorization value when it
// contains a space).
func v2(t *testing.T, g *testutil.Gateway, method, path, body, user string) response {
	t.Helper()
	authz := user
	if !strings.Contains(user, " ") {
		authz = basic(user)
	}
	hdr := []string{"Authorization", authz}
	if body != "" {
		hdr = append(hdr, "Content-Type", mtV2)
	}
	return do(t, method, g.URL+path, body, hdr...)
}

// doAsync sends a GET from another goroutine (no t: a failure comes
// back as a 0 status with the error as the body).
func doAsync(url string, headers ...string) response {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return response{body: []byte(err.Error())}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{body: []byte(err.Error())}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func mustStatus(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.status, r.body, status)
	}
}

// produceValues produces values (as binary records) to topic as user.
func produceValues(t *testing.T, g *testutil.Gateway, user, topic string, values ...string) {
	t.Helper()
	var recs []string
	for _, v := range values {
		recs = append(recs, fmt.Sprintf(`{"value":%q}`, base64.StdEncoding.EncodeToString([]byte(v))))
	}
	r := do(t, "POST", g.URL+"/topics/"+topic, `{"records":[`+strings.Join(recs, ",")+`]}`,
		"Content-Type", "application/vnd.kafka.binary.v2+json", "Authorization", basic(user))
	mustStatus(t, "produce to "+topic+" as "+user, r, http.StatusOK)
}

// consumed is a record a v2 read returned.
type consumed struct {
	Topic  string `json:"topic"`
	Offset int64  `json:"offset"`
	Value  string `json:"value"` // base64
}

func (c consumed) text() string {
	b, _ := base64.StdEncoding.DecodeString(c.Value)
	return string(b)
}

// newInstance creates a binary instance reading from the earliest offset,
// waiting up to 10s per read, and subscribes it (body: the subscription).
func newInstance(t *testing.T, g *testutil.Gateway, user, group, name, subscription string) string {
	t.Helper()
	mustStatus(t, "create "+group+"/"+name, v2(t, g, "POST", "/consumers/"+group,
		`{"name":"`+name+`","format":"binary","auto.offset.reset":"earliest","auto.commit.enable":"false","consumer.request.timeout.ms":10000}`, user), http.StatusOK)
	inst := "/consumers/" + group + "/instances/" + name
	if subscription != "" {
		mustStatus(t, "subscribe "+inst, v2(t, g, "POST", inst+"/subscription", subscription, user), http.StatusNoContent)
	}
	return inst
}

// readFor reads inst as user for d (reads of up to 500ms each) and
// returns every record; until, if set, ends the reading early.
func readFor(t *testing.T, g *testutil.Gateway, user, inst string, d time.Duration, until func([]consumed) bool) []consumed {
	t.Helper()
	var out []consumed
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		r := do(t, "GET", g.URL+inst+"/records?timeout=500", "", "Accept", "application/vnd.kafka.binary.v2+json", "Authorization", basic(user))
		mustStatus(t, "read "+inst, r, http.StatusOK)
		var recs []consumed
		if err := json.Unmarshal(r.body, &recs); err != nil {
			t.Fatalf("records %s: %v", r.body, err)
		}
		out = append(out, recs...)
		if until != nil && until(out) {
			break
		}
	}
	return out
}

func hasValue(recs []consumed, topic, value string) bool {
	for _, r := range recs {
		if r.Topic == topic && r.text() == value {
			return true
		}
	}
	return false
}

// adminKafka is a Kafka client of the gateway's broker as the admin user
// (SCRAM), for looking at groups and committing behind the gateway's back.
func adminKafka(t *testing.T, g *testutil.Gateway) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr), kgo.SASL(scram.Auth{User: "admin", Pass: passwords["admin"]}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// groupMembers returns how many members group has.
func groupMembers(t *testing.T, adm *kadm.Client, group string) int {
	t.Helper()
	dgs, err := adm.DescribeGroups(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	dg, ok := dgs[group]
	if !ok || errors.Is(dg.Err, kerr.GroupIDNotFound) {
		return 0
	}
	return len(dg.Members)
}

// TestFinding1PatternNeverMatchesInternalTopics: a principal that may
// fetch every topic subscribes with "_.*" and ".*": neither ever returns
// a record of kgate's internal topics (the audit trail, the tokens) nor
// of a topic it is denied, and a topic made later that it may fetch is
// picked up. An admin's pattern still reaches the internal topics (which
// shows they hold records to leak).
func TestFinding1PatternNeverMatchesInternalTopics(t *testing.T) {
	g, _, _ := tenantGateway(t, nil)
	login(t, g.URL, "customer1") // a token record
	if r := produceV2(t, g, "customer2", "Authorization", seedAuth); r.status != http.StatusForbidden {
		t.Fatalf("customer1 -> customer2: %d", r.status) // an audit record
	}
	produceValues(t, g, "mallory", "mallory-seen", "seen")
	produceValues(t, g, "admin", "logs-secret", "secret")

	adminInst := newInstance(t, g, "admin", "admin-g", "a", `{"topic_pattern":"_kgate_(audit|tokens)"}`)
	got := readFor(t, g, "admin", adminInst, 15*time.Second, func(rs []consumed) bool {
		audit, tokens := false, false
		for _, r := range rs {
			audit, tokens = audit || r.Topic == "_kgate_audit", tokens || r.Topic == "_kgate_tokens"
		}
		return audit && tokens
	})
	if !hasTopic(got, "_kgate_audit") || !hasTopic(got, "_kgate_tokens") {
		t.Fatalf("admin's pattern read %d records, not of both internal topics", len(got))
	}

	under := newInstance(t, g, "mallory", "mallory-g1", "u", `{"topic_pattern":"_.*"}`)
	all := newInstance(t, g, "mallory", "mallory-g2", "a", `{"topic_pattern":".*"}`)
	r := v2(t, g, "GET", under+"/subscription", "", "mallory")
	if mustStatus(t, "subscription", r, http.StatusOK); compact(r.body) != `{"topics":[]}` {
		t.Errorf(`"_.*" matches %s, want nothing`, r.body)
	}
	allGot := readFor(t, g, "mallory", all, 10*time.Second, func(rs []consumed) bool { return hasValue(rs, "mallory-seen", "seen") })
	if !hasValue(allGot, "mallory-seen", "seen") {
		t.Fatalf(`".*" did not read mallory-seen: %v`, allGot)
	}
	r = v2(t, g, "GET", all+"/subscription", "", "mallory")
	var sub struct{ Topics []string }
	_ = json.Unmarshal(r.body, &sub)
	for _, tp := range sub.Topics {
		if strings.HasPrefix(tp, "_") || tp == "logs-secret" {
			t.Errorf(`".*" matches %q: %s`, tp, r.body)
		}
	}
	// A topic made later is picked up; still nothing internal or denied.
	produceValues(t, g, "mallory", "mallory-late", "late")
	allGot = append(allGot, readFor(t, g, "mallory", all, 20*time.Second, func(rs []consumed) bool { return hasValue(rs, "mallory-late", "late") })...)
	if !hasValue(allGot, "mallory-late", "late") {
		t.Errorf(`".*" did not pick up mallory-late`)
	}
	underGot := readFor(t, g, "mallory", under, 2*time.Second, nil)
	for _, rec := range append(allGot, underGot...) {
		if strings.HasPrefix(rec.Topic, "_") || rec.Topic == "logs-secret" {
			t.Fatalf("mallory's pattern returned a record of %s@%d", rec.Topic, rec.Offset)
		}
	}
}

func hasTopic(recs []consumed, topic string) bool {
	for _, r := range recs {
		if r.Topic == topic {
			return true
		}
	}
	return false
}

// TestFinding3FetchRemovedStopsRecords: once a reload takes fetch on a
// topic away, an existing instance returns no more of its records (and
// keeps returning the others'); when fetch comes back, the records held
// back arrive: nothing was skipped.
func TestFinding3FetchRemovedStopsRecords(t *testing.T) {
	g, _, perms := tenantGateway(t, nil)
	produceValues(t, g, "customer1", "customer1-a", "a1")
	produceValues(t, g, "customer1", "customer1-b", "b1")
	inst := newInstance(t, g, "customer1", "customer1-g", "i", `{"topics":["customer1-a","customer1-b"]}`)
	got := readFor(t, g, "customer1", inst, 15*time.Second, func(rs []consumed) bool {
		return hasValue(rs, "customer1-a", "a1") && hasValue(rs, "customer1-b", "b1")
	})
	if !hasValue(got, "customer1-b", "b1") || !hasValue(got, "customer1-a", "a1") {
		t.Fatalf("before the reload: %v", got)
	}
	writeText(t, perms, strings.Replace(tenantPerms, `fetch: ["{user}", "{user}-*"]`, `fetch: ["{user}", "{user}-a"]`, 1))
	reloadAsAdmin(t, g)
	produceValues(t, g, "customer1", "customer1-b", "b2")
	produceValues(t, g, "customer1", "customer1-a", "a2")
	got = readFor(t, g, "customer1", inst, 4*time.Second, nil)
	if hasTopic(got, "customer1-b") {
		t.Fatalf("after fetch on customer1-b was removed, the instance returned %v", got)
	}
	if !hasValue(got, "customer1-a", "a2") {
		t.Fatalf("after the reload, customer1-a's new record did not arrive: %v", got)
	}
	writeText(t, perms, tenantPerms)
	reloadAsAdmin(t, g)
	got = readFor(t, g, "customer1", inst, 10*time.Second, func(rs []consumed) bool { return hasValue(rs, "customer1-b", "b2") })
	if !hasValue(got, "customer1-b", "b2") {
		t.Fatalf("fetch restored: the held-back record did not arrive: %v", got)
	}
}

// TestFinding3OwnerGoneClosesInstance: an instance whose owner may no
// longer consume its group, or was deleted, is closed (it leaves its
// group), and later requests find no instance.
func TestFinding3OwnerGoneClosesInstance(t *testing.T) {
	g, users, perms := tenantGateway(t, nil)
	adm := adminKafka(t, g)
	produceValues(t, g, "customer1", "customer1-a", "a")
	produceValues(t, g, "customer2", "customer2-a", "a")
	i1 := newInstance(t, g, "customer1", "customer1-g", "i", `{"topics":["customer1-a"]}`)
	i2 := newInstance(t, g, "customer2", "customer2-g", "i", `{"topics":["customer2-a"]}`)
	readFor(t, g, "customer1", i1, 10*time.Second, func(rs []consumed) bool { return len(rs) > 0 })
	readFor(t, g, "customer2", i2, 10*time.Second, func(rs []consumed) bool { return len(rs) > 0 })
	if groupMembers(t, adm, "customer1-g") != 1 || groupMembers(t, adm, "customer2-g") != 1 {
		t.Fatal("the instances did not join their groups")
	}

	// consume taken away from every user; customer2 deleted.
	origUsers, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	writeText(t, perms, strings.Replace(tenantPerms, `consume: ["{user}-*"]`, `consume: []`, 1))
	i := strings.Index(string(origUsers), "customer2:\n")
	j := strings.Index(string(origUsers), "admin:\n")
	writeText(t, users, string(origUsers[:i])+string(origUsers[j:]))
	reloadAsAdmin(t, g)
	eventually(t, "the instances leave their groups", func() bool {
		return groupMembers(t, adm, "customer1-g") == 0 && groupMembers(t, adm, "customer2-g") == 0
	})
	mustStatus(t, "customer1 at the door", v2(t, g, "GET", i1+"/subscription", "", "customer1"), http.StatusForbidden)
	mustStatus(t, "customer2 at the door", v2(t, g, "GET", i2+"/subscription", "", "customer2"), http.StatusUnauthorized)

	// Rights back: the instances are gone for good.
	writeText(t, perms, tenantPerms)
	writeText(t, users, string(origUsers))
	reloadAsAdmin(t, g)
	for user, inst := range map[string]string{"customer1": i1, "customer2": i2} {
		r := v2(t, g, "GET", inst+"/subscription", "", user)
		if r.status != http.StatusNotFound || r.errorCode() != 40403 {
			t.Errorf("%s's instance after its rights came back: %d %s, want 404/40403", user, r.status, r.body)
		}
	}
}

// TestFinding3LongPollEndsOnRevocation: a long poll in progress ends
// within a second of a reload that takes its rights away (403), and of
// the revocation of the token it was made with (401).
func TestFinding3LongPollEndsOnRevocation(t *testing.T) {
	g, _, perms := tenantGateway(t, nil)
	produceValues(t, g, "customer1", "customer1-q", "x")
	tok := login(t, g.URL, "customer1")
	bearer := "Bearer " + tok
	for _, tc := range []struct {
		name, authz string
		revoke      func()
		status      int
	}{
		{"reload", basic("customer1"), func() {
			writeText(t, perms, strings.Replace(tenantPerms, `consume: ["{user}-*"]`, `consume: []`, 1))
			reloadAsAdmin(t, g)
		}, http.StatusForbidden},
		{"token", bearer, func() {
			mustStatus(t, "revoke", do(t, "DELETE", g.URL+"/admin/tokens/customer1", "", "Authorization", basic("ops")), http.StatusNoContent)
		}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeText(t, perms, tenantPerms)
			reloadAsAdmin(t, g)
			group := "customer1-" + tc.name
			mustStatus(t, "create", v2(t, g, "POST", "/consumers/"+group, `{"name":"l","format":"binary","consumer.request.timeout.ms":30000}`, tc.authz), http.StatusOK)
			inst := "/consumers/" + group + "/instances/l"
			mustStatus(t, "subscribe", v2(t, g, "POST", inst+"/subscription", `{"topics":["customer1-q"]}`, tc.authz), http.StatusNoContent)
			done := make(chan response, 1)
			go func() {
				done <- doAsync(g.URL+inst+"/records", "Accept", "application/vnd.kafka.binary.v2+json", "Authorization", tc.authz)
			}()
			time.Sleep(time.Second) // the poll is waiting (latest: no records come)
			select {
			case r := <-done:
				t.Fatalf("the long poll ended before the revocation: %d %s", r.status, r.body)
			default:
			}
			tc.revoke()
			revoked := time.Now()
			select {
			case r := <-done:
				if d := time.Since(revoked); d > time.Second {
					t.Errorf("the long poll ended %v after the revocation, want within 1s", d)
				}
				if r.status != tc.status {
					t.Errorf("the long poll answered %d %s, want %d", r.status, r.body, tc.status)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the long poll outlived the revocation by 5s")
			}
		})
	}
}

// TestFinding5PerTenantCaps: one tenant cannot take the node's consumer
// instances or long polls: over its own cap it gets 429 with
// Retry-After, and the other tenants are unaffected.
func TestFinding5PerTenantCaps(t *testing.T) {
	g, _, _ := tenantGateway(t, func(c *config.Config) {
		c.Consumers.MaxInstances = 10
		c.Consumers.MaxInstancesPerPrincipal = 3
		c.Consumers.MaxLongPollsPerPrincipal = 2
	})
	produceValues(t, g, "customer1", "customer1-q", "x")
	var insts []string
	for i := range 3 {
		insts = append(insts, newInstance(t, g, "customer1", "customer1-g", fmt.Sprint("i", i), `{"topics":["customer1-q"]}`))
	}
	r := v2(t, g, "POST", "/consumers/customer1-g", `{"name":"i3"}`, "customer1")
	if r.status != http.StatusTooManyRequests || r.errorCode() != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("customer1's fourth instance: %d %s (Retry-After %q), want 429 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	other := newInstance(t, g, "customer2", "customer2-g", "o", `{"topics":["customer2"]}`)
	// Deleting one makes room again.
	mustStatus(t, "delete", v2(t, g, "DELETE", insts[2], "", "customer1"), http.StatusNoContent)
	insts[2] = newInstance(t, g, "customer1", "customer1-g", "i2b", `{"topics":["customer1-q"]}`)

	// Two long polls at once; the third is refused at once, customer2's
	// is not.
	readFor(t, g, "customer1", insts[0], 10*time.Second, func(rs []consumed) bool { return len(rs) > 0 }) // drain
	readFor(t, g, "customer1", insts[1], 10*time.Second, func(rs []consumed) bool { return len(rs) > 0 })
	var wg sync.WaitGroup
	for _, inst := range insts[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doAsync(g.URL+inst+"/records?timeout=4000", "Accept", "application/vnd.kafka.binary.v2+json", "Authorization", basic("customer1"))
		}()
	}
	defer wg.Wait()
	time.Sleep(time.Second)
	start := time.Now()
	r = do(t, "GET", g.URL+insts[2]+"/records?timeout=4000", "", "Accept", "application/vnd.kafka.binary.v2+json", "Authorization", basic("customer1"))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || time.Since(start) > 2*time.Second {
		t.Errorf("customer1's third long poll: %d %s after %v, want 429 with Retry-After at once", r.status, r.body, time.Since(start))
	}
	r = do(t, "GET", g.URL+other+"/records?timeout=200", "", "Accept", "application/vnd.kafka.binary.v2+json", "Authorization", basic("customer2"))
	mustStatus(t, "customer2's long poll", r, http.StatusOK)
}

// TestFinding7OffsetsCheckTopics: commits and committed-offset reads
// check fetch on every topic they name, answering a forbidden topic the
// same whether it exists or not (and an internal one alike); the group's
// offsets on topics the caller may not fetch are not shown, neither by
// v2 nor by v3's lags nor by KastleX's group description.
func TestFinding7OffsetsCheckTopics(t *testing.T) {
	g, _, _ := tenantGateway(t, nil)
	adm := adminKafka(t, g)
	produceValues(t, g, "customer1", "customer1", "mine")
	produceValues(t, g, "customer2", "customer2", "theirs")
	// Offsets on customer2 in customer1's group, made behind the
	// gateway's back (as an admin on the Kafka port could): never shown
	// to customer1.
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "customer2", Partition: 0, At: 1, LeaderEpoch: -1})
	if cr, err := adm.CommitOffsets(context.Background(), "customer1-g", os); err != nil || cr.Error() != nil {
		t.Fatalf("committing on customer2 directly: %v %v", err, cr.Error())
	}
	inst := newInstance(t, g, "customer1", "customer1-g", "i", `{"topics":["customer1"]}`)
	readFor(t, g, "customer1", inst, 10*time.Second, func(rs []consumed) bool { return len(rs) > 0 })

	commit := func(topic string) string { return `{"offsets":[{"topic":"` + topic + `","partition":0,"offset":5}]}` }
	shape := func(r response, topic string) string {
		return fmt.Sprintf("%d %s", r.status, strings.ReplaceAll(string(r.body), topic, "T"))
	}
	var want string
	for _, topic := range []string{"customer2", "no-such-topic", "_kgate_tokens"} {
		for _, req := range []struct{ method, body string }{
			{"POST", commit(topic)},
			{"GET", `{"partitions":[{"topic":"` + topic + `","partition":0}]}`},
		} {
			r := v2(t, g, req.method, inst+"/offsets", req.body, "customer1")
			if r.status != http.StatusForbidden || r.errorCode() != 40301 {
				t.Errorf("%s offsets naming %s: %d %s, want 403/40301", req.method, topic, r.status, r.body)
			}
			if req.method == "POST" {
				if want == "" {
					want = shape(r, topic)
				} else if got := shape(r, topic); got != want {
					t.Errorf("committing %s answers %s, committing customer2 %s: a tenant tells them apart", topic, got, want)
				}
			}
		}
	}
	mustStatus(t, "commit customer1", v2(t, g, "POST", inst+"/offsets", commit("customer1"), "customer1"), http.StatusOK)
	resp, err := adm.FetchOffsets(context.Background(), "customer1-g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := resp.Lookup("customer2", 0); !ok || o.At != 1 {
		t.Errorf("customer1-g's commit on customer2 moved: %+v", o)
	}
	for _, topic := range []string{"no-such-topic", "_kgate_tokens"} {
		if _, ok := resp.Lookup(topic, 0); ok {
			t.Errorf("customer1-g holds a commit on %s", topic)
		}
	}
	r := v2(t, g, "GET", inst+"/offsets", "", "customer1")
	if mustStatus(t, "GET offsets", r, http.StatusOK); strings.Contains(string(r.body), "customer2") || !strings.Contains(string(r.body), `"customer1"`) {
		t.Errorf("GET offsets without a body: %s, want customer1's only", r.body)
	}
	cr := do(t, "GET", g.URL+"/v3/clusters", "", "Authorization", basic("admin"))
	var clusters struct {
		Data []struct {
			ClusterID string `json:"cluster_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(cr.body, &clusters); err != nil || len(clusters.Data) != 1 {
		t.Fatalf("clusters: %d %s", cr.status, cr.body)
	}
	v3g := "/v3/clusters/" + clusters.Data[0].ClusterID + "/consumer-groups/customer1-g"
	for _, path := range []string{v3g + "/lags", v3g + "/lag-summary", "/api/v1/consumers/customer1-g", "/api/v2/consumers/customer1-g"} {
		r := do(t, "GET", g.URL+path, "", "Authorization", basic("customer1"))
		if mustStatus(t, path, r, http.StatusOK); strings.Contains(string(r.body), "customer2") || !strings.Contains(string(r.body), "customer1") {
			t.Errorf("%s as customer1 shows another tenant's topic, or not its own: %s", path, r.body)
		}
	}
	// The admin sees both.
	if r := do(t, "GET", g.URL+v3g+"/lags", "", "Authorization", basic("admin")); !strings.Contains(string(r.body), "customer2") {
		t.Errorf("the admin's lags lack customer2: %s", r.body)
	}
}

// TestFinding14LongPollWithinWriteTimeout: an instance may not ask for a
// wait the server's write timeout cannot hold, and a read ends in time
// to be answered within it.
func TestFinding14LongPollWithinWriteTimeout(t *testing.T) {
	g, _, _ := tenantGateway(t, func(c *config.Config) { c.HTTP.WriteTimeout = config.Duration(3 * time.Second) })
	r := v2(t, g, "POST", "/consumers/customer1-g", `{"name":"long","consumer.request.timeout.ms":10000}`, "customer1")
	if r.status != http.StatusUnprocessableEntity || r.errorCode() != 40001 || !strings.Contains(string(r.body), "2000") {
		t.Fatalf("consumer.request.timeout.ms beyond the server's bound: %d %s, want 422/40001 naming 2000", r.status, r.body)
	}
	produceValues(t, g, "customer1", "customer1-q", "x")
	mustStatus(t, "create", v2(t, g, "POST", "/consumers/customer1-g", `{"name":"l","format":"binary","consumer.request.timeout.ms":2000}`, "customer1"), http.StatusOK)
	mustStatus(t, "subscribe", v2(t, g, "POST", "/consumers/customer1-g/instances/l/subscription", `{"topics":["customer1-q"]}`, "customer1"), http.StatusNoContent)
	start := time.Now()
	r = do(t, "GET", g.URL+"/consumers/customer1-g/instances/l/records", "", "Accept", "application/vnd.kafka.binary.v2+json", "Authorization", basic("customer1"))
	if r.status != http.StatusOK || time.Since(start) > 3*time.Second {
		t.Fatalf("a read at the longest wait: %d %s after %v, want an answer within the 3s write timeout", r.status, r.body, time.Since(start))
	}
	// The bound itself must leave the margin.
	cfg := g.Config
	cfg.Consumers.MaxRequestTimeout = config.Duration(3 * time.Second)
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "consumers.max_request_timeout") {
		t.Errorf("max_request_timeout = write_timeout validates: %v", err)
	}
}

// TestFinding2ConsumerReadsChargedAsReturned: the bytes of records a v2
// read returns are charged to the daily byte quota as they are returned:
// a read returns what the quota still pays for (then 429), exactly that
// is counted, and exactly that is committed.
func TestFinding2ConsumerReadsChargedAsReturned(t *testing.T) {
	g := limitedGateway(t, "    daily_bytes: 2000\n", "")
	value := strings.Repeat("v", 300)
	var values []string
	for range 10 {
		values = append(values, value)
	}
	produceValues(t, g, "admin", "customer1", values...)
	inst := newInstance(t, g, "customer1", "customer1-g", "q", `{"topics":["customer1"]}`)
	used := func() int64 {
		r := do(t, "GET", g.URL+"/admin/usage/customer1", "", "Authorization", basic("admin"))
		var u struct {
			Bytes int64 `json:"bytes"`
		}
		if err := json.Unmarshal(r.body, &u); err != nil {
			t.Fatalf("usage: %d %s", r.status, r.body)
		}
		return u.Bytes
	}
	before := used()
	var got []consumed
	empty := 0
	var refused response
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		r := do(t, "GET", g.URL+inst+"/records?timeout=1000", "", "Accept", "application/vnd.kafka.binary.v2+json", "Authorization", seedAuth)
		if r.status == http.StatusTooManyRequests {
			refused = r
			break
		}
		mustStatus(t, "read", r, http.StatusOK)
		var recs []consumed
		if err := json.Unmarshal(r.body, &recs); err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			empty++ // its "[]" is what the request moved
		}
		got = append(got, recs...)
	}
	if refused.status != http.StatusTooManyRequests || refused.header.Get("Retry-After") == "" {
		t.Fatalf("reads never ran into the daily quota; they returned %d records", len(got))
	}
	paid := int64(len(got) * len(value))
	if len(got) == 0 || len(got) >= 10 || before+paid > 2000 || before+paid+int64(len(value)) <= 2000 {
		t.Fatalf("with %d bytes used of 2000, reads returned %d records of %d bytes, want as many as the quota pays for", before, len(got), len(value))
	}
	// The refusal moved nothing: its handler metered (and refused) the
	// record, so its error body is not charged.
	if after := used(); after != before+paid+int64(2*empty) {
		t.Errorf("usage went from %d to %d over reads that returned %d bytes (and %d empty reads)", before, after, paid, empty)
	}
	mustStatus(t, "commit", v2(t, g, "POST", inst+"/offsets", "", "customer1"), http.StatusOK)
	resp, err := adminKafka(t, g).FetchOffsets(context.Background(), "customer1-g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := resp.Lookup("customer1", 0); !ok || o.At != int64(len(got)) {
		t.Errorf("committed %v, want %d: exactly the records returned", o.At, len(got))
	}
}
