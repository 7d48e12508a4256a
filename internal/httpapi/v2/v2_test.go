package v2_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi/apitest"
	"github.com/kgate/kgate/internal/testutil"
)

const (
	ctV2     = "application/vnd.kafka.v2+json"
	ctBinary = "application/vnd.kafka.binary.v2+json"
	ctJSON   = "application/vnd.kafka.json.v2+json"
)

// response is an answer of the gateway, for the tests that look inside.
type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, g *testutil.Gateway, ex apitest.Exchange) response {
	t.Helper()
	resp, b := apitest.Do(t, g, ex)
	return response{resp.StatusCode, resp.Header, b}
}

// run performs the exchanges in order, checking statuses and error codes,
// and compares the named ones with golden files; it stops at the first
// failure, since later steps build on earlier ones.
func run(t *testing.T, g *testutil.Gateway, exs []apitest.Exchange) {
	t.Helper()
	for _, ex := range exs {
		if ex.Header == nil && ex.Body != "" {
			// v2 bodies name their type; a test without one means none.
			ex.Header = map[string]string{"Content-Type": ""}
		}
		if ex.Name != "" {
			apitest.Run(t, g, ex)
		} else {
			resp, b := apitest.Do(t, g, ex)
			apitest.Check(t, ex, resp, b)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

func jsonHdr(ct string) map[string]string { return map[string]string{"Content-Type": ct} }

// TestEndpoints walks every v2 endpoint, success and error paths, and
// compares bodies with golden files.
func TestEndpoints(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	seed := `{"records":[{"value":{"deviceid": "AppleWatch4","heartrate": "72","timestamp":"2019-10-07 12:46:13"}}]}`
	run(t, g, []apitest.Exchange{
		{Name: "root_get", Method: "GET", Path: "/", Status: 200},
		{Name: "root_post", Method: "POST", Path: "/", Header: jsonHdr(ctV2), Body: `{}`, Status: 200},
		{Name: "produce_seed", Method: "POST", Path: "/topics/customer1", Header: jsonHdr(ctJSON), Body: seed, Status: 200},
		{Name: "produce_seed_again", Method: "POST", Path: "/topics/customer1", Header: jsonHdr(ctJSON), Body: seed, Status: 200},
		{Name: "produce_binary_keys", Method: "POST", Path: "/topics/customer1", Header: jsonHdr(ctBinary),
			Body: `{"records":[{"key":"a2V5","value":"dmFsdWU="},{"key":null,"value":null},{"value":"eA==","partition":0}]}`, Status: 200},
		{Name: "produce_plain_json", Method: "POST", Path: "/topics/customer1", Header: jsonHdr("application/json"),
			Body: `{"records":[{"key":"k","value":[1,2,3],"headers":{"trace":"abc"},"timestamp":1570452373000}]}`, Status: 200},
		{Name: "produce_partition", Method: "POST", Path: "/topics/customer1/partitions/0", Header: jsonHdr(ctBinary),
			Body: `{"records":[{"value":"cA=="}]}`, Status: 200},
		{Name: "produce_empty_records", Method: "POST", Path: "/topics/customer1", Header: jsonHdr(ctJSON), Body: `{"records":[]}`, Status: 200},
		{Name: "topics_list", Method: "GET", Path: "/topics", Status: 200},
		{Name: "topic_get", Method: "GET", Path: "/topics/customer1", Status: 200},
		{Name: "topic_missing", Method: "GET", Path: "/topics/nope", Status: 404, Code: 40403},
		{Name: "partitions_list", Method: "GET", Path: "/topics/customer1/partitions", Status: 200},
		{Name: "partition_get", Method: "GET", Path: "/topics/customer1/partitions/0", Status: 200},
		{Name: "partition_missing", Method: "GET", Path: "/topics/customer1/partitions/7", Status: 404, Code: 40402},
		{Name: "partition_not_number", Method: "GET", Path: "/topics/customer1/partitions/x", Status: 404, Code: 404},
		{Name: "partition_offsets", Method: "GET", Path: "/topics/customer1/partitions/0/offsets", Status: 200},
		{Name: "brokers", Method: "GET", Path: "/brokers", Status: 200},
		{Name: "not_acceptable", Method: "GET", Path: "/topics", Header: map[string]string{"Accept": "text/html"}, Status: 406, Code: 406},
		{Name: "unknown_route", Method: "GET", Path: "/nope", Status: 404, Code: 404},
		{Name: "method_not_allowed", Method: "PUT", Path: "/topics", Status: 405, Code: 405},
		{Name: "trailing_slash", Method: "GET", Path: "/topics/", Status: 200},
	})
}

// TestConsumerLifecycle walks the consumer endpoints of a subscribed and
// an assigned instance.
func TestConsumerLifecycle(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.DefaultPartitions = 2 })
	inst := "/consumers/grp/instances/c1"
	bin := map[string]string{"Accept": ctBinary}
	run(t, g, []apitest.Exchange{
		{Method: "POST", Path: "/topics/orders/partitions/0", Header: jsonHdr(ctBinary), Body: `{"records":[{"key":"azE=","value":"djE="},{"value":"djI="}]}`, Status: 200},
		{Method: "POST", Path: "/topics/orders/partitions/1", Header: jsonHdr(ctBinary), Body: `{"records":[{"value":"djM="}]}`, Status: 200},
		{Name: "consumer_create", Method: "POST", Path: "/consumers/grp", Header: jsonHdr(ctV2),
			Body: `{"name":"c1","format":"binary","auto.offset.reset":"earliest","auto.commit.enable":"false","fetch.min.bytes":"-1","consumer.request.timeout.ms":2000}`, Status: 200},
		{Name: "consumer_duplicate", Method: "POST", Path: "/consumers/grp", Header: jsonHdr(ctV2), Body: `{"name":"c1"}`, Status: 409, Code: 40902},
		{Name: "records_unsubscribed", Method: "GET", Path: inst + "/records", Header: bin, Status: 409, Code: 40903},
		{Name: "subscribe", Method: "POST", Path: inst + "/subscription", Header: jsonHdr(ctV2), Body: `{"topics":["orders"]}`, Status: 204},
		{Name: "subscription_get", Method: "GET", Path: inst + "/subscription", Status: 200},
		{Name: "assign_after_subscribe", Method: "POST", Path: inst + "/assignments", Header: jsonHdr(ctV2),
			Body: `{"partitions":[{"topic":"orders","partition":0}]}`, Status: 409, Code: 40903},
		{Name: "records_format_mismatch", Method: "GET", Path: inst + "/records", Header: map[string]string{"Accept": ctJSON}, Status: 406, Code: 40601},
	})
	// The group assigns partitions during the first reads; read until all
	// three records arrived (order within a partition is kept).
	got := readAll(t, g, inst, ctBinary, 3)
	want := []string{`orders/0/0 azE= djE=`, `orders/0/1 <nil> djI=`, `orders/1/0 <nil> djM=`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records: got %v, want %v", got, want)
	}
	run(t, g, []apitest.Exchange{
		{Name: "assignments_get", Method: "GET", Path: inst + "/assignments", Status: 200},
		{Name: "commit_all", Method: "POST", Path: inst + "/offsets", Header: jsonHdr(ctV2), Status: 200},
		{Name: "committed_get", Method: "GET", Path: inst + "/offsets", Header: jsonHdr(ctV2),
			Body: `{"partitions":[{"topic":"orders","partition":0},{"topic":"orders","partition":1}]}`, Status: 200},
		{Name: "commit_explicit", Method: "POST", Path: inst + "/offsets", Header: jsonHdr(ctV2),
			Body: `{"offsets":[{"topic":"orders","partition":0,"offset":0}]}`, Status: 200},
		{Name: "committed_after_explicit", Method: "GET", Path: inst + "/offsets", Header: jsonHdr(ctV2),
			Body: `{"partitions":[{"topic":"orders","partition":0}]}`, Status: 200},
		{Name: "seek_beginning", Method: "POST", Path: inst + "/positions/beginning", Header: jsonHdr(ctV2),
			Body: `{"partitions":[{"topic":"orders","partition":0}]}`, Status: 204},
		{Name: "seek_unassigned", Method: "POST", Path: inst + "/positions", Header: jsonHdr(ctV2),
			Body: `{"offsets":[{"topic":"orders","partition":9,"offset":0}]}`, Status: 409, Code: 40903},
	})
	if got := readAll(t, g, inst, ctBinary, 2); fmt.Sprint(got) != fmt.Sprint(want[:2]) {
		t.Fatalf("after seek to beginning: got %v, want %v", got, want[:2])
	}
	run(t, g, []apitest.Exchange{
		{Name: "seek_offset", Method: "POST", Path: inst + "/positions", Header: jsonHdr(ctV2),
			Body: `{"offsets":[{"topic":"orders","partition":0,"offset":1}]}`, Status: 204},
	})
	if got := readAll(t, g, inst, ctBinary, 1); fmt.Sprint(got) != fmt.Sprint(want[1:2]) {
		t.Fatalf("after seek to offset 1: got %v, want %v", got, want[1:2])
	}
	run(t, g, []apitest.Exchange{
		{Name: "seek_end", Method: "POST", Path: inst + "/positions/end", Header: jsonHdr(ctV2),
			Body: `{"partitions":[{"topic":"orders","partition":0},{"topic":"orders","partition":1}]}`, Status: 204},
		{Name: "records_at_end", Method: "GET", Path: inst + "/records?timeout=200", Header: bin, Status: 200},
		{Name: "unsubscribe", Method: "DELETE", Path: inst + "/subscription", Status: 204},
		{Name: "subscription_empty", Method: "GET", Path: inst + "/subscription", Status: 200},
		{Name: "assign", Method: "POST", Path: inst + "/assignments", Header: jsonHdr(ctV2),
			Body: `{"partitions":[{"topic":"orders","partition":1}]}`, Status: 204},
		{Name: "assignments_manual", Method: "GET", Path: inst + "/assignments", Status: 200},
		{Name: "subscribe_after_assign", Method: "POST", Path: inst + "/subscription", Header: jsonHdr(ctV2), Body: `{"topics":["orders"]}`, Status: 409, Code: 40903},
	})
	// Partition 1's committed offset was 1 (after its only record), so
	// the assignment starts after it; seek back to read it again.
	run(t, g, []apitest.Exchange{
		{Method: "POST", Path: inst + "/positions", Header: jsonHdr(ctV2), Body: `{"offsets":[{"topic":"orders","partition":1,"offset":0}]}`, Status: 204},
	})
	if got := readAll(t, g, inst, ctBinary, 1); fmt.Sprint(got) != fmt.Sprint(want[2:]) {
		t.Fatalf("assigned read: got %v, want %v", got, want[2:])
	}
	run(t, g, []apitest.Exchange{
		{Name: "consumer_delete", Method: "DELETE", Path: inst, Status: 204},
		{Name: "consumer_gone", Method: "GET", Path: inst + "/records", Header: bin, Status: 404, Code: 40403},
		{Name: "consumer_gone_delete", Method: "DELETE", Path: inst, Status: 404, Code: 40403},
	})
}

// readAll reads records until n arrived (or 10 s passed) and renders them
// as "topic/partition/offset key value".
func readAll(t *testing.T, g *testutil.Gateway, inst, accept string, n int) []string {
	t.Helper()
	var out []string
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		r := do(t, g, apitest.Exchange{Method: "GET", Path: inst + "/records?timeout=500", Header: map[string]string{"Accept": accept}})
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
	run(t, g, []apitest.Exchange{{Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctBinary), Body: `{"records":[{"value":"MA=="}]}`, Status: 200}})
	before := endOffsets(t, g, "rej")
	big := `{"records":[{"value":"` + strings.Repeat("QUFB", 2000) + `"}]}`
	cases := []apitest.Exchange{
		{Name: "reject_malformed_json", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctJSON), Body: `{"records":[{"value":1}`, Status: 400, Code: 400},
		{Name: "reject_no_content_type", Method: "POST", Path: "/topics/rej", Body: `{"records":[{"value":1}]}`, Status: 415, Code: 415},
		{Name: "reject_wrong_content_type", Method: "POST", Path: "/topics/rej", Header: jsonHdr("text/plain"), Body: `{"records":[{"value":1}]}`, Status: 415, Code: 415},
		{Name: "reject_v2_without_format", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctV2), Body: `{"records":[{"value":1}]}`, Status: 415, Code: 415},
		{Name: "reject_avro", Method: "POST", Path: "/topics/rej", Header: jsonHdr("application/vnd.kafka.avro.v2+json"), Body: `{"value_schema":"\"string\"","records":[{"value":"x"},{"value":1}]}`, Status: 422, Code: 422},
		{Name: "reject_bad_base64", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctBinary), Body: `{"records":[{"value":"MA=="},{"value":"!!notbase64!!"}]}`, Status: 400, Code: 400},
		{Name: "reject_base64_not_string", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctBinary), Body: `{"records":[{"value":12}]}`, Status: 400, Code: 400},
		{Name: "reject_records_not_array", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctJSON), Body: `{"records":{"value":1}}`, Status: 422, Code: 422},
		{Name: "reject_record_not_object", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctJSON), Body: `{"records":[1,2]}`, Status: 422, Code: 422},
		{Name: "reject_empty_body", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctJSON), Status: 422, Code: 422},
		{Name: "reject_null_body", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctJSON), Body: `null`, Status: 422, Code: 422},
		{Name: "reject_body_not_object", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctJSON), Body: `[1]`, Status: 422, Code: 422},
		{Name: "reject_partition_out_of_range", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctBinary), Body: `{"records":[{"value":"MA=="},{"value":"MA==","partition":3}]}`, Status: 404},
		{Name: "reject_path_partition_out_of_range", Method: "POST", Path: "/topics/rej/partitions/5", Header: jsonHdr(ctBinary), Body: `{"records":[{"value":"MA=="}]}`, Status: 404, Code: 40402},
		{Name: "reject_negative_partition", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctBinary), Body: `{"records":[{"value":"MA==","partition":-1}]}`, Status: 404, Code: 40402},
		{Name: "reject_bad_headers", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctJSON), Body: `{"records":[{"value":1,"headers":5}]}`, Status: 422, Code: 422},
		{Name: "reject_bad_timestamp", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctJSON), Body: `{"records":[{"value":1,"timestamp":"yesterday"}]}`, Status: 422, Code: 422},
		{Name: "reject_invalid_topic", Method: "POST", Path: "/topics/bad%21topic", Header: jsonHdr(ctJSON), Body: `{"records":[{"value":1}]}`, Status: 400, Code: 40002},
		{Name: "reject_oversize", Method: "POST", Path: "/topics/rej", Header: jsonHdr(ctBinary), Body: big, Status: 413, Code: 413},
	}
	run(t, g, cases)
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
	run(t, g, []apitest.Exchange{
		{Name: "unknown_topic_no_autocreate", Method: "POST", Path: "/topics/missing", Header: jsonHdr(ctJSON), Body: `{"records":[{"value":1},{"value":2}]}`, Status: 404},
		{Method: "GET", Path: "/topics/missing", Status: 404, Code: 40403},
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("unknown topic took %v to answer; it must not wait for the producer timeout", d)
	}
}

