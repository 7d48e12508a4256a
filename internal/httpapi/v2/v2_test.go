package v2_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

const (
	ctV2     = "application/vnd.kafka.v2+json"
	ctBinary = "application/vnd.kafka.binary.v2+json"
	ctJSON   = "application/vnd.kafka.json.v2+json"
)

// call is one HTTP exchange of a scripted test.
type call struct {
	name    string // golden file name; empty: no golden comparison
	method  string
	path    string
	headers map[string]string
	body    string
	status  int
	code    int // expected error_code for error answers (0: not checked)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, base string, c call) response {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

var (
	reTimestamp = regexp.MustCompile(`"timestamp":\d+`)
	reHost      = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	reMetadata  = regexp.MustCompile(`"metadata":"[^"]*"`)
)

// normalize removes what changes between runs: timestamps and ports.
func normalize(b []byte) []byte {
	b = reTimestamp.ReplaceAll(b, []byte(`"timestamp":0`))
	b = reHost.ReplaceAll(b, []byte(`http://HOST`))
	return reMetadata.ReplaceAll(b, []byte(`"metadata":"M"`))
}

// run performs the calls in order, checking statuses, error codes and
// golden bodies.
func run(t *testing.T, base string, calls []call) {
	t.Helper()
	for _, c := range calls {
		r := do(t, base, c)
		label := c.name
		if label == "" {
			label = c.method + " " + c.path
		}
		if r.status != c.status {
			t.Fatalf("%s: status %d, want %d; body %s", label, r.status, c.status, r.body)
		}
		if c.code != 0 {
			var e struct {
				ErrorCode int    `json:"error_code"`
				Message   string `json:"message"`
			}
			if err := json.Unmarshal(r.body, &e); err != nil || e.ErrorCode != c.code || e.Message == "" {
				t.Fatalf("%s: body %s, want error_code %d with a message", label, r.body, c.code)
			}
		}
		if c.name != "" {
			golden := fmt.Sprintf("%d %s\n%s", r.status, r.header.Get("Content-Type"), normalize(r.body))
			testutil.Golden(t, c.name, []byte(golden))
		}
	}
}

func jsonHdr(ct string) map[string]string { return map[string]string{"Content-Type": ct} }

// TestEndpoints walks every v2 endpoint, success and error paths, and
// compares bodies with golden files.
func TestEndpoints(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	seed := `{"records":[{"value":{"deviceid": "AppleWatch4","heartrate": "72","timestamp":"2019-10-07 12:46:13"}}]}`
	run(t, g.URL, []call{
		{name: "root_get", method: "GET", path: "/", status: 200},
		{name: "root_post", method: "POST", path: "/", headers: jsonHdr(ctV2), body: `{}`, status: 200},
		{name: "produce_seed", method: "POST", path: "/topics/customer1", headers: jsonHdr(ctJSON), body: seed, status: 200},
		{name: "produce_seed_again", method: "POST", path: "/topics/customer1", headers: jsonHdr(ctJSON), body: seed, status: 200},
		{name: "produce_binary_keys", method: "POST", path: "/topics/customer1", headers: jsonHdr(ctBinary),
			body: `{"records":[{"key":"a2V5","value":"dmFsdWU="},{"key":null,"value":null},{"value":"eA==","partition":0}]}`, status: 200},
		{name: "produce_plain_json", method: "POST", path: "/topics/customer1", headers: jsonHdr("application/json"),
			body: `{"records":[{"key":"k","value":[1,2,3],"headers":{"trace":"abc"},"timestamp":1570452373000}]}`, status: 200},
		{name: "produce_partition", method: "POST", path: "/topics/customer1/partitions/0", headers: jsonHdr(ctBinary),
			body: `{"records":[{"value":"cA=="}]}`, status: 200},
		{name: "produce_empty_records", method: "POST", path: "/topics/customer1", headers: jsonHdr(ctJSON), body: `{"records":[]}`, status: 200},
		{name: "topics_list", method: "GET", path: "/topics", status: 200},
		{name: "topic_get", method: "GET", path: "/topics/customer1", status: 200},
		{name: "topic_missing", method: "GET", path: "/topics/nope", status: 404, code: 40403},
		{name: "partitions_list", method: "GET", path: "/topics/customer1/partitions", status: 200},
		{name: "partition_get", method: "GET", path: "/topics/customer1/partitions/0", status: 200},
		{name: "partition_missing", method: "GET", path: "/topics/customer1/partitions/7", status: 404, code: 40402},
		{name: "partition_not_number", method: "GET", path: "/topics/customer1/partitions/x", status: 404, code: 404},
		{name: "partition_offsets", method: "GET", path: "/topics/customer1/partitions/0/offsets", status: 200},
		{name: "brokers", method: "GET", path: "/brokers", status: 200},
		{name: "not_acceptable", method: "GET", path: "/topics", headers: map[string]string{"Accept": "text/html"}, status: 406, code: 406},
		{name: "unknown_route", method: "GET", path: "/nope", status: 404, code: 404},
		{name: "method_not_allowed", method: "PUT", path: "/topics", status: 405, code: 405},
		{name: "trailing_slash", method: "GET", path: "/topics/", status: 200},
	})
}

// TestConsumerLifecycle walks the consumer endpoints of a subscribed and
// an assigned instance.
func TestConsumerLifecycle(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.DefaultPartitions = 2 })
	inst := "/consumers/grp/instances/c1"
	bin := map[string]string{"Accept": ctBinary}
	run(t, g.URL, []call{
		{method: "POST", path: "/topics/orders/partitions/0", headers: jsonHdr(ctBinary), body: `{"records":[{"key":"azE=","value":"djE="},{"value":"djI="}]}`, status: 200},
		{method: "POST", path: "/topics/orders/partitions/1", headers: jsonHdr(ctBinary), body: `{"records":[{"value":"djM="}]}`, status: 200},
		{name: "consumer_create", method: "POST", path: "/consumers/grp", headers: jsonHdr(ctV2),
			body: `{"name":"c1","format":"binary","auto.offset.reset":"earliest","auto.commit.enable":"false","fetch.min.bytes":"-1","consumer.request.timeout.ms":2000}`, status: 200},
		{name: "consumer_duplicate", method: "POST", path: "/consumers/grp", headers: jsonHdr(ctV2), body: `{"name":"c1"}`, status: 409, code: 40902},
		{name: "records_unsubscribed", method: "GET", path: inst + "/records", headers: bin, status: 409, code: 40903},
		{name: "subscribe", method: "POST", path: inst + "/subscription", headers: jsonHdr(ctV2), body: `{"topics":["orders"]}`, status: 204},
		{name: "subscription_get", method: "GET", path: inst + "/subscription", status: 200},
		{name: "assign_after_subscribe", method: "POST", path: inst + "/assignments", headers: jsonHdr(ctV2),
			body: `{"partitions":[{"topic":"orders","partition":0}]}`, status: 409, code: 40903},
		{name: "records_format_mismatch", method: "GET", path: inst + "/records", headers: map[string]string{"Accept": ctJSON}, status: 406, code: 40601},
	})
	// The group assigns partitions during the first reads; read until all
	// three records arrived (order within a partition is kept).
	got := readAll(t, g.URL, inst, ctBinary, 3)
	want := []string{`orders/0/0 azE= djE=`, `orders/0/1 <nil> djI=`, `orders/1/0 <nil> djM=`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records: got %v, want %v", got, want)
	}
	run(t, g.URL, []call{
		{name: "assignments_get", method: "GET", path: inst + "/assignments", status: 200},
		{name: "commit_all", method: "POST", path: inst + "/offsets", headers: jsonHdr(ctV2), status: 200},
		{name: "committed_get", method: "GET", path: inst + "/offsets", headers: jsonHdr(ctV2),
			body: `{"partitions":[{"topic":"orders","partition":0},{"topic":"orders","partition":1}]}`, status: 200},
		{name: "commit_explicit", method: "POST", path: inst + "/offsets", headers: jsonHdr(ctV2),
			body: `{"offsets":[{"topic":"orders","partition":0,"offset":0}]}`, status: 200},
		{name: "committed_after_explicit", method: "GET", path: inst + "/offsets", headers: jsonHdr(ctV2),
			body: `{"partitions":[{"topic":"orders","partition":0}]}`, status: 200},
		{name: "seek_beginning", method: "POST", path: inst + "/positions/beginning", headers: jsonHdr(ctV2),
			body: `{"partitions":[{"topic":"orders","partition":0}]}`, status: 204},
		{name: "seek_unassigned", method: "POST", path: inst + "/positions", headers: jsonHdr(ctV2),
			body: `{"offsets":[{"topic":"orders","partition":9,"offset":0}]}`, status: 409, code: 40903},
	})
	if got := readAll(t, g.URL, inst, ctBinary, 2); fmt.Sprint(got) != fmt.Sprint(want[:2]) {
		t.Fatalf("after seek to beginning: got %v, want %v", got, want[:2])
	}
	run(t, g.URL, []call{
		{name: "seek_offset", method: "POST", path: inst + "/positions", headers: jsonHdr(ctV2),
			body: `{"offsets":[{"topic":"orders","partition":0,"offset":1}]}`, status: 204},
	})
	if got := readAll(t, g.URL, inst, ctBinary, 1); fmt.Sprint(got) != fmt.Sprint(want[1:2]) {
		t.Fatalf("after seek to offset 1: got %v, want %v", got, want[1:2])
	}
	run(t, g.URL, []call{
		{name: "seek_end", method: "POST", path: inst + "/positions/end", headers: jsonHdr(ctV2),
			body: `{"partitions":[{"topic":"orders","partition":0},{"topic":"orders","partition":1}]}`, status: 204},
		{name: "records_at_end", method: "GET", path: inst + "/records?timeout=200", headers: bin, status: 200},
		{name: "unsubscribe", method: "DELETE", path: inst + "/subscription", status: 204},
		{name: "subscription_empty", method: "GET", path: inst + "/subscription", status: 200},
		{name: "assign", method: "POST", path: inst + "/assignments", headers: jsonHdr(ctV2),
			body: `{"partitions":[{"topic":"orders","partition":1}]}`, status: 204},
		{name: "assignments_manual", method: "GET", path: inst + "/assignments", status: 200},
		{name: "subscribe_after_assign", method: "POST", path: inst + "/subscription", headers: jsonHdr(ctV2), body: `{"topics":["orders"]}`, status: 409, code: 40903},
	})
	// Partition 1's committed offset was 1 (after its only record), so
	// the assignment starts after it; seek back to read it again.
	run(t, g.URL, []call{
		{method: "POST", path: inst + "/positions", headers: jsonHdr(ctV2), body: `{"offsets":[{"topic":"orders","partition":1,"offset":0}]}`, status: 204},
	})
	if got := readAll(t, g.URL, inst, ctBinary, 1); fmt.Sprint(got) != fmt.Sprint(want[2:]) {
		t.Fatalf("assigned read: got %v, want %v", got, want[2:])
	}
	run(t, g.URL, []call{
		{name: "consumer_delete", method: "DELETE", path: inst, status: 204},
		{name: "consumer_gone", method: "GET", path: inst + "/records", headers: bin, status: 404, code: 40403},
		{name: "consumer_gone_delete", method: "DELETE", path: inst, status: 404, code: 40403},
	})
}

