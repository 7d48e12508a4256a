package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/testutil"
)

// scaleOut is three kgate serve replicas on one standalone broker behind
// haproxy in round-robin, without stickiness.
type scaleOut struct {
	lb       string // http://127.0.0.1:port
	replicas []*proc
	nodes    map[string]*proc // by node id (their Kgate-Node answer header)
	secret   string
	brokers  string
	produced map[int]bool // every value acknowledged
	// args and env start replica i again (same data directory, node id
	// and address).
	args [][]string
	env  []string
	dir  string
}

const scaleTopic = "alice-events"

// carol is limited to limitedRate requests/s (burst limitedBurst) for the
// cluster; limitedTopic is hers.
const (
	limitedTopic              = "carol-events"
	limitedRate, limitedBurst = 20, 20
)

func startScaleOut(t *testing.T) *scaleOut {
	t.Helper()
	haproxy := haproxyPath(t)
	dir := t.TempDir()
	b, err := broker.Start(filepath.Join(dir, "broker"), broker.Listen("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, topic := range []string{scaleTopic, limitedTopic} {
		if _, err := kadm.NewClient(cl).CreateTopic(ctxT(t), 3, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}

	hash, err := bcrypt.GenerateFromPassword([]byte("alicepw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.yml")
	perms := filepath.Join(dir, "permissions.yml")
	secretFile := filepath.Join(dir, "node-secret")
	secret := "scale-out-test-secret-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for path, body := range map[string]string{
		users: fmt.Sprintf("alice:\n  password_hash: %q\nadmin:\n  password_hash: %q\n", hash, hash) +
			fmt.Sprintf("carol:\n  password_hash: %q\n  limits: {requests_per_second: %d, request_burst: %d}\n", hash, limitedRate, limitedBurst),
		perms:      "\"*\":\n  produce: [\"{user}-*\"]\n  fetch: [\"{user}-*\"]\n  consume: [\"{user}-*\"]\nadmin:\n  admin: true\n",
		secretFile: secret + "\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lbAddr := freePort(t)
	s := &scaleOut{lb: "http://" + lbAddr, nodes: map[string]*proc{}, secret: secret, brokers: b.Addr(), produced: map[int]bool{}, dir: dir}
	// The drain delay outlasts haproxy's health checks (inter 200ms, fall
	// 2) with margin, as docs/configuration.md recommends.
	s.env = []string{"KGATE_USERS=" + users, "KGATE_PERMISSIONS=" + perms, "KGATE_CLUSTER_SECRET_FILE=" + secretFile,
		"KGATE_CLUSTER_HEARTBEAT_INTERVAL=300ms", "KGATE_CLUSTER_NODE_TIMEOUT=2s", "KGATE_CONSUMERS_SESSION_TIMEOUT=6s",
		"KGATE_CLUSTER_DRAIN_DELAY=1s", "KGATE_CLUSTER_ANNOUNCE_RELOADS=true"}
	var wg sync.WaitGroup
	s.replicas = make([]*proc, 3)
	s.args = make([][]string, 3)
	for i := range s.replicas {
		s.args[i] = []string{"--data-dir", filepath.Join(dir, "node"+strconv.Itoa(i)), "--listen", "127.0.0.1:0",
			"--brokers", b.Addr(), "--advertised-url", s.lb}
		wg.Go(func() { s.replicas[i] = startServeArgs(t, s.args[i], s.env...) })
	}
	wg.Wait()
	for i, p := range s.replicas {
		if p != nil {
			// A replica started again listens where haproxy expects it.
			s.args[i][3] = strings.TrimPrefix(p.HTTP, "http://")
		}
	}
	for _, p := range s.replicas {
		if p == nil {
			t.FailNow() // startServeArgs reported why
		}
		resp, err := http.Get(p.HTTP + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get("Kgate-Node")
		if id == "" {
			t.Fatalf("%s answers without Kgate-Node", p.HTTP)
		}
		s.nodes[id] = p
	}
	if len(s.nodes) != 3 {
		t.Fatalf("the replicas' node ids: %v, want three distinct", s.nodes)
	}
	// Every replica knows the three before the flow starts.
	waitFor(t, 15*time.Second, "three replicas in membership", func() bool {
		for _, p := range s.replicas {
			r := call(t, "GET", p.HTTP+"/admin/nodes", "admin", "", "")
			var a struct{ Nodes []json.RawMessage }
			if r.status != 200 || json.Unmarshal(r.body, &a) != nil || len(a.Nodes) != 3 {
				return false
			}
		}
		return true
	})

	// docs/configuration.md's recommended settings, with faster checks:
	// health on /readyz (503 as soon as a replica drains), a connection
	// refused or reset retried on another replica.
	cfg := "global\n  maxconn 512\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n" +
		"  option http-server-close\n  option redispatch\n  retries 3\n  retry-on conn-failure empty-response\n" +
		"frontend fe\n  bind " + lbAddr + "\n  default_backend be\n" +
		"backend be\n  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n" +
		"  default-server check inter 200ms fall 2 rise 2\n"
	for i, p := range s.replicas {
		cfg += fmt.Sprintf("  server n%d %s\n", i, strings.TrimPrefix(p.HTTP, "http://"))
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	lb := exec.Command(haproxy, "-f", cfgPath, "-db")
	var lbLog bytes.Buffer
	lb.Stdout, lb.Stderr = &lbLog, &lbLog
	if err := lb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = lb.Process.Kill()
		_ = lb.Wait()
		if t.Failed() {
			t.Logf("haproxy:\n%s", lbLog.String())
		}
	})
	waitFor(t, 10*time.Second, "haproxy serving", func() bool {
		resp, err := client.Get(s.lb + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	t.Cleanup(func() {
		if t.Failed() {
			for id, p := range s.nodes {
				t.Logf("replica %s logs:\n%s", id, p.Logs())
			}
		}
	})
	return s
}

func haproxyPath(t *testing.T) string {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	testutil.Missing(t, "haproxy is not installed (apt-get install haproxy)")
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// client opens a new connection for every request, so that haproxy
// balances each one.
var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) node() string         { return a.header.Get("Kgate-Node") }
func (a answer) instanceNode() string { return a.header.Get("Kgate-Instance-Node") }

func call(t *testing.T, method, url, user, ctype, body string, headers ...string) answer {
	t.Helper()
	a := sendAs(t.Context(), user, method, url, ctype, body, headers...)
	if a.err != nil {
		t.Fatalf("%s %s: %v", method, url, a.err)
	}
	return answer{status: a.status, header: a.header, body: a.body}
}

// retrying calls until the answer is not a 502/503/504 (a replica just
// died: haproxy or the forwarding replica says so until membership drops
// it), as a client retries.
func retrying(t *testing.T, method, url, ctype, body string, headers ...string) answer {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := call(t, method, url, "alice", ctype, body, headers...)
		if a.status < 502 || a.status > 504 || time.Now().After(deadline) {
			return a
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const v2JSON = "application/vnd.kafka.json.v2+json"
const v2 = "application/vnd.kafka.v2+json"

// produce writes values "from".."to"-1 (JSON numbers) through the load
// balancer and checks each is acknowledged.
func (s *scaleOut) produce(t *testing.T, from, to int) {
	t.Helper()
	var recs []string
	for i := from; i < to; i++ {
		recs = append(recs, fmt.Sprintf(`{"value":%d,"partition":%d}`, i, i%3))
	}
	a := retrying(t, "POST", s.lb+"/topics/"+scaleTopic, v2JSON, `{"records":[`+strings.Join(recs, ",")+`]}`)
	if a.status != 200 || bytes.Contains(a.body, []byte(`"error_code":4`)) || bytes.Contains(a.body, []byte(`"error_code":5`)) {
		t.Fatalf("produce: %d %s", a.status, a.body)
	}
	for i := from; i < to; i++ {
		s.produced[i] = true
	}
}

// killOwner kill -9s the replica holding f's instance (as its last
// answer said) and returns its id.
func (s *scaleOut) killOwner(t *testing.T, f *flow) string {
	t.Helper()
	owner := f.holders[len(f.holders)-1]
	victim := s.nodes[owner]
	if victim == nil || victim.cmd.ProcessState != nil {
		t.Fatalf("the instance's holder %q is not a running replica", owner)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	t.Logf("killed replica %s, which held the instance", owner)
	return owner
}

type consumed struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	Value     int   `json:"value"`
}

// flow is one v2 consumer instance used through the load balancer.
type flow struct {
	t        *testing.T
	s        *scaleOut
	base     string
	edges    []string // the replica each request reached
	holders  []string // the replica holding the instance, per answer
	returned map[int32]int64
	// maxBytes, if set, makes each read return a few records only.
	maxBytes int
}

func (s *scaleOut) create(t *testing.T, group, name string) *flow {
	t.Helper()
	a := retrying(t, "POST", s.lb+"/consumers/"+group, v2,
		`{"name":"`+name+`","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false"}`)
	if a.status != 200 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	var c struct {
		ID   string `json:"instance_id"`
		Base string `json:"base_uri"`
	}
	if err := json.Unmarshal(a.body, &c); err != nil {
		t.Fatal(err)
	}
	if want := s.lb + "/consumers/" + group + "/instances/" + name; c.Base != want {
		t.Fatalf("base_uri %q, want the shared address's %q", c.Base, want)
	}
	f := &flow{t: t, s: s, base: c.Base, returned: map[int32]int64{}}
	f.note(a)
	return f
}

func (f *flow) note(a answer) {
	f.edges = append(f.edges, a.node())
	f.holders = append(f.holders, a.instanceNode())
}

// do sends one request about the instance, retrying as a client does.
func (f *flow) do(method, path, ctype, body string, want int, headers ...string) answer {
	f.t.Helper()
	a := retrying(f.t, method, f.base+path, ctype, body, headers...)
	if a.status != want {
		f.t.Fatalf("%s %s: %d %s, want %d", method, path, a.status, a.body, want)
	}
	f.note(a)
	return a
}

// read reads once and returns the records.
func (f *flow) read() []consumed {
	f.t.Helper()
	q := "/records?timeout=500"
	if f.maxBytes > 0 {
		q += "&max_bytes=" + strconv.Itoa(f.maxBytes)
	}
	a := f.do("GET", q, "", "", 200, "Accept", v2JSON)
	var recs []consumed
	if err := json.Unmarshal(a.body, &recs); err != nil {
		f.t.Fatalf("records: %v: %s", err, a.body)
	}
	for _, r := range recs {
		f.returned[r.Partition] = r.Offset
	}
	return recs
}

// readUntil reads until n records came (or 30s), returning them.
func (f *flow) readUntil(n int) []consumed {
	f.t.Helper()
	var all []consumed
	deadline := time.Now().Add(30 * time.Second)
	for len(all) < n {
		if time.Now().After(deadline) {
			f.t.Fatalf("read %d records of %d in 30s", len(all), n)
		}
		all = append(all, f.read()...)
	}
	return all
}

// commit commits what was returned so far, naming the offsets (the last
// record delivered per partition).
func (f *flow) commit() {
	f.t.Helper()
	var offs []string
	for p, o := range f.returned {
		offs = append(offs, fmt.Sprintf(`{"topic":%q,"partition":%d,"offset":%d}`, scaleTopic, p, o))
	}
	f.do("POST", "/offsets", v2, `{"offsets":[`+strings.Join(offs, ",")+`]}`, 200)
}

// spread checks that the requests reached more than one replica while
// one replica held the instance throughout.
func (f *flow) spread(from int) {
	f.t.Helper()
	edges, holders := f.edges[from:], f.holders[from:]
	if e := slices.Compact(slices.Sorted(slices.Values(edges))); len(e) < 2 {
		f.t.Errorf("the flow's requests all reached %v: the load balancer is sticky, nothing was forwarded", e)
	}
	if h := slices.Compact(slices.Sorted(slices.Values(holders))); len(h) != 1 || h[0] == "" {
		f.t.Errorf("answers name these replicas as holding the instance: %v, want one", h)
	}
	forwarded := 0
	for i := range edges {
		if edges[i] != holders[i] {
			forwarded++
		}
	}
	if forwarded == 0 {
		f.t.Error("no request was forwarded")
	}
	f.t.Logf("%d requests, %d forwarded to the replica holding the instance", len(edges), forwarded)
}

func values(recs []consumed) []int {
	out := make([]int, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Value)
	}
	return out
}

// TestScaleOut runs v2 consumer flows through haproxy in round-robin in
// front of three replicas: an assign/seek flow and a subscribe flow
// whose requests land on different replicas (Kgate-Node) while one holds
// the instance (Kgate-Instance-Node), each with a kill -9 of the holder
// in the middle, after which the flow goes on from the committed offsets
// and reads every acknowledged record; then forged node-to-node
// requests.
func TestScaleOut(t *testing.T) {
	s := startScaleOut(t)
	s.produce(t, 0, 30)

	t.Run("assign-seek-kill-owner", func(t *testing.T) {
		f := s.create(t, "alice-assign", "a1")
		f.do("POST", "/assignments", v2, `{"partitions":[{"topic":"`+scaleTopic+`","partition":0},{"topic":"`+scaleTopic+`","partition":1},{"topic":"`+scaleTopic+`","partition":2}]}`, 204)
		got := f.readUntil(30)
		if len(got) != 30 {
			t.Fatalf("read %d records, want 30", len(got))
		}
		f.commit()
		a := f.do("GET", "/assignments", "", "", 200)
		if n := bytes.Count(a.body, []byte(`"partition"`)); n != 3 {
			t.Errorf("assignments: %s", a.body)
		}
		// Seek partition 1 back to offset 3: the next reads deliver it
		// again from there, whichever replica they reach.
		f.do("POST", "/positions", v2, `{"offsets":[{"topic":"`+scaleTopic+`","partition":1,"offset":3}]}`, 204)
		again := f.readUntil(7)
		if again[0].Partition != 1 || again[0].Offset != 3 {
			t.Errorf("after the seek, read %+v first, want partition 1 offset 3", again[0])
		}
		a = f.do("GET", "/offsets", v2, `{"partitions":[{"topic":"`+scaleTopic+`","partition":1}]}`, 200)
		if !bytes.Contains(a.body, []byte(`"offset":10`)) {
			t.Errorf("committed offsets: %s, want partition 1 at 10", a.body)
		}
		f.spread(0)
		// Seek partition 0 back to 5 and read from there without
		// committing: that position lives only in the instance.
		f.do("POST", "/positions", v2, `{"offsets":[{"topic":"`+scaleTopic+`","partition":0,"offset":5}]}`, 204)
		if r := f.readUntil(1); r[0].Partition != 0 || r[0].Offset != 5 {
			t.Errorf("after the second seek, read %+v first, want partition 0 offset 5", r[0])
		}
		owner := s.killOwner(t, f)
		s.produce(t, 100, 106) // two records on each partition, offsets 10 and 11
		after := f.readUntil(6)
		if h := f.holders[len(f.holders)-1]; h == owner || h == "" {
			t.Errorf("after the crash the instance is held by %q", h)
		}
		// The instance, created again, resumes at the committed offsets
		// (10 on each partition), not at the lost seek position.
		var vals []int
		for _, r := range after {
			vals = append(vals, r.Value)
			if r.Offset < 10 {
				t.Errorf("after the crash read %+v: before the committed offset 10", r)
			}
		}
		slices.Sort(vals)
		if !slices.Equal(vals, []int{100, 101, 102, 103, 104, 105}) {
			t.Errorf("after the crash read values %v, want 100 to 105", vals)
		}
		f.do("DELETE", "", v2, "", 204)
		for range 3 {
			if a := call(t, "GET", f.base+"/assignments", "alice", "", ""); a.status != 404 {
				t.Errorf("after delete, a replica answers %d %s, want 404", a.status, a.body)
			}
		}
	})

	t.Run("subscribe-kill-owner", func(t *testing.T) {
		f := s.create(t, "alice-sub", "s1")
		f.maxBytes = 8 // a few records a read: reads land on several replicas
		f.do("POST", "/subscription", v2, `{"topics":["`+scaleTopic+`"]}`, 204)
		first := f.readUntil(10)
		f.commit()
		more := f.readUntil(25 - len(first)) // read more, not committed
		f.spread(0)
		delivered := map[int]bool{}
		for _, v := range values(append(first, more...)) {
			delivered[v] = true
		}
		// What was committed: the first batch's last offsets only.
		committed := map[int32]int64{}
		for _, r := range first {
			committed[r.Partition] = max(committed[r.Partition], r.Offset+1)
		}

		owner := s.killOwner(t, f)

		// Records produced after the crash are acknowledged by the
		// surviving replicas, and none is lost.
		s.produce(t, 30, 45)
		var after []consumed
		deadline := time.Now().Add(45 * time.Second)
		seen := map[int]bool{}
		for len(seen) < len(s.produced) {
			if time.Now().After(deadline) {
				t.Fatalf("after the owner's crash, read %d distinct records of the %d acknowledged in 45s", len(seen), len(s.produced))
			}
			for _, r := range f.read() {
				after = append(after, r)
				seen[r.Value] = true
			}
			for v := range delivered {
				seen[v] = true
			}
		}
		newOwner := f.holders[len(f.holders)-1]
		if newOwner == owner || newOwner == "" {
			t.Errorf("after the crash the instance is held by %q", newOwner)
		}
		// Consumption resumed from the committed offsets (at least once):
		// each partition's first record after the crash is the first
		// uncommitted one.
		firstAfter := map[int32]int64{}
		for _, r := range after {
			if _, ok := firstAfter[r.Partition]; !ok {
				firstAfter[r.Partition] = r.Offset
			}
		}
		for p, o := range firstAfter {
			if c, ok := committed[p]; ok && o != c {
				t.Errorf("partition %d resumed at offset %d, want the committed %d", p, o, c)
			} else if !ok && o != 0 {
				t.Errorf("partition %d (nothing committed) resumed at %d, want 0", p, o)
			}
		}
		t.Logf("after the crash: %d records read, resuming at %v (committed %v), instance now on %s", len(after), firstAfter, committed, newOwner)
		f.commit()
		f.do("DELETE", "", v2, "", 204)
		for range 3 {
			if a := call(t, "POST", f.base+"/subscription", "alice", v2, `{"topics":["`+scaleTopic+`"]}`); a.status != 404 {
				t.Errorf("after delete, a replica answers %d %s, want 404", a.status, a.body)
			}
		}
	})

	t.Run("forged-node-requests", func(t *testing.T) {
		var target *proc
		for _, p := range s.replicas {
			if p.cmd.ProcessState == nil {
				target = p
			}
		}
		principal := base64.RawURLEncoding.EncodeToString([]byte(`{"name":"admin","method":"basic"}`))
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		for name, h := range map[string][]string{
			"wrong signature":   {"Kgate-Node", "x", "Kgate-Node-Time", now, "Kgate-Node-Principal", principal, "Kgate-Node-Signature", strings.Repeat("ab", 32)},
			"missing signature": {"Kgate-Node", "x", "Kgate-Node-Time", now, "Kgate-Node-Principal", principal},
			"secret as signature": {"Kgate-Node", "x", "Kgate-Node-Time", now, "Kgate-Node-Principal", principal,
				"Kgate-Node-Signature", s.secret},
			"principal header alone": {"Kgate-Node-Principal", principal},
		} {
			a := call(t, "GET", target.HTTP+"/admin/nodes", "", "", "", h...)
			if a.status != 401 || !bytes.Contains(a.body, []byte(`"error_code":40101`)) {
				t.Errorf("%s: %d %s, want 401 40101", name, a.status, a.body)
			}
			// Even with good credentials besides.
			a = call(t, "GET", target.HTTP+"/consumers/alice-x/instances/y/subscription", "alice", "", "", h...)
			if a.status != 401 {
				t.Errorf("%s with Basic: %d %s, want 401", name, a.status, a.body)
			}
		}
		waitFor(t, 5*time.Second, "the refusals logged", func() bool {
			return strings.Contains(target.Logs(), "node-to-node signature")
		})
		for id, p := range s.nodes {
			if strings.Contains(p.Logs(), s.secret) {
				t.Errorf("replica %s logged the node secret", id)
			}
		}
	})
}