// TestConsumerRejects covers the consumer bad-input paths.
// TestSchemaFormatsWithoutRegistry: with the schema registry off, the
// schema formats answer 42206, as Confluent's proxy without one does.
func TestSchemaFormatsWithoutRegistry(t *testing.T) {
	off := false
	g := testutil.StartGateway(t, func(c *config.Config) { c.SchemaRegistry.Enabled = &off })
	run(t, g, []apitest.Exchange{
		{Name: "reject_protobuf", Method: "POST", Path: "/topics/rej", Header: jsonHdr("application/vnd.kafka.protobuf.v2+json"), Body: `{"records":[{"value":{}}]}`, Status: 422, Code: 42206},
		{Name: "consumer_protobuf_no_registry", Method: "POST", Path: "/consumers/g", Header: jsonHdr(ctV2), Body: `{"format":"PROTOBUF"}`, Status: 422, Code: 42206},
		{Method: "POST", Path: "/topics/rej", Header: jsonHdr("application/vnd.kafka.avro.v2+json"), Body: `{"value_schema":"\"string\"","records":[{"value":"x"}]}`, Status: 422, Code: 42206},
		{Method: "POST", Path: "/consumers/g", Header: jsonHdr(ctV2), Body: `{"format":"AVRO"}`, Status: 422, Code: 42206},
	})
}