// readAll reads records until n arrived (or 10 s passed) and renders them
// as "topic/partition/offset key value".
func readAll(t *testing.T, base, inst, accept string, n int) []string {
	t.Helper()
	var out []string
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		r := do(t, base, call{method: "GET", path: inst + "/records?timeout=500", headers: map[string]string{"Accept": accept}})
		if r.status != 200 {
			t.Fatalf("records: %d %s", r.status, r.body)
		}
		var recs []struct {
			Topic     string  `json:"topic"`
			Key       *string `json:"key"`
			Value     *string `json:"value"`
			Partition int32   `json:"partition"`
			Offset    int64   `json:"offset"`
		}
		if err := json.Unmarshal(r.body, &recs); err != nil {
			t.Fatalf("records body %s: %v", r.body, err)
		}
		for _, rec := range recs {
			k, v := "<nil>", "<nil>"
			if rec.Key != nil {
				k = *rec.Key
			}
			if rec.Value != nil {
				v = *rec.Value
			}
			out = append(out, fmt.Sprintf("%s/%d/%d %s %s", rec.Topic, rec.Partition, rec.Offset, k, v))
		}
	}
	if len(out) != n {
		t.Fatalf("read %d records, want %d: %v", len(out), n, out)
	}
	// Partitions interleave arbitrarily; order within each is kept, and
	// the rendering sorts by topic/partition/offset for comparison.
	sortStrings(out)
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// endOffsets returns the end offset of every partition of topic (-1 per
// partition when the topic is missing).
func endOffsets(t *testing.T, g *testutil.Gateway, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

// TestProduceRejects sends bad produce requests: each gets its status and
// error_code, and nothing reaches Kafka.
func TestProduceRejects(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.HTTP.MaxBodyBytes = 4096 })
	run(t, g.URL, []call{{method: "POST", path: "/topics/rej", headers: jsonHdr(ctBinary), body: `{"records":[{"value":"MA=="}]}`, status: 200}})
	before := endOffsets(t, g, "rej")
	big := `{"records":[{"value":"` + strings.Repeat("QUFB", 2000) + `"}]}`
	cases := []call{
		{name: "reject_malformed_json", method: "POST", path: "/topics/rej", headers: jsonHdr(ctJSON), body: `{"records":[{"value":1}`, status: 400, code: 400},
		{name: "reject_no_content_type", method: "POST", path: "/topics/rej", body: `{"records":[{"value":1}]}`, status: 415, code: 415},
		{name: "reject_wrong_content_type", method: "POST", path: "/topics/rej", headers: jsonHdr("text/plain"), body: `{"records":[{"value":1}]}`, status: 415, code: 415},
		{name: "reject_v2_without_format", method: "POST", path: "/topics/rej", headers: jsonHdr(ctV2), body: `{"records":[{"value":1}]}`, status: 415, code: 415},
		{name: "reject_avro", method: "POST", path: "/topics/rej", headers: jsonHdr("application/vnd.kafka.avro.v2+json"), body: `{"value_schema":"\"string\"","records":[{"value":"x"}]}`, status: 422, code: 42206},
		{name: "reject_protobuf", method: "POST", path: "/topics/rej", headers: jsonHdr("application/vnd.kafka.protobuf.v2+json"), body: `{"records":[{"value":{}}]}`, status: 422, code: 42206},
		{name: "reject_bad_base64", method: "POST", path: "/topics/rej", headers: jsonHdr(ctBinary), body: `{"records":[{"value":"MA=="},{"value":"!!notbase64!!"}]}`, status: 400, code: 400},
		{name: "reject_base64_not_string", method: "POST", path: "/topics/rej", headers: jsonHdr(ctBinary), body: `{"records":[{"value":12}]}`, status: 400, code: 400},
		{name: "reject_records_not_array", method: "POST", path: "/topics/rej", headers: jsonHdr(ctJSON), body: `{"records":{"value":1}}`, status: 422, code: 422},
		{name: "reject_record_not_object", method: "POST", path: "/topics/rej", headers: jsonHdr(ctJSON), body: `{"records":[1,2]}`, status: 422, code: 422},
		{name: "reject_empty_body", method: "POST", path: "/topics/rej", headers: jsonHdr(ctJSON), status: 422, code: 422},
		{name: "reject_null_body", method: "POST", path: "/topics/rej", headers: jsonHdr(ctJSON), body: `null`, status: 422, code: 422},
		{name: "reject_body_not_object", method: "POST", path: "/topics/rej", headers: jsonHdr(ctJSON), body: `[1]`, status: 422, code: 422},
		{name: "reject_partition_out_of_range", method: "POST", path: "/topics/rej", headers: jsonHdr(ctBinary), body: `{"records":[{"value":"MA=="},{"value":"MA==","partition":3}]}`, status: 404},
		{name: "reject_path_partition_out_of_range", method: "POST", path: "/topics/rej/partitions/5", headers: jsonHdr(ctBinary), body: `{"records":[{"value":"MA=="}]}`, status: 404},
		{name: "reject_negative_partition", method: "POST", path: "/topics/rej", headers: jsonHdr(ctBinary), body: `{"records":[{"value":"MA==","partition":-1}]}`, status: 404, code: 40402},
		{name: "reject_bad_headers", method: "POST", path: "/topics/rej", headers: jsonHdr(ctJSON), body: `{"records":[{"value":1,"headers":5}]}`, status: 422, code: 422},
		{name: "reject_bad_timestamp", method: "POST", path: "/topics/rej", headers: jsonHdr(ctJSON), body: `{"records":[{"value":1,"timestamp":"yesterday"}]}`, status: 422, code: 422},
		{name: "reject_invalid_topic", method: "POST", path: "/topics/bad%21topic", headers: jsonHdr(ctJSON), body: `{"records":[{"value":1}]}`, status: 400, code: 40002},
		{name: "reject_oversize", method: "POST", path: "/topics/rej", headers: jsonHdr(ctBinary), body: big, status: 413, code: 413},
	}
	run(t, g.URL, cases)
	if after := endOffsets(t, g, "rej"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a rejected request wrote to Kafka: end offsets %v, then %v", before, after)
	}
}

