package v3_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/testutil"
)

// requireTool returns the path of an external client, skipping the test
// when it is missing unless KGATE_REQUIRE_INTEROP=1 (CI).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KGATE_REQUIRE_INTEROP") == "1" {
			t.Fatalf("%s is required (KGATE_REQUIRE_INTEROP=1): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// kcatRecord is one record as kcat printed it.
type kcatRecord struct {
	partition    int
	offset       int64
	key, value   []byte // nil for a Kafka null
	headers      string
	keyNull      bool
	valueNull    bool
	timestampMs  int64
	kcatFormatOK bool
}

// kcatFormat prints lengths before the raw key and value so that any
// bytes (newlines, NULs) parse back exactly.
const kcatFormat = `%p:%o:%T:%K:%S:%k%s|%h\n`

// kcatRead consumes topic from the beginning with kcat and parses what it
// printed with kcatFormat.
func kcatRead(t *testing.T, kcat, broker, topic string) []kcatRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q", "-f", kcatFormat)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v: %s", err, stderr.String())
	}
	var recs []kcatRecord
	for len(out) > 0 {
		var r kcatRecord
		fields := make([]int64, 5)
		for i := range fields {
			j := bytes.IndexByte(out, ':')
			if j < 0 {
				t.Fatalf("kcat output %q", out)
			}
			n, err := strconv.ParseInt(string(out[:j]), 10, 64)
			if err != nil {
				t.Fatalf("kcat field %q: %v", out[:j], err)
			}
			fields[i] = n
			out = out[j+1:]
		}
		r.partition, r.offset, r.timestampMs = int(fields[0]), fields[1], fields[2]
		kl, vl := fields[3], fields[4]
		take := func(n int64) []byte {
			if n < 0 {
				return nil
			}
			b := append([]byte{}, out[:n]...)
			out = out[n:]
			return b
		}
		r.key, r.keyNull = take(kl), kl < 0
		r.value, r.valueNull = take(vl), vl < 0
		if len(out) == 0 || out[0] != '|' {
			t.Fatalf("kcat output after the value: %q", out)
		}
		end := bytes.IndexByte(out, '\n')
		r.headers = string(out[1:end])
		out = out[end+1:]
		recs = append(recs, r)
	}
	return recs
}

// TestKcatReadsV3 writes records through the v3 stream and reads them back
// with kcat: the exact bytes of keys and values, the headers and the
// timestamps.
func TestKcatReadsV3(t *testing.T) {
	kcat := requireTool(t, "kcat")
	g := testutil.StartGateway(t, nil)
	type rec struct {
		key, value []byte
		keyJSON    string // the key/value objects as sent
		valueJSON  string
		headers    string // as kcat prints them
		headerJSON string
		ts         int64
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	recs := []rec{
		{key: []byte{0, 1, '\n', 0xff}, value: []byte("line1\nline2\x00end"), headers: "trace=abc,bin=x",
			headerJSON: `[{"name":"trace","value":"` + b64([]byte("abc")) + `"},{"name":"bin","value":"eA=="}]`, ts: 1704164645678},
		{key: []byte("user-42"), valueJSON: `{"type":"JSON","data":{"n":1,"s":"é"}}`, value: []byte(`{"n":1,"s":"é"}`), keyJSON: `{"type":"STRING","data":"user-42"}`, ts: 1704164646000},
		{value: []byte("no key, empty header"), headers: "e=", headerJSON: `[{"name":"e","value":""}]`, ts: 1704164647001},
		{key: []byte(""), value: nil, valueJSON: `{"type":"STRING","data":null}`, keyJSON: `{"type":"STRING","data":""}`, ts: 1704164648002},
	}
	var body strings.Builder
	for _, r := range recs {
		kj, vj := r.keyJSON, r.valueJSON
		if kj == "" && r.key != nil {
			kj = `{"type":"BINARY","data":"` + b64(r.key) + `"}`
		}
		if vj == "" {
			vj = `{"type":"BINARY","data":"` + b64(r.value) + `"}`
		}
		body.WriteString(`{"partition_id":0`)
		if kj != "" {
			body.WriteString(`,"key":` + kj)
		}
		body.WriteString(`,"value":` + vj)
		if r.headerJSON != "" {
			body.WriteString(`,"headers":` + r.headerJSON)
		}
		body.WriteString(fmt.Sprintf(`,"timestamp":"%s"}`, time.UnixMilli(r.ts).UTC().Format(time.RFC3339Nano)))
		body.WriteString("\n")
	}
	resp, err := http.Post(g.URL+"/v3/clusters/"+cid+"/topics/interop/records", "application/json", strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	resp.Body.Close()
	if n := strings.Count(out.String(), `"error_code":200`); n != len(recs) {
		t.Fatalf("receipts: %s", out.String())
	}
	got := kcatRead(t, kcat, g.Info.BrokerAddr, "interop")
	if len(got) != len(recs) {
		t.Fatalf("kcat read %d records, want %d", len(got), len(recs))
	}
	for i, w := range recs {
		k := got[i]
		if !bytes.Equal(k.key, w.key) || k.keyNull != (w.key == nil) {
			t.Errorf("record %d key %q (null %v), want %q", i, k.key, k.keyNull, w.key)
		}
		if !bytes.Equal(k.value, w.value) || k.valueNull != (w.value == nil) {
			t.Errorf("record %d value %q (null %v), want %q", i, k.value, k.valueNull, w.value)
		}
		if k.headers != w.headers {
			t.Errorf("record %d headers %q, want %q", i, k.headers, w.headers)
		}
		if k.timestampMs != w.ts || k.offset != int64(i) {
			t.Errorf("record %d at offset %d timestamp %d, want %d", i, k.offset, k.timestampMs, w.ts)
		}
	}
}