func TestConsumerRejects(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	run(t, g, []apitest.Exchange{
		{Method: "POST", Path: "/consumers/g", Header: jsonHdr(ctV2), Body: `{"name":"c"}`, Status: 200},
		{Name: "consumer_bad_format", Method: "POST", Path: "/consumers/g", Header: jsonHdr(ctV2), Body: `{"format":"xml"}`, Status: 422, Code: 422},
		{Name: "consumer_bad_reset", Method: "POST", Path: "/consumers/g", Header: jsonHdr(ctV2), Body: `{"auto.offset.reset":"smallest"}`, Status: 422, Code: 42204},
		{Name: "consumer_bad_min_bytes", Method: "POST", Path: "/consumers/g", Header: jsonHdr(ctV2), Body: `{"fetch.min.bytes":20000000}`, Status: 422, Code: 40001},
		{Name: "consumer_bad_autocommit", Method: "POST", Path: "/consumers/g", Header: jsonHdr(ctV2), Body: `{"auto.commit.enable":"maybe"}`, Status: 422, Code: 42204},
		{Name: "consumer_bad_json", Method: "POST", Path: "/consumers/g", Header: jsonHdr(ctV2), Body: `{"name":`, Status: 400, Code: 400},
		{Name: "consumer_wrong_content_type", Method: "POST", Path: "/consumers/g", Header: jsonHdr("text/xml"), Body: `<x/>`, Status: 415, Code: 415},
		{Name: "subscribe_null", Method: "POST", Path: "/consumers/g/instances/c/subscription", Header: jsonHdr(ctV2), Body: `null`, Status: 422, Code: 422},
		{Name: "subscribe_empty", Method: "POST", Path: "/consumers/g/instances/c/subscription", Header: jsonHdr(ctV2), Body: `{}`, Status: 422, Code: 422},
		{Name: "subscribe_bad_pattern", Method: "POST", Path: "/consumers/g/instances/c/subscription", Header: jsonHdr(ctV2), Body: `{"topic_pattern":"(("}`, Status: 422, Code: 422},
		{Name: "subscribe_unknown_instance", Method: "POST", Path: "/consumers/g/instances/zz/subscription", Header: jsonHdr(ctV2), Body: `{"topics":["t"]}`, Status: 404, Code: 40403},
		{Name: "assign_missing_partition_field", Method: "POST", Path: "/consumers/g/instances/c/assignments", Header: jsonHdr(ctV2), Body: `{"partitions":[{"topic":"t"}]}`, Status: 422, Code: 422},
		{Name: "records_bad_timeout", Method: "GET", Path: "/consumers/g/instances/c/records?timeout=soon", Status: 400, Code: 400},
		{Name: "commit_bad_offsets", Method: "POST", Path: "/consumers/g/instances/c/offsets", Header: jsonHdr(ctV2), Body: `{"offsets":[{"topic":"t","partition":0}]}`, Status: 422, Code: 422},
	})
}