// TestProduceUnknownTopicNoAutoCreate: with auto-create off, a missing
// topic answers at once, per record, with 40401, and creates nothing.
func TestProduceUnknownTopicNoAutoCreate(t *testing.T) {
	off := false
	g := testutil.StartGateway(t, func(c *config.Config) { c.AutoCreateTopics = &off })
	start := time.Now()
	run(t, g.URL, []call{
		{name: "unknown_topic_no_autocreate", method: "POST", path: "/topics/missing", headers: jsonHdr(ctJSON), body: `{"records":[{"value":1},{"value":2}]}`, status: 404},
		{method: "GET", path: "/topics/missing", status: 404, code: 40403},
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("unknown topic took %v to answer; it must not wait for the producer timeout", d)
	}
}

// TestConsumerRejects covers the consumer bad-input paths.
func TestConsumerRejects(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	run(t, g.URL, []call{
		{method: "POST", path: "/consumers/g", headers: jsonHdr(ctV2), body: `{"name":"c"}`, status: 200},
		{name: "consumer_bad_format", method: "POST", path: "/consumers/g", headers: jsonHdr(ctV2), body: `{"format":"xml"}`, status: 422, code: 422},
		{name: "consumer_avro_no_registry", method: "POST", path: "/consumers/g", headers: jsonHdr(ctV2), body: `{"format":"AVRO"}`, status: 422, code: 42206},
		{name: "consumer_bad_reset", method: "POST", path: "/consumers/g", headers: jsonHdr(ctV2), body: `{"auto.offset.reset":"smallest"}`, status: 422, code: 42204},
		{name: "consumer_bad_min_bytes", method: "POST", path: "/consumers/g", headers: jsonHdr(ctV2), body: `{"fetch.min.bytes":20000000}`, status: 422, code: 40001},
		{name: "consumer_bad_autocommit", method: "POST", path: "/consumers/g", headers: jsonHdr(ctV2), body: `{"auto.commit.enable":"maybe"}`, status: 422, code: 42204},
		{name: "consumer_bad_json", method: "POST", path: "/consumers/g", headers: jsonHdr(ctV2), body: `{"name":`, status: 400, code: 400},
		{name: "consumer_wrong_content_type", method: "POST", path: "/consumers/g", headers: jsonHdr("text/xml"), body: `<x/>`, status: 415, code: 415},
		{name: "subscribe_null", method: "POST", path: "/consumers/g/instances/c/subscription", headers: jsonHdr(ctV2), body: `null`, status: 422, code: 422},
		{name: "subscribe_empty", method: "POST", path: "/consumers/g/instances/c/subscription", headers: jsonHdr(ctV2), body: `{}`, status: 422, code: 422},
		{name: "subscribe_bad_pattern", method: "POST", path: "/consumers/g/instances/c/subscription", headers: jsonHdr(ctV2), body: `{"topic_pattern":"(("}`, status: 422, code: 422},
		{name: "subscribe_unknown_instance", method: "POST", path: "/consumers/g/instances/zz/subscription", headers: jsonHdr(ctV2), body: `{"topics":["t"]}`, status: 404, code: 40403},
		{name: "assign_missing_partition_field", method: "POST", path: "/consumers/g/instances/c/assignments", headers: jsonHdr(ctV2), body: `{"partitions":[{"topic":"t"}]}`, status: 422, code: 422},
		{name: "records_bad_timeout", method: "GET", path: "/consumers/g/instances/c/records?timeout=soon", status: 400, code: 400},
		{name: "commit_bad_offsets", method: "POST", path: "/consumers/g/instances/c/offsets", headers: jsonHdr(ctV2), body: `{"offsets":[{"topic":"t","partition":0}]}`, status: 422, code: 422},
	})
}

// TestConsumerJSONAndPattern reads json records through a pattern
// subscription, and a json consumer meeting bytes that are not JSON
// fails with 40801 without losing them.
func TestConsumerJSONAndPattern(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	inst := "/consumers/jg/instances/j"
	run(t, g.URL, []call{
		{method: "POST", path: "/topics/logs-a", headers: jsonHdr(ctJSON), body: `{"records":[{"key":{"id":1},"value":{"msg":"hello","n":[1,2]}}]}`, status: 200},
		{method: "POST", path: "/consumers/jg", headers: jsonHdr(ctV2), body: `{"name":"j","format":"json","auto.offset.reset":"earliest"}`, status: 200},
		{method: "POST", path: inst + "/subscription", headers: jsonHdr(ctV2), body: `{"topic_pattern":"logs-.*"}`, status: 204},
	})
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := do(t, g.URL, call{method: "GET", path: inst + "/records?timeout=500", headers: map[string]string{"Accept": ctJSON}})
		if r.status != 200 {
			t.Fatalf("records: %d %s", r.status, r.body)
		}
		if !bytes.Equal(r.body, []byte("[]")) {
			body = r.body
			break
		}
	}
	testutil.Golden(t, "json_records", normalize(body))
	run(t, g.URL, []call{
		{name: "subscription_pattern", method: "GET", path: inst + "/subscription", status: 200},
		{method: "POST", path: "/topics/logs-a", headers: jsonHdr(ctBinary), body: `{"records":[{"value":"bm90IGpzb24="}]}`, status: 200},
	})
	deadline = time.Now().Add(10 * time.Second)
	for {
		r := do(t, g.URL, call{method: "GET", path: inst + "/records?timeout=500", headers: map[string]string{"Accept": ctJSON}})
		if r.status == 408 {
			if ct := r.header.Get("Content-Type"); ct != ctJSON {
				t.Fatalf("40801 answered with Content-Type %q, want the negotiated %q", ct, ctJSON)
			}
			break
		}
		if r.status != 200 || time.Now().After(deadline) {
			t.Fatalf("records: %d %s, want 408/40801", r.status, r.body)
		}
	}
	// The record is not lost: the next read fails again.
	run(t, g.URL, []call{{method: "GET", path: inst + "/records?timeout=100", headers: map[string]string{"Accept": ctJSON}, status: 408, code: 40801}})
}

