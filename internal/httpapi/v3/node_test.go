package v3_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/testutil"
)

// TestNodeStream10k runs testdata/stream10k.mjs: Node's built-in http
// streams 10,000 records with chunked transfer encoding and reads the
// receipts while still sending, checking their order and count.
func TestNodeStream10k(t *testing.T) {
	node := testutil.RequireTool(t, "node")
	g := testutil.StartGateway(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	const n = 10000
	cmd := exec.CommandContext(ctx, node, "testdata/stream10k.mjs", g.URL+"/v3/clusters/"+cid+"/topics/node10k/records", fmt.Sprint(n), "500")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node: %v\n%s%s", err, out, stderr)
	}
	var sum struct {
		Sent                 int `json:"sent"`
		Received             int `json:"received"`
		ReceiptsWhileSending int `json:"receipts_while_sending"`
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if sum.Sent != n || sum.Received != n || sum.ReceiptsWhileSending < n-500 {
		t.Fatalf("summary %+v", sum)
	}
	recs := consumeAll(t, g, "node10k", n)
	for i, r := range recs {
		if want := fmt.Sprintf(`{"i":%d,"text":"record %d"}`, i, i); string(r.Value) != want || r.Offset != int64(i) {
			t.Fatalf("record %d: offset %d value %s", i, r.Offset, r.Value)
		}
	}
}
