package v3_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/httpapi/apitest"
	"github.com/kgate/kgate/internal/testutil"
)

const cid = "kgate-embedded" // the embedded broker's cluster id in tests

// TestGolden walks every v3 endpoint in an order that builds the state the
// next ones read, and compares each exchange with testdata/golden/*.
func TestGolden(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	c := "/v3/clusters/" + cid
	run := func(ex apitest.Exchange) []byte {
		t.Helper()
		return apitest.Run(t, g, ex)
	}
	steps := []apitest.Exchange{
		{Name: "clusters.list", Method: "GET", Path: "/v3/clusters", Status: 200},
		{Name: "clusters.get", Method: "GET", Path: c, Status: 200},
		{Name: "brokers.list", Method: "GET", Path: c + "/brokers", Status: 200},
		{Name: "brokers.get", Method: "GET", Path: c + "/brokers/0", Status: 200},
		{Name: "topics.create", Method: "POST", Path: c + "/topics", Status: 201,
			Body: `{"topic_name":"orders","partitions_count":2,"configs":[{"name":"retention.ms","value":"86400000"}]}`},
		{Name: "topics.create_validate_only", Method: "POST", Path: c + "/topics", Status: 200,
			Body: `{"topic_name":"later","partitions_count":4,"validate_only":true}`},
		{Name: "topics.create_assignments", Method: "POST", Path: c + "/topics", Status: 201,
			Body: `{"topic_name":"assigned","replicas_assignments":{"0":[0],"1":[0]}}`},
		{Name: "topics.list", Method: "GET", Path: c + "/topics", Status: 200},
		{Name: "topics.get", Method: "GET", Path: c + "/topics/orders", Status: 200},
		{Name: "topics.update_partitions", Method: "PATCH", Path: c + "/topics/orders", Status: 200, Body: `{"partitions_count":3}`},
		{Name: "brokers.replicas", Method: "GET", Path: c + "/brokers/0/partition-replicas", Status: 200},
		{Name: "topic_configs.list", Method: "GET", Path: c + "/topics/orders/configs", Status: 200},
		{Name: "topic_configs.get", Method: "GET", Path: c + "/topics/orders/configs/retention.ms", Status: 200},
		{Name: "topic_configs.update", Method: "PUT", Path: c + "/topics/orders/configs/cleanup.policy", Status: 204, Body: `{"value":"compact"}`},
		{Name: "topic_configs.get_updated", Method: "GET", Path: c + "/topics/orders/configs/cleanup.policy", Status: 200},
		{Name: "topic_configs.delete", Method: "DELETE", Path: c + "/topics/orders/configs/retention.ms", Status: 204},
		{Name: "topic_configs.get_reset", Method: "GET", Path: c + "/topics/orders/configs/retention.ms", Status: 200},
		{Name: "topic_configs.alter", Method: "POST", Path: c + "/topics/orders/configs:alter", Status: 204,
			Body: `{"data":[{"name":"cleanup.policy","operation":"DELETE"},{"name":"max.message.bytes","value":"2000000"}]}`},
		{Name: "topic_configs.alter_validate_only", Method: "POST", Path: c + "/topics/orders/configs:alter", Status: 204,
			Body: `{"data":[{"name":"retention.ms","value":"1000"}],"validate_only":true}`},
		{Name: "topic_configs.get_altered", Method: "GET", Path: c + "/topics/orders/configs/max.message.bytes", Status: 200},
		{Name: "partitions.list", Method: "GET", Path: c + "/topics/orders/partitions", Status: 200},
		{Name: "partitions.get", Method: "GET", Path: c + "/topics/orders/partitions/1", Status: 200},
		{Name: "replicas.list", Method: "GET", Path: c + "/topics/orders/partitions/1/replicas", Status: 200},
		{Name: "replicas.get", Method: "GET", Path: c + "/topics/orders/partitions/1/replicas/0", Status: 200},
		{Name: "reassignments.list_all", Method: "GET", Path: c + "/topics/-/partitions/-/reassignment", Status: 200},
		{Name: "reassignments.list", Method: "GET", Path: c + "/topics/orders/partitions/-/reassignment", Status: 200},
		{Name: "records.produce", Method: "POST", Path: c + "/topics/orders/records", Status: 200,
			Body: `{"partition_id":0,"key":{"type":"STRING","data":"order-1"},"value":{"type":"JSON","data":{"sku":"A1","qty":2}},"timestamp":"2024-01-02T03:04:05.678Z"}
{"partition_id":0,"value":{"type":"BINARY","data":"AAEC/w=="},"headers":[{"name":"trace","value":"dHJhY2U="},{"name":"empty","value":null}],"timestamp":"2024-01-02T03:04:06Z"}
{"partition_id":1,"key":{"type":"BINARY","data":"a2V5"},"value":{"type":"STRING","data":"plain text"},"timestamp":"2024-01-02T03:04:07.100Z"}
{"partition_id":9,"value":{"type":"STRING","data":"no such partition"}}
{"value":{"type":"BINARY","data":"not base64!"}}
{"value":{"type":"AVRO","data":{}}}
{"partition_id":2,"value":{"type":"JSON","data":null},"timestamp":"2024-01-02T03:04:08.001Z"}`},
		{Name: "records.batch", Method: "POST", Path: c + "/topics/orders/records:batch", Status: 207,
			Body: `{"entries":[{"id":"a","partition_id":2,"value":{"type":"STRING","data":"one"},"timestamp":"2024-01-02T03:04:09Z"},{"id":"b","partition_id":7,"value":{"type":"STRING","data":"two"}},{"id":"c","value":{"type":"XML","data":"<x/>"}},{"id":"d","partition_id":2,"key":{"type":"STRING","data":"k"},"value":{"type":"JSON","data":[1,2]},"timestamp":"2024-01-02T03:04:10Z"}]}`},
		{Name: "partitions.offsets", Method: "GET", Path: c + "/topics/orders/partitions/0/offset", Status: 200},
		{Name: "partitions.offsets_type", Method: "GET", Path: c + "/topics/orders/partitions/2/offset?offset_type=earliest_and_latest", Status: 200},
		{Name: "broker_configs.list", Method: "GET", Path: c + "/brokers/0/configs", Status: 200},
		{Name: "broker_configs.list_all", Method: "GET", Path: c + "/brokers/-/configs", Status: 200},
		{Name: "broker_configs.get", Method: "GET", Path: c + "/brokers/0/configs/log.retention.ms", Status: 200},
		{Name: "broker_configs.update", Method: "PUT", Path: c + "/brokers/0/configs/log.retention.ms", Status: 204, Body: `{"value":"3600000"}`},
		{Name: "broker_configs.get_updated", Method: "GET", Path: c + "/brokers/0/configs/log.retention.ms", Status: 200},
		{Name: "broker_configs.delete", Method: "DELETE", Path: c + "/brokers/0/configs/log.retention.ms", Status: 204},
		{Name: "broker_configs.alter", Method: "POST", Path: c + "/brokers/0/configs:alter", Status: 204,
			Body: `{"data":[{"name":"log.retention.bytes","value":"1073741824"}]}`},
		{Name: "cluster_configs.list", Method: "GET", Path: c + "/broker-configs", Status: 200},
		{Name: "cluster_configs.update", Method: "PUT", Path: c + "/broker-configs/log.retention.bytes", Status: 204, Body: `{"value":"2147483648"}`},
		{Name: "cluster_configs.get", Method: "GET", Path: c + "/broker-configs/log.retention.bytes", Status: 200},
		{Name: "cluster_configs.delete", Method: "DELETE", Path: c + "/broker-configs/log.retention.bytes", Status: 204},
		{Name: "cluster_configs.alter", Method: "POST", Path: c + "/broker-configs:alter", Status: 204,
			Body: `{"data":[{"name":"log.retention.bytes","operation":"DELETE"}]}`},
		{Name: "acls.create", Method: "POST", Path: c + "/acls", Status: 201,
			Body: `{"resource_type":"TOPIC","resource_name":"orders","pattern_type":"LITERAL","principal":"User:alice","host":"*","operation":"READ","permission":"ALLOW"}`},
		{Name: "acls.batch", Method: "POST", Path: c + "/acls:batch", Status: 204,
			Body: `{"data":[{"resource_type":"GROUP","resource_name":"billing-","pattern_type":"PREFIXED","principal":"User:bob","host":"*","operation":"READ","permission":"ALLOW"},{"resource_type":"CLUSTER","resource_name":"kafka-cluster","pattern_type":"LITERAL","principal":"User:bob","host":"10.0.0.1","operation":"DESCRIBE","permission":"DENY"}]}`},
		{Name: "acls.search", Method: "GET", Path: c + "/acls", Status: 200},
		{Name: "acls.search_filtered", Method: "GET", Path: c + "/acls?principal=User:bob&operation=read", Status: 200},
		{Name: "acls.delete", Method: "DELETE", Path: c + "/acls?resource_type=GROUP&pattern_type=ANY&operation=ANY&permission=ALLOW&principal=User:bob", Status: 200},
		{Name: "acls.search_after_delete", Method: "GET", Path: c + "/acls", Status: 200},
	}
	for _, ex := range steps {
		run(ex)
	}

	// Consumer groups: one member that read and committed some records.
	run(apitest.Exchange{Name: "topics.create_events", Method: "POST", Path: c + "/topics", Status: 201, Body: `{"topic_name":"events","partitions_count":1}`})
	run(apitest.Exchange{Name: "records.produce_events", Method: "POST", Path: c + "/topics/events/records", Status: 200,
		Body: `{"value":{"type":"STRING","data":"e1"},"timestamp":"2024-01-02T00:00:01Z"}{"value":{"type":"STRING","data":"e2"},"timestamp":"2024-01-02T00:00:02Z"}{"value":{"type":"STRING","data":"e3"},"timestamp":"2024-01-02T00:00:03Z"}`})
	newConsumer(t, g, "billing", "events", 2)
	gp := c + "/consumer-groups/billing"
	run(apitest.Exchange{Name: "consumer_groups.list", Method: "GET", Path: c + "/consumer-groups", Status: 200})
	run(apitest.Exchange{Name: "consumer_groups.get", Method: "GET", Path: gp, Status: 200})
	b := run(apitest.Exchange{Name: "consumers.list", Method: "GET", Path: gp + "/consumers", Status: 200})
	var cl struct {
		Data []struct {
			ConsumerID string `json:"consumer_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &cl); err != nil || len(cl.Data) != 1 {
		t.Fatalf("consumers: %s (%v)", b, err)
	}
	member := cl.Data[0].ConsumerID
	run(apitest.Exchange{Name: "consumers.get", Method: "GET", Path: gp + "/consumers/" + member, Status: 200})
	run(apitest.Exchange{Name: "assignments.list", Method: "GET", Path: gp + "/consumers/" + member + "/assignments", Status: 200})
	run(apitest.Exchange{Name: "assignments.get", Method: "GET", Path: gp + "/consumers/" + member + "/assignments/events/partitions/0", Status: 200})
	run(apitest.Exchange{Name: "lags.list", Method: "GET", Path: gp + "/lags", Status: 200})
	run(apitest.Exchange{Name: "lags.get", Method: "GET", Path: gp + "/lags/events/partitions/0", Status: 200})
	run(apitest.Exchange{Name: "lag_summary.get", Method: "GET", Path: gp + "/lag-summary", Status: 200})

	run(apitest.Exchange{Name: "topics.delete", Method: "DELETE", Path: c + "/topics/assigned", Status: 204})
	run(apitest.Exchange{Name: "topics.get_deleted", Method: "GET", Path: c + "/topics/assigned", Status: http.StatusNotFound, Code: 40403})
}

// newConsumer joins group to consume topic and commits what it read, so
// that the group has members, assignments, commits and lag.
func newConsumer(t *testing.T, g *testutil.Gateway, group, topic string, commitAfter int) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.Brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ClientID("golden-client"), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < commitAfter {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumer read %d of %d records: %v", len(got), commitAfter, err)
		}
		got = append(got, fs.Records()...)
	}
	if err := cl.CommitRecords(ctx, got[commitAfter-1]); err != nil {
		t.Fatal(err)
	}
	return cl
}
