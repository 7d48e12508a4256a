package v2_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/httpapi/apitest"
	"github.com/kgate/kgate/internal/testutil"
)

// binaryCases are keys and values with bytes that are not UTF-8, NULs and
// empty values: what HTTP writes must come out byte for byte.
var binaryCases = []struct{ key, value []byte }{
	{[]byte("device-1"), []byte{0x00, 0xff, 0xfe, 0x10, 'x'}},
	{nil, []byte("plain text")},
	{[]byte{0xc3, 0x28}, []byte{}},
}

func produceBinary(t *testing.T, g *testutil.Gateway, topic string) {
	t.Helper()
	var recs []string
	for _, c := range binaryCases {
		k := "null"
		if c.key != nil {
			k = `"` + base64.StdEncoding.EncodeToString(c.key) + `"`
		}
		recs = append(recs, fmt.Sprintf(`{"key":%s,"value":"%s","headers":[{"name":"h1","value":"%s"}]}`,
			k, base64.StdEncoding.EncodeToString(c.value), base64.StdEncoding.EncodeToString([]byte{1, 2})))
	}
	run(t, g, []apitest.Exchange{{Method: "POST", Path: "/topics/" + topic, Header: jsonHdr(ctBinary),
		Body: `{"records":[` + strings.Join(recs, ",") + `]}`, Status: 200}})
}

// TestInteropKcatReadsHTTP: kcat reads exactly the bytes (binary) and the
// JSON (json) produced over HTTP.
func TestInteropKcatReadsHTTP(t *testing.T) {
	kcat := testutil.RequireTool(t, "kcat")
	g := testutil.StartGateway(t, nil)
	produceBinary(t, g, "kc-bin")
	out, err := exec.CommandContext(t.Context(), kcat, "-b", g.Info.BrokerAddr, "-C", "-t", "kc-bin", "-e", "-q",
		"-f", "%K|%k|%S|%s|%h\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	var want bytes.Buffer
	for _, c := range binaryCases {
		if c.key == nil {
			fmt.Fprintf(&want, "-1||%d|%s|h1=\x01\x02\n", len(c.value), c.value)
		} else {
			fmt.Fprintf(&want, "%d|%s|%d|%s|h1=\x01\x02\n", len(c.key), c.key, len(c.value), c.value)
		}
	}
	if !bytes.Equal(out, want.Bytes()) {
		t.Fatalf("kcat read\n%q\nwant\n%q", out, want.Bytes())
	}

	seed := `{"records":[{"key":"AppleWatch4","value":{"deviceid": "AppleWatch4","heartrate": "72","timestamp":"2019-10-07 12:46:13"}}]}`
	run(t, g, []apitest.Exchange{{Method: "POST", Path: "/topics/customer1", Header: jsonHdr(ctJSON), Body: seed, Status: 200}})
	out, err = exec.CommandContext(t.Context(), kcat, "-b", g.Info.BrokerAddr, "-C", "-t", "customer1", "-e", "-q", "-f", "%k %s\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	if got, want := string(out), `"AppleWatch4" {"deviceid":"AppleWatch4","heartrate":"72","timestamp":"2019-10-07 12:46:13"}`+"\n"; got != want {
		t.Fatalf("kcat read %q, want %q", got, want)
	}
}

// TestInteropConfluentKafkaReadsHTTP: python3-confluent-kafka (librdkafka)
// reads the HTTP-produced bytes, keys and headers exactly.
func TestInteropConfluentKafkaReadsHTTP(t *testing.T) {
	py := testutil.RequirePython(t, "confluent_kafka")
	g := testutil.StartGateway(t, nil)
	produceBinary(t, g, "ck-bin")
	script := `
import sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "py", "auto.offset.reset": "earliest"})
c.subscribe(["ck-bin"])
got = 0
while got < 3:
    m = c.poll(10)
    if m is None:
        sys.exit("timed out")
    if m.error():
        sys.exit(str(m.error()))
    k = "null" if m.key() is None else m.key().hex()
    hs = ",".join(n + "=" + v.hex() for n, v in (m.headers() or []))
    print(k, (m.value() or b"").hex(), hs)
    got += 1
c.close()
`
	out, err := exec.CommandContext(t.Context(), py, "-c", script, g.Info.BrokerAddr).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var want strings.Builder
	for _, c := range binaryCases {
		k := "null"
		if c.key != nil {
			k = hex.EncodeToString(c.key)
		}
		fmt.Fprintf(&want, "%s %s h1=0102\n", k, hex.EncodeToString(c.value))
	}
	if string(out) != want.String() {
		t.Fatalf("confluent_kafka read\n%s\nwant\n%s", out, want.String())
	}
}

type v2Record struct {
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
}

// readRecords creates a consumer of format, subscribes to topic and reads
// n records through the v2 API.
func readRecords(t *testing.T, g *testutil.Gateway, format, topic string, n int) []v2Record {
	t.Helper()
	grp := "interop-" + topic
	inst := "/consumers/" + grp + "/instances/r"
	run(t, g, []apitest.Exchange{
		{Method: "POST", Path: "/consumers/" + grp, Header: jsonHdr(ctV2), Body: `{"name":"r","format":"` + format + `","auto.offset.reset":"earliest"}`, Status: 200},
		{Method: "POST", Path: inst + "/subscription", Header: jsonHdr(ctV2), Body: `{"topics":["` + topic + `"]}`, Status: 204},
	})
	accept := "application/vnd.kafka." + format + ".v2+json"
	var out []v2Record
	deadline := time.Now().Add(15 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		r := do(t, g, apitest.Exchange{Method: "GET", Path: inst + "/records?timeout=500", Header: map[string]string{"Accept": accept}})
		if r.status != 200 {
			t.Fatalf("records: %d %s", r.status, r.body)
		}
		var recs []v2Record
		if err := json.Unmarshal(r.body, &recs); err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		t.Fatalf("read %d records over v2, want %d", len(out), n)
	}
	return out
}

// TestInteropV2ReadsKcat: what kcat produces, the v2 binary consumer
// returns byte for byte.
func TestInteropV2ReadsKcat(t *testing.T) {
	kcat := testutil.RequireTool(t, "kcat")
	g := testutil.StartGateway(t, nil)
	createTopic(t, g, "from-kcat")
	cmd := exec.CommandContext(t.Context(), kcat, "-b", g.Info.BrokerAddr, "-P", "-t", "from-kcat", "-K", ":")
	cmd.Stdin = strings.NewReader("k1:hello world\nk2:second\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v %s", err, out)
	}
	recs := readRecords(t, g, "binary", "from-kcat", 2)
	want := [][2]string{{"k1", "hello world"}, {"k2", "second"}}
	for i, r := range recs {
		var k, v string
		_ = json.Unmarshal(r.Key, &k)
		_ = json.Unmarshal(r.Value, &v)
		kb, _ := base64.StdEncoding.DecodeString(k)
		vb, _ := base64.StdEncoding.DecodeString(v)
		if string(kb) != want[i][0] || string(vb) != want[i][1] {
			t.Fatalf("record %d: key %q value %q, want %q %q", i, kb, vb, want[i][0], want[i][1])
		}
	}
}

