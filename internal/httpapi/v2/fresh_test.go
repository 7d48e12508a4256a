package v2_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/httpapi/apitest"
	"github.com/kgate/kgate/internal/testutil"
)

// freshFlow is one first-contact flow of a v2 client: a group that has
// never committed, on a topic that was just made.
type freshFlow struct {
	format string // json or binary
	assign bool   // assign one partition (kafka-topics-ui) or subscribe
}

func (f freshFlow) String() string {
	mode := "subscribe"
	if f.assign {
		mode = "assign"
	}
	return f.format + "_" + mode
}

// values a topic of the flow holds, in the flow's format.
func (f freshFlow) values() (produceBody string, want []string) {
	if f.format == "json" {
		return `{"records":[{"value":{"n":1}},{"value":{"n":2}}]}`, []string{`{"n":1}`, `{"n":2}`}
	}
	return `{"records":[{"value":"MQ=="},{"value":"Mg=="}]}`, []string{`"MQ=="`, `"Mg=="`}
}

func (f freshFlow) accept() string {
	if f.format == "json" {
		return ctJSON
	}
	return ctBinary
}

// run walks the flow on group and topic: create (auto-commit off, earliest),
// assign or subscribe, seek to the beginning, read everything, look at the
// committed offsets (none yet), commit, look again, delete.
func (f freshFlow) run(t *testing.T, g *testutil.Gateway, group, topic string) {
	t.Helper()
	body, want := f.values()
	inst := "/consumers/" + group + "/instances/ui"
	run(t, g, []apitest.Exchange{
		{Method: "POST", Path: "/topics/" + topic, Header: jsonHdr("application/vnd.kafka." + f.format + ".v2+json"), Body: body, Status: 200},
		{Method: "POST", Path: "/consumers/" + group, Header: jsonHdr(ctV2),
			Body: `{"name":"ui","format":"` + f.format + `","auto.offset.reset":"earliest","auto.commit.enable":"false"}`, Status: 200},
		// A group without commits has no committed offsets: an empty list.
		{Method: "GET", Path: inst + "/offsets", Status: 200},
	})
	if f.assign {
		parts := `{"partitions":[{"topic":"` + topic + `","partition":0}]}`
		run(t, g, []apitest.Exchange{
			{Method: "POST", Path: inst + "/assignments", Header: jsonHdr(ctV2), Body: parts, Status: 204},
			{Method: "POST", Path: inst + "/positions/beginning", Header: jsonHdr(ctV2), Body: parts, Status: 204},
		})
	} else {
		run(t, g, []apitest.Exchange{
			{Method: "POST", Path: inst + "/subscription", Header: jsonHdr(ctV2), Body: `{"topics":["` + topic + `"]}`, Status: 204},
		})
	}
	if got := committedOffsets(t, g, inst, topic); got != "[]" {
		t.Fatalf("%s: committed offsets before any commit: %s, want []", f, got)
	}
	got := readValues(t, g, inst, f.accept(), len(want))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: read %v, want %v", f, got, want)
	}
	run(t, g, []apitest.Exchange{
		{Method: "POST", Path: inst + "/offsets", Header: jsonHdr(ctV2), Status: 200},
	})
	if got := committedOffsets(t, g, inst, topic); got != fmt.Sprintf(`[%s/0@%d]`, topic, len(want)) {
		t.Fatalf("%s: committed offsets after the commit: %s, want [%s/0@%d]", f, got, topic, len(want))
	}
	run(t, g, []apitest.Exchange{{Method: "DELETE", Path: inst, Status: 204}})
}

// committedOffsets renders GET .../offsets, with and without a body naming
// the partition, as [topic/partition@offset ...]; both must agree.
func committedOffsets(t *testing.T, g *testutil.Gateway, inst, topic string) string {
	t.Helper()
	render := func(b []byte) string {
		var resp struct {
			Offsets []struct {
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
				Offset    int64  `json:"offset"`
			} `json:"offsets"`
		}
		if err := json.Unmarshal(b, &resp); err != nil || resp.Offsets == nil {
			t.Fatalf("offsets body %s: %v", b, err)
		}
		out := "["
		for i, o := range resp.Offsets {
			if i > 0 {
				out += " "
			}
			out += fmt.Sprintf("%s/%d@%d", o.Topic, o.Partition, o.Offset)
		}
		return out + "]"
	}
	all := do(t, g, apitest.Exchange{Method: "GET", Path: inst + "/offsets"})
	one := do(t, g, apitest.Exchange{Method: "GET", Path: inst + "/offsets", Header: jsonHdr(ctV2),
		Body: `{"partitions":[{"topic":"` + topic + `","partition":0}]}`})
	if all.status != 200 || one.status != 200 {
		t.Fatalf("GET offsets: %d %s / %d %s", all.status, all.body, one.status, one.body)
	}
	a, o := render(all.body), render(one.body)
	if a != o {
		t.Fatalf("GET offsets without a body says %s, for the partition %s", a, o)
	}
	return a
}

// readValues reads until n records arrived (10 s at most) and returns
// their values as JSON text.
func readValues(t *testing.T, g *testutil.Gateway, inst, accept string, n int) []string {
	t.Helper()
	var out []string
	for deadline := time.Now().Add(10 * time.Second); len(out) < n && time.Now().Before(deadline); {
		r := do(t, g, apitest.Exchange{Method: "GET", Path: inst + "/records?timeout=500", Header: map[string]string{"Accept": accept}})
		if r.status != 200 {
			t.Fatalf("records: %d %s", r.status, r.body)
		}
		var recs []struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(r.body, &recs); err != nil {
			t.Fatalf("records body %s: %v", r.body, err)
		}
		for _, rec := range recs {
			out = append(out, string(rec.Value))
		}
	}
	return out
}