// TestConsumerJSONAndPattern reads json records through a pattern
// subscription, and a json consumer meeting bytes that are not JSON
// fails with 40801 without losing them.
func TestConsumerJSONAndPattern(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	inst := "/consumers/jg/instances/j"
	run(t, g, []apitest.Exchange{
		{Method: "POST", Path: "/topics/logs-a", Header: jsonHdr(ctJSON), Body: `{"records":[{"key":{"id":1},"value":{"msg":"hello","n":[1,2]}}]}`, Status: 200},
		{Method: "POST", Path: "/consumers/jg", Header: jsonHdr(ctV2), Body: `{"name":"j","format":"json","auto.offset.reset":"earliest"}`, Status: 200},
		{Method: "POST", Path: inst + "/subscription", Header: jsonHdr(ctV2), Body: `{"topic_pattern":"logs-.*"}`, Status: 204},
	})
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := do(t, g, apitest.Exchange{Method: "GET", Path: inst + "/records?timeout=500", Header: map[string]string{"Accept": ctJSON}})
		if r.status != 200 {
			t.Fatalf("records: %d %s", r.status, r.body)
		}
		if !bytes.Equal(r.body, []byte("[]")) {
			body = r.body
			break
		}
	}
	testutil.Golden(t, "golden/json_records", []byte(apitest.Normalize(g, string(apitest.PrettyJSON(body)))))
	run(t, g, []apitest.Exchange{
		{Name: "subscription_pattern", Method: "GET", Path: inst + "/subscription", Status: 200},
		{Method: "POST", Path: "/topics/logs-a", Header: jsonHdr(ctBinary), Body: `{"records":[{"value":"bm90IGpzb24="}]}`, Status: 200},
	})
	deadline = time.Now().Add(10 * time.Second)
	for {
		r := do(t, g, apitest.Exchange{Method: "GET", Path: inst + "/records?timeout=500", Header: map[string]string{"Accept": ctJSON}})
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
	run(t, g, []apitest.Exchange{{Method: "GET", Path: inst + "/records?timeout=100", Header: map[string]string{"Accept": ctJSON}, Status: 408, Code: 40801}})
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
	run(t, g, []apitest.Exchange{
		{Method: "POST", Path: "/topics/ac", Header: jsonHdr(ctJSON), Body: `{"records":[` + strings.Join(recs, ",") + `]}`, Status: 200},
		{Method: "POST", Path: "/consumers/acg", Header: jsonHdr(ctV2), Body: `{"name":"a","format":"json","auto.offset.reset":"earliest"}`, Status: 200},
		{Method: "POST", Path: "/consumers/acg/instances/a/subscription", Header: jsonHdr(ctV2), Body: `{"topics":["ac"]}`, Status: 204},
	})
	// max_bytes=1 returns one record per read: read two of the four.
	var first []string
	for deadline := time.Now().Add(10 * time.Second); len(first) < 2 && time.Now().Before(deadline); {
		r := do(t, g, apitest.Exchange{Method: "GET", Path: "/consumers/acg/instances/a/records?timeout=500&max_bytes=1", Header: map[string]string{"Accept": ctJSON}})
		var got []struct {
			Value json.RawMessage `json:"value"`
		}
		_ = json.Unmarshal(r.body, &got)
		for _, v := range got {
			first = append(first, string(v.Value))
		}
	}
	run(t, g, []apitest.Exchange{
		{Method: "DELETE", Path: "/consumers/acg/instances/a", Status: 204},
		{Method: "POST", Path: "/consumers/acg", Header: jsonHdr(ctV2), Body: `{"name":"b","format":"json","auto.offset.reset":"earliest"}`, Status: 200},
		{Method: "POST", Path: "/consumers/acg/instances/b/subscription", Header: jsonHdr(ctV2), Body: `{"topics":["ac"]}`, Status: 204},
	})
	var second []string
	for deadline := time.Now().Add(10 * time.Second); len(second) < 2 && time.Now().Before(deadline); {
		r := do(t, g, apitest.Exchange{Method: "GET", Path: "/consumers/acg/instances/b/records?timeout=500", Header: map[string]string{"Accept": ctJSON}})
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
	run(t, g, []apitest.Exchange{
		{Method: "POST", Path: "/consumers/lg", Header: jsonHdr(ctV2), Body: `{"name":"l","consumer.request.timeout.ms":50000}`, Status: 200},
		{Method: "POST", Path: "/consumers/lg/instances/l/subscription", Header: jsonHdr(ctV2), Body: `{"topics":["quiet"]}`, Status: 204},
	})
	done := make(chan response, 1)
	go func() {
		done <- do(t, g, apitest.Exchange{Method: "GET", Path: "/consumers/lg/instances/l/records", Header: map[string]string{"Accept": ctBinary}})
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	run(t, g, []apitest.Exchange{{Method: "DELETE", Path: "/consumers/lg/instances/l", Status: 204}})
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
