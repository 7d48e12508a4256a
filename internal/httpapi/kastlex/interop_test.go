package kastlex_test

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/httpapi/apitest"
	"github.com/kgate/kgate/internal/testutil"
)

// TestSeedCurl runs the seed's command verbatim (only the port differs):
// curl -s -i -H "Content-Type: application/binary" localhost:8082/api/v1/messages/foo -d bar
// and reads the message back with kcat.
func TestSeedCurl(t *testing.T) {
	curl := testutil.RequireTool(t, "curl")
	kcat := testutil.RequireTool(t, "kcat")
	g := testutil.StartGateway(t, nil)
	_, port, _ := strings.Cut(g.Info.HTTPAddr, ":")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "-s", "-i", "-H", "Content-Type: application/binary", "localhost:"+port+"/api/v1/messages/foo", "-d", "bar").Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	head := string(out)
	for _, want := range []string{"HTTP/1.1 204 No Content\r\n", "X-Kafka-Partition: 0\r\n", "X-Message-Offset: 0\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("curl output lacks %q:\n%s", want, head)
		}
	}
	recs := apitest.KcatRead(t, kcat, g.Info.BrokerAddr, "foo")
	if len(recs) != 1 || string(recs[0].Value) != "bar" || recs[0].Key != nil || recs[0].Headers != "" {
		t.Fatalf("kcat read %+v", recs)
	}
}

// TestKcatReadsKastlex writes through KastleX's produce (binary bodies,
// keys, headers; v1 and v2) and reads the exact bytes back with kcat.
func TestKcatReadsKastlex(t *testing.T) {
	kcat := testutil.RequireTool(t, "kcat")
	g := testutil.StartGateway(t, nil)
	type msg struct {
		path    string
		value   []byte
		headers string // x-message-headers
		key     []byte
		kcatHdr string
	}
	msgs := []msg{
		{path: "/api/v1/messages/kx/0?key=k%00%0A1", value: []byte{0, 1, 2, '\n', 0xff, 0xfe}, key: []byte("k\x00\n1"),
			headers: `{"trace":"abc","n":1}`, kcatHdr: "trace=abc,n=1"},
		{path: "/api/v2/messages/kx/0", value: []byte("plain\r\ntext"), headers: `{"empty":"","none":null}`, kcatHdr: "empty=,none=NULL"},
		{path: "/api/v1/messages/kx/0?key=", value: []byte{}, key: []byte{}},
	}
	for i, m := range msgs {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", g.URL+m.path, bytes.NewReader(m.value))
		req.Header.Set("Content-Type", "application/binary")
		if m.headers != "" {
			req.Header.Set("X-Message-Headers", m.headers)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("X-Message-Offset") != string(rune('0'+i)) {
			t.Fatalf("message %d: %s offset %q", i, resp.Status, resp.Header.Get("X-Message-Offset"))
		}
	}
	recs := apitest.KcatRead(t, kcat, g.Info.BrokerAddr, "kx")
	if len(recs) != len(msgs) {
		t.Fatalf("kcat read %d records, want %d", len(recs), len(msgs))
	}
	for i, m := range msgs {
		r := recs[i]
		if !bytes.Equal(r.Value, m.value) || r.Value == nil {
			t.Errorf("record %d value %q, want %q", i, r.Value, m.value)
		}
		if !bytes.Equal(r.Key, m.key) || (r.Key == nil) != (m.key == nil) {
			t.Errorf("record %d key %q (null %v), want %q", i, r.Key, r.Key == nil, m.key)
		}
		if r.Headers != m.kcatHdr {
			t.Errorf("record %d headers %q, want %q", i, r.Headers, m.kcatHdr)
		}
	}

	// And what kcat writes, KastleX reads: the raw value of the first
	// message with Accept: application/binary.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", g.URL+"/api/v1/messages/kx/0/0", nil)
	req.Header.Set("Accept", "application/binary")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body.Bytes(), msgs[0].value) || resp.Header.Get("X-Message-Headers") != `{"n":"1","trace":"abc"}` {
		t.Errorf("binary fetch: %q headers %q", body.Bytes(), resp.Header.Get("X-Message-Headers"))
	}
}
