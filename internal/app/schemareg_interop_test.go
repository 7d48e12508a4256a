package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/testutil"
)

// createTopics creates topics on a gateway's embedded broker (one
// partition each), for clients that do not create them.
func createTopics(t testing.TB, g *testutil.Gateway, topics ...string) {
	t.Helper()
	kc, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	res, err := kadm.NewClient(kc).CreateTopics(t.Context(), 1, -1, nil, topics...)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("creating %v: %v", topics, err)
	}
}

// TestSchemaRegistryKafkaJS: @kafkajs/confluent-schema-registry (npm)
// registers an Avro schema with kgate's registry and encodes records
// that kafkajs produces to the embedded broker; a kgate v2 avro consumer
// returns them as JSON. The reverse: records produced over HTTP with
// value_schema are decoded by the npm library from a kafkajs consumer.
// Both packages are installed from npm into a temporary directory.
func TestSchemaRegistryKafkaJS(t *testing.T) {
	t.Parallel()
	node := testutil.RequireTool(t, "node")
	npm := testutil.RequireTool(t, "npm")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund",
		"kafkajs@2.2.4", "@kafkajs/confluent-schema-registry@3.9.0").CombinedOutput(); err != nil {
		testutil.Missing(t, fmt.Sprintf("npm install @kafkajs/confluent-schema-registry: %v\n%s", err, out))
	}
	script := filepath.Join(dir, "client.js")
	if err := os.WriteFile(script, []byte(`
const { Kafka, logLevel } = require('kafkajs');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');
const [registry, broker, mode, topic, n] = process.argv.slice(2);
const reg = new SchemaRegistry({ host: registry });
const kafka = new Kafka({ brokers: [broker], logLevel: logLevel.NOTHING });
const schema = { type: 'record', name: 'Reading', namespace: 'kgate.test', fields: [
  { name: 'sensor', type: 'string' },
  { name: 'celsius', type: 'double' },
  { name: 'tags', type: { type: 'array', items: 'string' }, default: [] },
  { name: 'note', type: ['null', 'string'], default: null } ] };
(async () => {
  if (mode === 'produce') {
    const { id } = await reg.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: topic + '-value' });
    const values = [{ sensor: 'a', celsius: 21.5, tags: ['x', 'y'], note: null }, { sensor: 'b', celsius: -3, tags: [], note: 'cold' }];
    const messages = [];
    for (const v of values) messages.push({ value: await reg.encode(id, v) });
    const p = kafka.producer();
    await p.connect();
    await p.send({ topic, messages });
    await p.disconnect();
    console.log('id ' + id);
    return;
  }
  const got = [];
  const c = kafka.consumer({ groupId: 'npm-' + topic });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  const timer = setTimeout(() => { console.log('timeout', JSON.stringify(got)); process.exit(2); }, 40000);
  await c.run({ eachMessage: async ({ message }) => {
    got.push(await reg.decode(message.value));
    if (got.length === Number(n)) {
      clearTimeout(timer);
      console.log('got ' + JSON.stringify(got));
      setImmediate(async () => { await c.disconnect(); process.exit(0); });
    }
  } });
})().catch((e) => { console.log('error', e.message); process.exit(1); });
`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := testutil.StartGateway(t, nil)
	registry := "http://" + g.Info.SchemaRegistryAddr
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, append([]string{script, registry, g.Info.BrokerAddr}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	createTopics(t, g, "npm-readings")
	out := run("produce", "npm-readings")
	if !strings.HasPrefix(out, "id ") {
		t.Fatalf("npm produce: %s", out)
	}
	got := consumeV2(t, g, "npm-g", "npm-readings", "avro", 2)
	want := []string{
		`{"sensor":"a","celsius":21.5,"tags":["x","y"],"note":null}`,
		`{"sensor":"b","celsius":-3,"tags":[],"note":{"string":"cold"}}`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("kgate read the npm library's record %d as %s, want %s", i, got[i], want[i])
		}
	}

	// The reverse: produced over HTTP with value_schema, decoded by the
	// npm library (which fetches the schema by the id in the bytes).
	schema := `{"type":"record","name":"Reading","namespace":"kgate.test","fields":[{"name":"sensor","type":"string"},{"name":"celsius","type":"double"},{"name":"tags","type":{"type":"array","items":"string"},"default":[]},{"name":"note","type":["null","string"],"default":null}]}`
	body := `{"value_schema":` + mustJSONString(schema) + `,"records":[{"value":{"sensor":"c","celsius":30.25,"tags":["z"],"note":{"string":"warm"}}},{"value":{"sensor":"d","celsius":0}}]}`
	if r := do(t, "POST", g.URL+"/topics/npm-http", body, "Content-Type", mtAvroV2); r.status != 200 {
		t.Fatalf("avro produce = %d %s", r.status, r.body)
	}
	out = run("consume", "npm-http", "2")
	line, ok := strings.CutPrefix(strings.TrimSpace(out), "got ")
	var decoded []map[string]any
	if !ok || json.Unmarshal([]byte(line), &decoded) != nil {
		t.Fatalf("npm consume: %s", out)
	}
	wantDecoded := `[{"celsius":30.25,"note":"warm","sensor":"c","tags":["z"]},{"celsius":0,"note":null,"sensor":"d","tags":[]}]`
	if b, _ := json.Marshal(decoded); string(b) != wantDecoded {
		t.Errorf("the npm library decoded %s, want %s", b, wantDecoded)
	}
}

// TestSchemaRegistryPythonSerializers: confluent-kafka-python's
// SchemaRegistryClient with its JSONSerializer and ProtobufSerializer
// (which registers a base64 FileDescriptorProto in 1.x) registers with
// kgate's registry; the records it produces to the embedded broker are
// decoded by kgate's v2 jsonschema and protobuf consumers. Debian's
// python3-confluent-kafka, python3-requests, python3-jsonschema and
// python3-protobuf.
func TestSchemaRegistryPythonSerializers(t *testing.T) {
	t.Parallel()
	py := testutil.RequirePython(t, "confluent_kafka", "requests", "jsonschema", "google.protobuf",
		"confluent_kafka.schema_registry.json_schema", "confluent_kafka.schema_registry.protobuf")
	script := filepath.Join(t.TempDir(), "serializers.py")
	if err := os.WriteFile(script, []byte(`
import sys
from confluent_kafka import Producer
from confluent_kafka.serialization import SerializationContext, MessageField
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

registry, broker = sys.argv[1], sys.argv[2]
client = SchemaRegistryClient({'url': registry})
producer = Producer({'bootstrap.servers': broker})
failures = []
def report(err, msg):
    if err is not None:
        failures.append(str(err))

def ctx(topic):
    return SerializationContext(topic, MessageField.VALUE)

schema = '{"$schema":"http://json-schema.org/draft-07/schema#","title":"Reading","type":"object","properties":{"sensor":{"type":"string"},"celsius":{"type":"number"}},"required":["sensor"]}'
js = JSONSerializer(schema, client)
for r in [{'sensor': 'a', 'celsius': 21.5}, {'sensor': 'b'}]:
    producer.produce('py-json', value=js(r, ctx('py-json')), on_delivery=report)
try:
    js({'celsius': 1}, ctx('py-json'))
    print('an invalid record was serialized')
    sys.exit(1)
except Exception:
    pass

# A message class built at run time (no protoc): the serializer registers
# its file as the base64 of a FileDescriptorProto.
F = descriptor_pb2.FieldDescriptorProto
fdp = descriptor_pb2.FileDescriptorProto(name='order.proto', package='shop', syntax='proto3')
m = fdp.message_type.add(name='Order')
m.field.add(name='id', number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
m.field.add(name='qty', number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
pool = descriptor_pool.DescriptorPool()
pool.AddSerializedFile(fdp.SerializeToString())
Order = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName('shop.Order'))
ps = ProtobufSerializer(Order, client)
for o in [Order(id='o1', qty=3), Order(id='o2', qty=40000000000)]:
    producer.produce('py-proto', value=ps(o, ctx('py-proto')), on_delivery=report)

left = producer.flush(30)
if left or failures:
    print('not delivered:', left, failures)
    sys.exit(1)
print('ok', client.get_latest_version('py-json-value').schema_id, client.get_latest_version('py-proto-value').schema_id)
`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := testutil.StartGateway(t, nil)
	createTopics(t, g, "py-json", "py-proto")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, script, "http://"+g.Info.SchemaRegistryAddr, g.Info.BrokerAddr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok ") {
		t.Fatalf("python serializers: %v\n%s", err, out)
	}
	if got := consumeV2(t, g, "py-json-g", "py-json", "jsonschema", 2); got[0] != `{"sensor":"a","celsius":21.5}` || got[1] != `{"sensor":"b"}` {
		t.Errorf("jsonschema records = %v", got)
	}
	if got := consumeV2(t, g, "py-proto-g", "py-proto", "protobuf", 2); got[0] != `{"id":"o1","qty":"3"}` || got[1] != `{"id":"o2","qty":"40000000000"}` {
		t.Errorf("protobuf records = %v", got)
	}
	// kgate produces with the Python client's schemas by id, validated.
	cl := srClient(t, "http://"+g.Info.SchemaRegistryAddr)
	pb, err := cl.SchemaByVersion(t.Context(), "py-proto-value", -1)
	if err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", g.URL+"/topics/py-proto", fmt.Sprintf(`{"value_schema_id":%d,"records":[{"value":{"id":"o3","qty":"5"}}]}`, pb.ID),
		"Content-Type", "application/vnd.kafka.protobuf.v2+json"); r.status != 200 {
		t.Fatalf("protobuf produce by the Python client's id = %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/topics/py-proto", fmt.Sprintf(`{"value_schema_id":%d,"records":[{"value":{"id":"o3","qty":"many"}}]}`, pb.ID),
		"Content-Type", "application/vnd.kafka.protobuf.v2+json"); r.status != 422 {
		t.Fatalf("a record not fitting the Python client's schema = %d %s", r.status, r.body)
	}
}
