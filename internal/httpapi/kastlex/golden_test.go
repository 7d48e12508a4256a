package kastlex_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/httpapi/apitest"
	"github.com/kgate/kgate/internal/testutil"
)

type ex = apitest.Exchange

var binary = map[string]string{"Content-Type": "application/binary"}

// TestGolden walks every KastleX endpoint, v1 and v2, in an order that
// builds the state the next ones read, and compares each exchange with
// testdata/golden/*.
func TestGolden(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	run := func(e ex) { t.Helper(); apitest.Run(t, g, e) }

	// A three-partition topic, made through v3 (KastleX cannot).
	setup := ex{Name: "setup", Method: "POST", Path: "/v3/clusters/kgate-embedded/topics", Body: `{"topic_name":"multi","partitions_count":3}`, Status: 201}
	resp, b := apitest.Do(t, g, setup)
	apitest.Check(t, setup, resp, b)

	// Produce: the seed's curl (the body is the value), then with a key
	// and headers, then to a partition, over v1 and v2.
	run(ex{Name: "v1.produce", Method: "POST", Path: "/api/v1/messages/foo", Header: binary, Body: "bar", Status: 204})
	run(ex{Name: "v1.produce_key_headers", Method: "POST", Path: "/api/v1/messages/foo?key=k1", Body: "test-data", Status: 204,
		Header: map[string]string{"Content-Type": "application/binary", "X-Message-Headers": `{"foo":"1","baz":"null","bar":"s","n":2,"nil":null}`}})
	run(ex{Name: "v2.produce", Method: "POST", Path: "/api/v2/messages/foo", Header: binary, Body: "third", Status: 204})
	run(ex{Name: "v1.produce_partition", Method: "POST", Path: "/api/v1/messages/multi/2", Header: binary, Body: `{"json":"is just bytes"}`, Status: 204})
	run(ex{Name: "v2.produce_partition", Method: "POST", Path: "/api/v2/messages/multi/2?key=", Header: binary, Body: "", Status: 204})
	run(ex{Name: "v1.produce_keyed", Method: "POST", Path: "/api/v1/messages/multi?key=user-7", Header: binary, Body: "murmur2 picks the partition", Status: 204})

	// Fetch: JSON v1 and v2 at each kind of offset, and the raw value.
	run(ex{Name: "v1.fetch_last", Method: "GET", Path: "/api/v1/messages/foo/0", Status: 200})
	run(ex{Name: "v1.fetch_offset", Method: "GET", Path: "/api/v1/messages/foo/0/1", Status: 200})
	run(ex{Name: "v1.fetch_earliest", Method: "GET", Path: "/api/v1/messages/foo/0/earliest", Status: 200})
	run(ex{Name: "v1.fetch_negative", Method: "GET", Path: "/api/v1/messages/foo/0/-2", Status: 200})
	run(ex{Name: "v1.fetch_latest_empty", Method: "GET", Path: "/api/v1/messages/foo/0/latest?max_wait_time=50", Status: 200})
	run(ex{Name: "v1.fetch_max_bytes", Method: "GET", Path: "/api/v1/messages/foo/0/0?max_bytes=1&min_bytes=1", Status: 200})
	run(ex{Name: "v2.fetch", Method: "GET", Path: "/api/v2/messages/foo/0/0", Status: 200})
	run(ex{Name: "v2.fetch_last", Method: "GET", Path: "/api/v2/messages/multi/2", Status: 200})
	run(ex{Name: "v2.fetch_binary", Method: "GET", Path: "/api/v2/messages/foo/0/1", Header: map[string]string{"Accept": "application/binary"}, Status: 200})
	run(ex{Name: "v1.fetch_binary_empty", Method: "GET", Path: "/api/v1/messages/foo/0/latest?max_wait_time=0", Header: map[string]string{"Accept": "application/binary"}, Status: 200})

	// Offsets, topics, brokers, under-replicated partitions.
	run(ex{Name: "v1.offsets_latest", Method: "GET", Path: "/api/v1/offsets/foo/0", Status: 200})
	run(ex{Name: "v1.offsets_earliest", Method: "GET", Path: "/api/v1/offsets/foo/0?at=earliest", Status: 200})
	run(ex{Name: "v1.offsets_timestamp", Method: "GET", Path: "/api/v1/offsets/foo/0?at=0", Status: 200})
	run(ex{Name: "v1.topics", Method: "GET", Path: "/api/v1/topics", Status: 200})
	run(ex{Name: "v1.topic", Method: "GET", Path: "/api/v1/topics/multi", Status: 200})
	run(ex{Name: "v1.brokers", Method: "GET", Path: "/api/v1/brokers", Status: 200})
	run(ex{Name: "v1.broker", Method: "GET", Path: "/api/v1/brokers/0", Status: 200})
	run(ex{Name: "v1.urps", Method: "GET", Path: "/api/v1/urp", Status: 204})
	run(ex{Name: "v1.urp", Method: "GET", Path: "/api/v1/urp/foo", Status: 204})

	// Consumer groups: one member that committed after two records.
	consume(t, g, "kx-group", "foo", 2)
	run(ex{Name: "v1.consumers", Method: "GET", Path: "/api/v1/consumers", Status: 200})
	run(ex{Name: "v2.consumers", Method: "GET", Path: "/api/v2/consumers", Status: 200})
	run(ex{Name: "v1.consumer", Method: "GET", Path: "/api/v1/consumers/kx-group", Status: 200})
	run(ex{Name: "v2.consumer", Method: "GET", Path: "/api/v2/consumers/kx-group", Status: 200})
}

// consume joins group, reads n records of topic and commits them.
func consume(t *testing.T, g *testutil.Gateway, group, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.Brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ClientID("kx-client"), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(got), n)
		}
		got = append(got, fs.Records()...)
	}
	if err := cl.CommitRecords(ctx, got[n-1]); err != nil {
		t.Fatal(err)
	}
}