var freshFlows = []freshFlow{{"json", true}, {"binary", true}, {"json", false}, {"binary", false}}

// TestFreshGroupFlows: every v2 consumer flow works from empty state — a
// group that never committed on a topic made by the flow's own produce —
// on a first start and again after a restart on the same data.
func TestFreshGroupFlows(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	for _, f := range freshFlows {
		t.Run(f.String(), func(t *testing.T) { f.run(t, g, "fresh-"+f.String(), "fresh-"+f.String()) })
	}
	cfg := g.Config
	g.Stop()
	g2 := testutil.StartGatewayConfig(t, cfg)
	for _, f := range freshFlows {
		t.Run("restarted_"+f.String(), func(t *testing.T) {
			f.run(t, g2, "restarted-"+f.String(), "restarted-"+f.String())
		})
	}
}

// groupCommitted returns what group committed on topic's partition 0
// (-1: nothing), read straight from the broker.
func groupCommitted(t *testing.T, g *testutil.Gateway, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatal(err)
	}
	if o, ok := resp.Lookup(topic, 0); ok && o.Err == nil {
		return o.At
	}
	return -1
}

// TestJSONConsumerStopsAtUndecodable follows the README in its order: a
// json record, then a binary one that is not JSON, then json again. A json
// consumer gets the good record before the bad one, then 40801 naming the
// bad one (again and again: nothing is skipped silently), and no commit,
// automatic or explicit, covers a record it was not given.
func TestJSONConsumerStopsAtUndecodable(t *testing.T) {
	for _, autoCommit := range []bool{true, false} {
		t.Run(fmt.Sprintf("auto_commit_%v", autoCommit), func(t *testing.T) {
			g := testutil.StartGateway(t, nil)
			topic, group := "mixed", fmt.Sprintf("mixed-%v", autoCommit)
			inst := "/consumers/" + group + "/instances/j"
			run(t, g, []apitest.Exchange{
				{Method: "POST", Path: "/topics/" + topic, Header: jsonHdr(ctJSON), Body: `{"records":[{"value":{"n":0}}]}`, Status: 200},
				{Method: "POST", Path: "/topics/" + topic, Header: jsonHdr(ctBinary), Body: `{"records":[{"key":"a2V5","value":"dmFsdWU="}]}`, Status: 200},
				{Method: "POST", Path: "/topics/" + topic, Header: jsonHdr(ctJSON), Body: `{"records":[{"value":{"n":2}}]}`, Status: 200},
				{Method: "POST", Path: "/consumers/" + group, Header: jsonHdr(ctV2),
					Body: fmt.Sprintf(`{"name":"j","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"%v"}`, autoCommit), Status: 200},
				{Method: "POST", Path: inst + "/subscription", Header: jsonHdr(ctV2), Body: `{"topics":["` + topic + `"]}`, Status: 204},
			})
			if got := readValues(t, g, inst, ctJSON, 1); fmt.Sprint(got) != `[{"n":0}]` {
				t.Fatalf("first reads returned %v, want the record before the undecodable one", got)
			}
			for i := 0; i < 2; i++ {
				run(t, g, []apitest.Exchange{{Method: "GET", Path: inst + "/records?timeout=200", Header: map[string]string{"Accept": ctJSON},
					Status: 408, Code: 40801, Message: topic + "[0]@1"}})
			}
			if !autoCommit {
				run(t, g, []apitest.Exchange{{Method: "POST", Path: inst + "/offsets", Header: jsonHdr(ctV2), Status: 200}})
			}
			// Leaving the group commits what auto-commit marked.
			run(t, g, []apitest.Exchange{{Method: "DELETE", Path: inst, Status: 204}})
			if got := groupCommitted(t, g, group, topic); got != 1 {
				t.Fatalf("group committed %d, want 1: only offset 0 was delivered", got)
			}
			// A new instance resumes at the undecodable record: skipping it
			// is the client's decision (seek past it).
			run(t, g, []apitest.Exchange{
				{Method: "POST", Path: "/consumers/" + group, Header: jsonHdr(ctV2), Body: `{"name":"k","format":"json","auto.offset.reset":"earliest"}`, Status: 200},
				{Method: "POST", Path: "/consumers/" + group + "/instances/k/assignments", Header: jsonHdr(ctV2), Body: `{"partitions":[{"topic":"` + topic + `","partition":0}]}`, Status: 204},
				{Method: "GET", Path: "/consumers/" + group + "/instances/k/records?timeout=2000", Header: map[string]string{"Accept": ctJSON}, Status: 408, Code: 40801},
				{Method: "POST", Path: "/consumers/" + group + "/instances/k/positions", Header: jsonHdr(ctV2), Body: `{"offsets":[{"topic":"` + topic + `","partition":0,"offset":2}]}`, Status: 204},
			})
			if got := readValues(t, g, "/consumers/"+group+"/instances/k", ctJSON, 1); fmt.Sprint(got) != `[{"n":2}]` {
				t.Fatalf("after seeking past the bad record: %v, want [{\"n\":2}]", got)
			}
		})
	}
}
