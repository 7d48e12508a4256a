package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/app/worker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestHandleDecodesSchemas: with handle.schema_registry.url, the exec
// handler (cat) sees avro and jsonschema values produced over HTTP as
// JSON, decoded with the gateway's registry; a plain value passes
// unchanged, and one naming an unknown schema id is dead-lettered with
// its bytes as they were.
func TestHandleDecodesSchemas(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	post := func(path, contentType, body string) {
		t.Helper()
		resp, err := http.Post(g.URL+path, contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("produce = %d %s", resp.StatusCode, b)
		}
	}
	schema, _ := json.Marshal(`{"type":"record","name":"R","fields":[{"name":"n","type":"long"},{"name":"u","type":["null","string"]}]}`)
	post("/topics/hd-in", "application/vnd.kafka.avro.v2+json", `{"value_schema":`+string(schema)+`,"records":[{"value":{"n":7,"u":{"string":"x"}}}]}`)
	post("/topics/hd-in", "application/vnd.kafka.binary.v2+json", `{"records":[{"value":"cGxhaW4="}]}`)     // "plain"
	post("/topics/hd-in", "application/vnd.kafka.binary.v2+json", `{"records":[{"value":"AAAAJw9hYmM="}]}`) // byte 0, id 9999
	post("/v3/clusters/kgate-embedded/topics/hd-in/records", "application/json",
		`{"value":{"type":"JSONSCHEMA","subject":"hd-json","schema":"{\"type\":\"object\"}","data":{"a":[1, 2]}}}`)

	cfg := config.Default()
	cfg.Brokers = []string{g.Info.BrokerAddr}
	hc := &cfg.Handle
	hc.Topics, hc.Group, hc.OutputTopic, hc.DLQTopic = []string{"hd-in"}, "hd", "hd-out", "hd-dlq"
	hc.Exec.Command = []string{"cat"}
	hc.MetricsListen, hc.Progress = "", "off"
	hc.SchemaRegistry.URL = config.URL("http://" + g.Info.SchemaRegistryAddr)
	if err := cfg.ValidateFor(config.HandleCommand); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Handle(ctx, cfg, "exec", slog.New(slog.DiscardHandler), nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("handle: %v", err)
		}
	})

	read := func(topic string, n int) [][]byte {
		t.Helper()
		kc, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer kc.Close()
		var out [][]byte
		rctx, rcancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer rcancel()
		for len(out) < n {
			fs := kc.PollRecords(rctx, 10)
			if rctx.Err() != nil {
				t.Fatalf("read %d records of %s, want %d: %q", len(out), topic, n, out)
			}
			fs.EachRecord(func(r *kgo.Record) { out = append(out, r.Value) })
		}
		return out
	}
	got := read("hd-out", 3)
	want := []string{`{"n":7,"u":{"string":"x"}}`, `plain`, `{"a":[1,2]}`}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("handler output %d = %q, want %q", i, got[i], want[i])
		}
	}
	if dl := read("hd-dlq", 1); !bytes.Equal(dl[0], []byte{0, 0, 0, 0x27, 0x0f, 'a', 'b', 'c'}) {
		t.Errorf("dead letter % x, want the original bytes", dl[0])
	}
}