// TestAutoCommitResumes: with auto-commit on, what one instance returned
// is committed when it leaves; the next instance of the group resumes
// after it, and nothing unreturned is skipped.
func TestAutoCommitResumes(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	var recs []string
	for i := 0; i < 4; i++ {
		recs = append(recs, fmt.Sprintf(`{"value":{"n":%d}}`, i))
	}
	run(t, g.URL, []call{
		{method: "POST", path: "/topics/ac", headers: jsonHdr(ctJSON), body: `{"records":[` + strings.Join(recs, ",") + `]}`, status: 200},
		{method: "POST", path: "/consumers/acg", headers: jsonHdr(ctV2), body: `{"name":"a","format":"json","auto.offset.reset":"earliest"}`, status: 200},
		{method: "POST", path: "/consumers/acg/instances/a/subscription", headers: jsonHdr(ctV2), body: `{"topics":["ac"]}`, status: 204},
	})
	// max_bytes=1 returns one record per read: read two of the four.
	var first []string
	for deadline := time.Now().Add(10 * time.Second); len(first) < 2 && time.Now().Before(deadline); {
		r := do(t, g.URL, call{method: "GET", path: "/consumers/acg/instances/a/records?timeout=500&max_bytes=1", headers: map[string]string{"Accept": ctJSON}})
		var got []struct {
			Value json.RawMessage `json:"value"`
		}
		_ = json.Unmarshal(r.body, &got)
		for _, v := range got {
			first = append(first, string(v.Value))
		}
	}
	run(t, g.URL, []call{
		{method: "DELETE", path: "/consumers/acg/instances/a", status: 204},
		{method: "POST", path: "/consumers/acg", headers: jsonHdr(ctV2), body: `{"name":"b","format":"json","auto.offset.reset":"earliest"}`, status: 200},
		{method: "POST", path: "/consumers/acg/instances/b/subscription", headers: jsonHdr(ctV2), body: `{"topics":["ac"]}`, status: 204},
	})
	var second []string
	for deadline := time.Now().Add(10 * time.Second); len(second) < 2 && time.Now().Before(deadline); {
		r := do(t, g.URL, call{method: "GET", path: "/consumers/acg/instances/b/records?timeout=500", headers: map[string]string{"Accept": ctJSON}})
		var got []struct {
			Value json.RawMessage `json:"value"`
		}
		_ = json.Unmarshal(r.body, &got)
		for _, v := range got {
			second = append(second, string(v.Value))
		}
	}
	if fmt.Sprint(first) != `[{"n":0} {"n":1}]` || fmt.Sprint(second) != `[{"n":2} {"n":3}]` {
		t.Fatalf("first instance read %v, second %v; want n=0,1 then n=2,3", first, second)
	}
}

// TestDeleteInterruptsLongRead: deleting an instance ends its long poll at
// once instead of waiting out the read timeout.
func TestDeleteInterruptsLongRead(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	run(t, g.URL, []call{
		{method: "POST", path: "/consumers/lg", headers: jsonHdr(ctV2), body: `{"name":"l","consumer.request.timeout.ms":60000}`, status: 200},
		{method: "POST", path: "/consumers/lg/instances/l/subscription", headers: jsonHdr(ctV2), body: `{"topics":["quiet"]}`, status: 204},
	})
	done := make(chan response, 1)
	go func() {
		done <- do(t, g.URL, call{method: "GET", path: "/consumers/lg/instances/l/records", headers: map[string]string{"Accept": ctBinary}})
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	run(t, g.URL, []call{{method: "DELETE", path: "/consumers/lg/instances/l", status: 204}})
	select {
	case r := <-done:
		if r.status != 200 && r.status != 404 {
			t.Fatalf("interrupted read answered %d %s", r.status, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read was not interrupted by DELETE")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("DELETE waited %v for the read", d)
	}
}