// TestInteropV2ReadsKafkaPython: what kafka-python produces (JSON values),
// the v2 json consumer returns as JSON.
func TestInteropV2ReadsKafkaPython(t *testing.T) {
	py := testutil.RequirePython(t, "kafka")
	g := testutil.StartGateway(t, nil)
	createTopic(t, g, "from-kpy") // kafka-python's Metadata v1 needs the topic to exist
	script := `
import sys, json
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1], key_serializer=lambda k: json.dumps(k).encode(), value_serializer=lambda v: json.dumps(v).encode())
p.send("from-kpy", key={"id": 7}, value={"temp": 21.5, "ok": True})
p.send("from-kpy", key="plain", value=[1, "two", None])
p.flush(10)
p.close()
`
	if out, err := exec.CommandContext(t.Context(), py, "-c", script, g.Info.BrokerAddr).CombinedOutput(); err != nil {
		t.Fatalf("kafka-python: %v\n%s", err, out)
	}
	recs := readRecords(t, g, "json", "from-kpy", 2)
	got := fmt.Sprintf("%s %s | %s %s", compact(recs[0].Key), compact(recs[0].Value), compact(recs[1].Key), compact(recs[1].Value))
	if want := `{"id":7} {"temp":21.5,"ok":true} | "plain" [1,"two",null]`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

func createTopic(t *testing.T, g *testutil.Gateway, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
}
