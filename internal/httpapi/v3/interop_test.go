package v3_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/httpapi/apitest"
	"github.com/kgate/kgate/internal/testutil"
)

// TestKcatReadsV3 writes records through the v3 stream and reads them back
// with kcat: the exact bytes of keys and values, the headers and the
// timestamps.
func TestKcatReadsV3(t *testing.T) {
	kcat := testutil.RequireTool(t, "kcat")
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
	got := apitest.KcatRead(t, kcat, g.Info.BrokerAddr, "interop")
	if len(got) != len(recs) {
		t.Fatalf("kcat read %d records, want %d", len(got), len(recs))
	}
	for i, w := range recs {
		k := got[i]
		if !bytes.Equal(k.Key, w.key) || (k.Key == nil) != (w.key == nil) {
			t.Errorf("record %d key %q (null %v), want %q", i, k.Key, k.Key == nil, w.key)
		}
		if !bytes.Equal(k.Value, w.value) || (k.Value == nil) != (w.value == nil) {
			t.Errorf("record %d value %q (null %v), want %q", i, k.Value, k.Value == nil, w.value)
		}
		if k.Headers != w.headers {
			t.Errorf("record %d headers %q, want %q", i, k.Headers, w.headers)
		}
		if k.TimestampMs != w.ts || k.Offset != int64(i) {
			t.Errorf("record %d at offset %d timestamp %d, want %d", i, k.Offset, k.TimestampMs, w.ts)
		}
	}
}
