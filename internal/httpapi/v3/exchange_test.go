package v3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/testutil"
)

// exchange is one request of a golden test.
type exchange struct {
	name    string
	method  string
	path    string
	body    string
	header  map[string]string
	status  int    // expected status
	code    int    // expected error_code (0: not an error)
	message string // substring of the error message, if set
}

// goldenHeaders are the response headers a golden file records.
var goldenHeaders = []string{"Allow", "Content-Type", "Location", "X-High-Wm-Offset", "X-Kafka-Partition",
	"X-Message-Headers", "X-Message-Offset", "X-Message-Ts", "X-Message-Ts-Type"}

var (
	reTimestamp = regexp.MustCompile(`"timestamp": "20\d\d-[^"]+"`)
	reTs        = regexp.MustCompile(`"ts": \d{13}`)
	reUUID      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reMemberID  = regexp.MustCompile(`-[0-9a-f]{32}\b`) // kfake's group member ids: <client id>-<hex>
)

// do sends ex to the gateway and returns the response and its body.
func do(t *testing.T, g *testutil.Gateway, ex exchange) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var body io.Reader
	if ex.body != "" {
		body = strings.NewReader(ex.body)
	}
	req, err := http.NewRequestWithContext(ctx, ex.method, g.URL+ex.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ex.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range ex.header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", ex.method, ex.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// check asserts ex's expected status and error code.
func check(t *testing.T, ex exchange, resp *http.Response, b []byte) {
	t.Helper()
	if ex.status != 0 && resp.StatusCode != ex.status {
		t.Errorf("%s: status %d, want %d; body %s", ex.name, resp.StatusCode, ex.status, b)
	}
	if ex.code != 0 {
		var e struct {
			ErrorCode int    `json:"error_code"`
			Message   string `json:"message"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("%s: error body %q: %v", ex.name, b, err)
			return
		}
		if e.ErrorCode != ex.code {
			t.Errorf("%s: error_code %d, want %d; body %s", ex.name, e.ErrorCode, ex.code, b)
		}
		if ex.message != "" && !strings.Contains(e.Message, ex.message) {
			t.Errorf("%s: message %q does not contain %q", ex.name, e.Message, ex.message)
		}
	}
}

// render writes an exchange as a golden file: the request, then the
// status, the interesting headers and the body (JSON indented), with the
// volatile parts (ports, timestamps, member ids) normalised.
func render(g *testutil.Gateway, ex exchange, resp *http.Response, b []byte) []byte {
	var out bytes.Buffer
	out.WriteString(ex.method + " " + ex.path + "\n")
	var hk []string
	for k := range ex.header {
		hk = append(hk, k)
	}
	sort.Strings(hk)
	for _, k := range hk {
		out.WriteString(k + ": " + ex.header[k] + "\n")
	}
	if ex.body != "" {
		out.WriteString("\n" + ex.body + "\n")
	}
	out.WriteString("\n--- response\n" + resp.Status + "\n")
	for _, h := range goldenHeaders {
		if v := resp.Header.Get(h); v != "" {
			out.WriteString(h + ": " + v + "\n")
		}
	}
	out.WriteString("\n")
	out.Write(prettyBody(b))
	s := out.String()
	s = strings.ReplaceAll(s, g.URL, "http://GATEWAY")
	s = strings.ReplaceAll(s, strings.TrimPrefix(g.URL, "http://"), "GATEWAY")
	if g.Info.BrokerAddr != "" {
		_, port, _ := strings.Cut(g.Info.BrokerAddr, ":")
		s = strings.ReplaceAll(s, `"port": `+port, `"port": "BROKER_PORT"`)
		s = strings.ReplaceAll(s, g.Info.BrokerAddr, "BROKER")
	}
	// Timestamps the tests chose (2024) stay; the clock's are replaced.
	s = reTimestamp.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, `"timestamp": "2024-`) {
			return m
		}
		return `"timestamp": "TIMESTAMP"`
	})
	s = reTs.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, `"ts": 170`) {
			return m
		}
		return `"ts": "TS"`
	})
	s = reUUID.ReplaceAllString(s, "UUID")
	s = reMemberID.ReplaceAllString(s, "-MEMBER")
	if v := resp.Header.Get("X-Message-Ts"); v != "" {
		s = strings.ReplaceAll(s, "X-Message-Ts: "+v, "X-Message-Ts: TS")
	}
	return []byte(s)
}

// prettyBody indents JSON (each object of a stream on its own), leaving
// anything else as it is.
func prettyBody(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var out bytes.Buffer
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return b
		}
		var ind bytes.Buffer
		if err := json.Indent(&ind, raw, "", "  "); err != nil {
			return b
		}
		out.Write(ind.Bytes())
		out.WriteString("\n")
	}
	return out.Bytes()
}

// newConsumer joins group to consume topic and commits what it read, so
// that the group has members, assignments, commits and lag.
func newConsumer(t *testing.T, g *testutil.Gateway, group, topic string, commitAfter int) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.Brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ClientID("golden-client"), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < commitAfter {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumer read %d of %d records: %v", len(got), commitAfter, err)
		}
		got = append(got, fs.Records()...)
	}
	var last *kgo.Record
	for _, r := range got[:commitAfter] {
		last = r
	}
	if err := cl.CommitRecords(ctx, last); err != nil {
		t.Fatal(err)
	}
	return cl
}
