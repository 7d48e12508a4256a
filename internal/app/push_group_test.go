package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kgate/kgate/internal/push"
	"github.com/kgate/kgate/internal/testutil"
)

// committed returns group's committed offsets of topic's partitions.
func committed(t *testing.T, g *testutil.Gateway, group, topic string, n int) push.Position {
	t.Helper()
	cl := pushTopicClient(t, g)
	resp, err := kadm.NewClient(cl).FetchOffsets(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	pos := make(push.Position, n)
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil && int(o.Partition) < n {
			pos[o.Partition] = o.At
		}
	})
	return pos
}

// after lists the values of records at or past pos (produceRecords'
// values, partitions × [0, per)).
func after(pos push.Position, per int) []string {
	var vs []string
	for p, o := range pos {
		for i := int(o); i < per; i++ {
			vs = append(vs, fmt.Sprintf("p-%d-%d", p, i))
		}
	}
	slices.Sort(vs)
	return vs
}

// TestPushGroupWebSocket: in group mode a WebSocket client's ack commits
// the acknowledged position for the group; a new member of the group
// starts there.
func TestPushGroupWebSocket(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-group", 2)
	produceRecords(t, cl, "push-group", 2, 0, 10, time.Now())
	url := streamURL(g, "push-group", "group=g1&from=earliest&format=string")
	s, resp, err := dialPush(t, url, []string{"kgate.v1"}, nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	s.credit(t, 6)
	got := s.records(t, 3*time.Second)
	if len(got) != 6 {
		t.Fatalf("%d records for credit 6", len(got))
	}
	ack := got[3].ID
	if err := s.c.Write(t.Context(), websocket.MessageText, []byte(`{"ack":"`+ack+`"}`)); err != nil {
		t.Fatal(err)
	}
	want, err := push.DecodePosition(ack, "push-group")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ack committed", func() bool { return slices.Equal(committed(t, g, "g1", "push-group", 2), want) })
	s.c.CloseNow()

	// A new member starts at the group's committed offsets.
	s2, resp, err := dialPush(t, url, []string{"kgate.v1"}, nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	s2.credit(t, 100)
	var vs []string
	deadline := time.Now().Add(10 * time.Second)
	for len(vs) < 16 && time.Now().Before(deadline) {
		vs = append(vs, recordValues(t, s2.records(t, 500*time.Millisecond))...)
	}
	slices.Sort(vs)
	if w := after(want, 10); !slices.Equal(vs, w) {
		t.Errorf("the next member read %v, want %v (everything after the ack)", vs, w)
	}
	// An ack outside group mode is a protocol error.
	s3, _, err := dialPush(t, streamURL(g, "push-group", ""), []string{"kgate.v1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.c.Write(t.Context(), websocket.MessageText, []byte(`{"ack":"`+ack+`"}`)); err != nil {
		t.Fatal(err)
	}
	if end, _ := s3.end(t); end.ErrorCode != 400 || end.Reason != "protocol" {
		t.Errorf("ack without a group: %+v", end)
	}
}

// TestPushGroupSSE: in group mode an SSE client's Last-Event-ID is
// committed for the group when it resumes; a member that comes without
// one starts at the group's committed offsets.
func TestPushGroupSSE(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-gsse", 2)
	produceRecords(t, cl, "push-gsse", 2, 0, 10, time.Now())
	url := streamURL(g, "push-gsse", "group=g2&from=earliest&format=string")
	s := openSSE(t, url)
	first := s.records(5, 10*time.Second)
	s.close()
	last := first[len(first)-1].id
	pos, err := push.DecodePosition(last, "push-gsse")
	if err != nil {
		t.Fatal(err)
	}
	if c := committed(t, g, "g2", "push-gsse", 2); !slices.Equal(c, push.Position{0, 0}) {
		t.Fatalf("committed %v before any resume, want nothing", c)
	}
	// Resume: everything after the id, and the id is committed.
	s2 := openSSE(t, url, "Last-Event-ID", last)
	w := after(pos, 10)
	if got := values(decodeRecords(t, s2.records(len(w), 10*time.Second))); !slices.Equal(got, w) {
		t.Fatalf("resumed: %v, want %v", got, w)
	}
	eventually(t, "the resume position committed", func() bool { return slices.Equal(committed(t, g, "g2", "push-gsse", 2), pos) })
	s2.close()
	// A member without Last-Event-ID starts at the committed offsets.
	s3 := openSSE(t, url)
	if got := values(decodeRecords(t, s3.records(len(w), 10*time.Second))); !slices.Equal(got, w) {
		t.Fatalf("a new member: %v, want %v", got, w)
	}
	s3.quiet(300 * time.Millisecond)
}

// TestPushGroupNeedsConsume: group mode needs consume on the group,
// besides fetch on the topic; offsets and timestamps do not apply.
func TestPushGroupNeedsConsume(t *testing.T) {
	g := secureGateway(t, fastPush)
	pushTopic(t, g, "customer1", 1)
	if s := openSSE(t, streamURL(g, "customer1", "group=customer1-g"), "Authorization", seedAuth); s.status != http.StatusOK {
		t.Errorf("customer1 in group customer1-g: %d %s", s.status, s.body)
	}
	if s := openSSE(t, streamURL(g, "customer1", "group=other"), "Authorization", seedAuth); s.status != http.StatusForbidden {
		t.Errorf("customer1 in group other: %d %s", s.status, s.body)
	}
	if s := openSSE(t, streamURL(g, "customer1", "group=customer1-g&offsets=0:0"), "Authorization", seedAuth); s.status != http.StatusBadRequest {
		t.Errorf("offsets in group mode: %d %s", s.status, s.body)
	}
}

// TestPushGroupEndsWhenConsumeRemoved: a group-mode stream ends within a
// second when a reload takes consume on its group away (fetch on the
// topic stays).
func TestPushGroupEndsWhenConsumeRemoved(t *testing.T) {
	g, perms := reloadGateway(t)
	pushTopic(t, g, "customer1", 1)
	s := openSSE(t, streamURL(g, "customer1", "group=customer1-g"), "Authorization", seedAuth)
	if s.status != http.StatusOK {
		t.Fatalf("stream: %d %s", s.status, s.body)
	}
	b, err := os.ReadFile(perms)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(perms, []byte(strings.Replace(string(b), `  consume: ["{user}-*"]`+"\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops")); r.status != http.StatusOK {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	s.ends(t, start, time.Second, 40301, "forbidden")
}

// TestPushGroupShares: two members of one group share a topic's
// partitions: once the group has settled, each record goes to exactly
// one of them.
func TestPushGroupShares(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-share", 2)
	url := streamURL(g, "push-share", "group=g3&from=earliest&format=string")
	a := openSSE(t, url)
	time.Sleep(time.Second)
	b := openSSE(t, url)
	// Wait out the rebalance: both members hold a partition when a record
	// to each partition goes to a different member.
	collect := func(s *sseStream, d time.Duration) []string {
		var vs []string
		for {
			ev, ok := s.next(d)
			if !ok {
				return vs
			}
			var r pushRecord
			if err := json.Unmarshal([]byte(ev.data), &r); err == nil && r.Value != nil {
				vs = append(vs, *r.Value)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	var ga, gb []string
	for i := 0; time.Now().Before(deadline); i++ {
		produceRecords(t, cl, "push-share", 2, i, i+1, time.Now())
		ga, gb = collect(a, time.Second), collect(b, 200*time.Millisecond)
		if len(ga) == 1 && len(gb) == 1 {
			break
		}
	}
	if len(ga) != 1 || len(gb) != 1 {
		t.Fatalf("the group did not settle into one partition each: %v / %v", ga, gb)
	}
	produceRecords(t, cl, "push-share", 2, 100, 110, time.Now())
	ga, gb = collect(a, 2*time.Second), collect(b, 500*time.Millisecond)
	all := append(append([]string(nil), ga...), gb...)
	slices.Sort(all)
	if w := want(2, 100, 110); !slices.Equal(all, w) || len(ga) != 10 || len(gb) != 10 {
		t.Errorf("member a %v, member b %v: want each partition's 10 records at one member", ga, gb)
	}
}
