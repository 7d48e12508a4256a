package v3_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/kgate/kgate/internal/testutil"
)

const cid = "kgate-embedded" // the embedded broker's cluster id in tests

// TestGolden walks every v3 endpoint in an order that builds the state the
// next ones read, and compares each exchange with testdata/golden/*.
func TestGolden(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	c := "/v3/clusters/" + cid
	run := func(ex exchange) []byte {
		t.Helper()
		resp, b := do(t, g, ex)
		check(t, ex, resp, b)
		testutil.Golden(t, "golden/"+ex.name, render(g, ex, resp, b))
		return b
	}
	steps := []exchange{
		{name: "clusters.list", method: "GET", path: "/v3/clusters", status: 200},
		{name: "clusters.get", method: "GET", path: c, status: 200},
		{name: "brokers.list", method: "GET", path: c + "/brokers", status: 200},
		{name: "brokers.get", method: "GET", path: c + "/brokers/0", status: 200},
		{name: "topics.create", method: "POST", path: c + "/topics", status: 201,
			body: `{"topic_name":"orders","partitions_count":2,"configs":[{"name":"retention.ms","value":"86400000"}]}`},
		{name: "topics.create_validate_only", method: "POST", path: c + "/topics", status: 200,
			body: `{"topic_name":"later","partitions_count":4,"validate_only":true}`},
		{name: "topics.create_assignments", method: "POST", path: c + "/topics", status: 201,
			body: `{"topic_name":"assigned","replicas_assignments":{"0":[0],"1":[0]}}`},
		{name: "topics.list", method: "GET", path: c + "/topics", status: 200},
		{name: "topics.get", method: "GET", path: c + "/topics/orders", status: 200},
		{name: "topics.update_partitions", method: "PATCH", path: c + "/topics/orders", status: 200, body: `{"partitions_count":3}`},
		{name: "brokers.replicas", method: "GET", path: c + "/brokers/0/partition-replicas", status: 200},
		{name: "topic_configs.list", method: "GET", path: c + "/topics/orders/configs", status: 200},
		{name: "topic_configs.get", method: "GET", path: c + "/topics/orders/configs/retention.ms", status: 200},
		{name: "topic_configs.update", method: "PUT", path: c + "/topics/orders/configs/cleanup.policy", status: 204, body: `{"value":"compact"}`},
		{name: "topic_configs.get_updated", method: "GET", path: c + "/topics/orders/configs/cleanup.policy", status: 200},
		{name: "topic_configs.delete", method: "DELETE", path: c + "/topics/orders/configs/retention.ms", status: 204},
		{name: "topic_configs.get_reset", method: "GET", path: c + "/topics/orders/configs/retention.ms", status: 200},
		{name: "topic_configs.alter", method: "POST", path: c + "/topics/orders/configs:alter", status: 204,
			body: `{"data":[{"name":"cleanup.policy","operation":"DELETE"},{"name":"max.message.bytes","value":"2000000"}]}`},
		{name: "topic_configs.alter_validate_only", method: "POST", path: c + "/topics/orders/configs:alter", status: 204,
			body: `{"data":[{"name":"retention.ms","value":"1000"}],"validate_only":true}`},
		{name: "topic_configs.get_altered", method: "GET", path: c + "/topics/orders/configs/max.message.bytes", status: 200},
		{name: "partitions.list", method: "GET", path: c + "/topics/orders/partitions", status: 200},
		{name: "partitions.get", method: "GET", path: c + "/topics/orders/partitions/1", status: 200},
		{name: "replicas.list", method: "GET", path: c + "/topics/orders/partitions/1/replicas", status: 200},
		{name: "replicas.get", method: "GET", path: c + "/topics/orders/partitions/1/replicas/0", status: 200},
		{name: "records.produce", method: "POST", path: c + "/topics/orders/records", status: 200,
			body: `{"partition_id":0,"key":{"type":"STRING","data":"order-1"},"value":{"type":"JSON","data":{"sku":"A1","qty":2}},"timestamp":"2024-01-02T03:04:05.678Z"}
{"partition_id":0,"value":{"type":"BINARY","data":"AAEC/w=="},"headers":[{"name":"trace","value":"dHJhY2U="},{"name":"empty","value":null}],"timestamp":"2024-01-02T03:04:06Z"}
{"partition_id":1,"key":{"type":"BINARY","data":"a2V5"},"value":{"type":"STRING","data":"plain text"},"timestamp":"2024-01-02T03:04:07.100Z"}
{"partition_id":9,"value":{"type":"STRING","data":"no such partition"}}
{"value":{"type":"BINARY","data":"not base64!"}}
{"value":{"type":"AVRO","data":{}}}
{"partition_id":2,"value":{"type":"JSON","data":null},"timestamp":"2024-01-02T03:04:08.001Z"}`},
		{name: "records.batch", method: "POST", path: c + "/topics/orders/records:batch", status: 207,
			body: `{"entries":[{"id":"a","partition_id":2,"value":{"type":"STRING","data":"one"},"timestamp":"2024-01-02T03:04:09Z"},{"id":"b","partition_id":7,"value":{"type":"STRING","data":"two"}},{"id":"c","value":{"type":"XML","data":"<x/>"}},{"id":"d","partition_id":2,"key":{"type":"STRING","data":"k"},"value":{"type":"JSON","data":[1,2]},"timestamp":"2024-01-02T03:04:10Z"}]}`},
		{name: "partitions.offsets", method: "GET", path: c + "/topics/orders/partitions/0/offset", status: 200},
		{name: "partitions.offsets_type", method: "GET", path: c + "/topics/orders/partitions/2/offset?offset_type=earliest_and_latest", status: 200},
		{name: "broker_configs.list", method: "GET", path: c + "/brokers/0/configs", status: 200},
		{name: "broker_configs.list_all", method: "GET", path: c + "/brokers/-/configs", status: 200},
		{name: "broker_configs.get", method: "GET", path: c + "/brokers/0/configs/log.retention.ms", status: 200},
		{name: "broker_configs.update", method: "PUT", path: c + "/brokers/0/configs/log.retention.ms", status: 204, body: `{"value":"3600000"}`},
		{name: "broker_configs.get_updated", method: "GET", path: c + "/brokers/0/configs/log.retention.ms", status: 200},
		{name: "broker_configs.delete", method: "DELETE", path: c + "/brokers/0/configs/log.retention.ms", status: 204},
		{name: "broker_configs.alter", method: "POST", path: c + "/brokers/0/configs:alter", status: 204,
			body: `{"data":[{"name":"log.retention.bytes","value":"1073741824"}]}`},
		{name: "cluster_configs.list", method: "GET", path: c + "/broker-configs", status: 200},
		{name: "cluster_configs.update", method: "PUT", path: c + "/broker-configs/log.retention.bytes", status: 204, body: `{"value":"2147483648"}`},
		{name: "cluster_configs.get", method: "GET", path: c + "/broker-configs/log.retention.bytes", status: 200},
		{name: "cluster_configs.delete", method: "DELETE", path: c + "/broker-configs/log.retention.bytes", status: 204},
		{name: "cluster_configs.alter", method: "POST", path: c + "/broker-configs:alter", status: 204,
			body: `{"data":[{"name":"log.retention.bytes","operation":"DELETE"}]}`},
		{name: "acls.create", method: "POST", path: c + "/acls", status: 201,
			body: `{"resource_type":"TOPIC","resource_name":"orders","pattern_type":"LITERAL","principal":"User:alice","host":"*","operation":"READ","permission":"ALLOW"}`},
		{name: "acls.batch", method: "POST", path: c + "/acls:batch", status: 204,
			body: `{"data":[{"resource_type":"GROUP","resource_name":"billing-","pattern_type":"PREFIXED","principal":"User:bob","host":"*","operation":"READ","permission":"ALLOW"},{"resource_type":"CLUSTER","resource_name":"kafka-cluster","pattern_type":"LITERAL","principal":"User:bob","host":"10.0.0.1","operation":"DESCRIBE","permission":"DENY"}]}`},
		{name: "acls.search", method: "GET", path: c + "/acls", status: 200},
		{name: "acls.search_filtered", method: "GET", path: c + "/acls?principal=User:bob&operation=read", status: 200},
		{name: "acls.delete", method: "DELETE", path: c + "/acls?resource_type=GROUP&pattern_type=ANY&operation=ANY&permission=ALLOW&principal=User:bob", status: 200},
		{name: "acls.search_after_delete", method: "GET", path: c + "/acls", status: 200},
	}
	for _, ex := range steps {
		run(ex)
	}

	// Consumer groups: one member that read and committed some records.
	run(exchange{name: "topics.create_events", method: "POST", path: c + "/topics", status: 201, body: `{"topic_name":"events","partitions_count":1}`})
	run(exchange{name: "records.produce_events", method: "POST", path: c + "/topics/events/records", status: 200,
		body: `{"value":{"type":"STRING","data":"e1"},"timestamp":"2024-01-02T00:00:01Z"}{"value":{"type":"STRING","data":"e2"},"timestamp":"2024-01-02T00:00:02Z"}{"value":{"type":"STRING","data":"e3"},"timestamp":"2024-01-02T00:00:03Z"}`})
	newConsumer(t, g, "billing", "events", 2)
	gp := c + "/consumer-groups/billing"
	run(exchange{name: "consumer_groups.list", method: "GET", path: c + "/consumer-groups", status: 200})
	run(exchange{name: "consumer_groups.get", method: "GET", path: gp, status: 200})
	b := run(exchange{name: "consumers.list", method: "GET", path: gp + "/consumers", status: 200})
	var cl struct {
		Data []struct {
			ConsumerID string `json:"consumer_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &cl); err != nil || len(cl.Data) != 1 {
		t.Fatalf("consumers: %s (%v)", b, err)
	}
	member := cl.Data[0].ConsumerID
	run(exchange{name: "consumers.get", method: "GET", path: gp + "/consumers/" + member, status: 200})
	run(exchange{name: "assignments.list", method: "GET", path: gp + "/consumers/" + member + "/assignments", status: 200})
	run(exchange{name: "assignments.get", method: "GET", path: gp + "/consumers/" + member + "/assignments/events/partitions/0", status: 200})
	run(exchange{name: "lags.list", method: "GET", path: gp + "/lags", status: 200})
	run(exchange{name: "lags.get", method: "GET", path: gp + "/lags/events/partitions/0", status: 200})
	run(exchange{name: "lag_summary.get", method: "GET", path: gp + "/lag-summary", status: 200})

	run(exchange{name: "topics.delete", method: "DELETE", path: c + "/topics/assigned", status: 204})
	run(exchange{name: "topics.get_deleted", method: "GET", path: c + "/topics/assigned", status: http.StatusNotFound, code: 40403})
}
