package app_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicSizes: GET .../topics/{t}/partitions/-/sizes (a kgate
// extension) answers the topic's size on disk per partition from the
// broker's DescribeLogDirs, grows as records are written, never names
// the brokers' directories, and is authorized like show_topic.
func TestTopicSizes(t *testing.T) {
	g := secureGateway(t, nil)
	cl := pushTopic(t, g, "customer1", 2)
	pushTopic(t, g, "customer2", 1)
	base := g.URL + "/v3/clusters/" + g.Config.Broker.ClusterID + "/topics/"
	type sizes struct {
		Kind       string `json:"kind"`
		TopicName  string `json:"topic_name"`
		Size       int64  `json:"size"`
		Partitions []struct {
			PartitionID int32 `json:"partition_id"`
			Size        int64 `json:"size"`
			Replicas    []struct {
				BrokerID int32 `json:"broker_id"`
				Size     int64 `json:"size"`
			} `json:"replicas"`
		} `json:"partitions"`
	}
	read := func() sizes {
		t.Helper()
		r := do(t, "GET", base+"customer1/partitions/-/sizes", "", "Authorization", basic("customer1"))
		if r.status != http.StatusOK {
			t.Fatalf("sizes of customer1: %d %s", r.status, r.body)
		}
		if strings.Contains(string(r.body), "dir") {
			t.Errorf("the answer names a directory: %s", r.body)
		}
		var s sizes
		if err := json.Unmarshal(r.body, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := read()
	if before.Kind != "KafkaTopicSizes" || before.TopicName != "customer1" || len(before.Partitions) != 2 {
		t.Fatalf("sizes: %+v", before)
	}
	// Random bytes: the producer's compression cannot shrink them.
	value := make([]byte, 10000)
	_, _ = rand.Read(value)
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Partition: 1, Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	after := read()
	p1 := after.Partitions[1]
	if p1.PartitionID != 1 || p1.Size < before.Partitions[1].Size+10000 || len(p1.Replicas) == 0 || after.Size < before.Size+10000 {
		t.Errorf("after 10 kB to partition 1: %+v (before %+v)", after, before)
	}
	if after.Partitions[0].Size != before.Partitions[0].Size {
		t.Errorf("partition 0 changed: %+v, before %+v", after.Partitions[0], before.Partitions[0])
	}
	if r := do(t, "GET", base+"customer2/partitions/-/sizes", "", "Authorization", basic("customer1")); r.status != http.StatusForbidden {
		t.Errorf("customer1 reading customer2's sizes: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"nothing/partitions/-/sizes", "", "Authorization", basic("admin")); r.status != http.StatusNotFound {
		t.Errorf("sizes of a missing topic: %d %s", r.status, r.body)
	}
}
