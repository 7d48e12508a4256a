// Package apitest holds helpers for the HTTP API packages' tests: one
// request/response exchange against a running gateway, checks of status
// and error_code, golden-file rendering with volatile parts normalised,
// external tools (kcat, node, curl) and kcat's output parsed exactly.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/testutil"
)

// Exchange is one request of a test, with what the answer must be.
type Exchange struct {
	Name   string
	Method string
	Path   string
	Body   string
	// Header sets request headers; an empty value removes one. A Body
	// is sent as application/json unless Header says otherwise.
	Header  map[string]string
	Status  int    // expected status (0: any)
	Code    int    // expected error_code (0: not checked)
	Message string // a substring of the error message, if set
}

// Do sends ex to the gateway and returns the response and its body.
func Do(t testing.TB, g *testutil.Gateway, ex Exchange) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var body io.Reader
	if ex.Body != "" {
		body = strings.NewReader(ex.Body)
	}
	req, err := http.NewRequestWithContext(ctx, ex.Method, g.URL+ex.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range ex.Header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", ex.Method, ex.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Check asserts ex's expected status, error_code and message.
func Check(t testing.TB, ex Exchange, resp *http.Response, b []byte) {
	t.Helper()
	if ex.Status != 0 && resp.StatusCode != ex.Status {
		t.Errorf("%s: status %d, want %d; body %s", ex.Name, resp.StatusCode, ex.Status, b)
	}
	if ex.Code != 0 {
		var e struct {
			ErrorCode int    `json:"error_code"`
			Message   string `json:"message"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("%s: error body %q: %v", ex.Name, b, err)
			return
		}
		if e.ErrorCode != ex.Code {
			t.Errorf("%s: error_code %d, want %d; body %s", ex.Name, e.ErrorCode, ex.Code, b)
		}
		if e.Message == "" {
			t.Errorf("%s: error_code %d without a message", ex.Name, e.ErrorCode)
		}
		if ex.Message != "" && !strings.Contains(e.Message, ex.Message) {
			t.Errorf("%s: message %q does not contain %q", ex.Name, e.Message, ex.Message)
		}
	}
}

// Run sends ex, checks it and compares it with testdata/golden/<Name>.golden.
func Run(t testing.TB, g *testutil.Gateway, ex Exchange) []byte {
	t.Helper()
	resp, b := Do(t, g, ex)
	Check(t, ex, resp, b)
	testutil.Golden(t, "golden/"+ex.Name, Render(g, ex, resp, b))
	return b
}

// goldenHeaders are the response headers a golden file records.
var goldenHeaders = []string{"Allow", "Content-Type", "Location", "X-High-Wm-Offset", "X-Kafka-Partition",
	"X-Message-Headers", "X-Message-Offset", "X-Message-Ts", "X-Message-Ts-Type"}

var (
	reTimestamp = regexp.MustCompile(`"timestamp": "20\d\d-[^"]+"`)
	reTs        = regexp.MustCompile(`"ts": \d{13}`)
	reMillis    = regexp.MustCompile(`"timestamp": \d{13}`) // v2's epoch-ms record timestamps
	reUUID      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reMemberID  = regexp.MustCompile(`-[0-9a-f]{32}\b`) // kfake's group member ids: <client id>-<hex>
	reHostPort  = regexp.MustCompile(`"client_host": "([^"]*):\d+"`)
)

// Render writes an exchange as a golden file: the request, then the
// status, the interesting headers and the body (JSON indented), with the
// volatile parts (ports, clock timestamps, member ids) normalised.
// Timestamps in 2024 are kept: tests choose them.
func Render(g *testutil.Gateway, ex Exchange, resp *http.Response, b []byte) []byte {
	var out bytes.Buffer
	out.WriteString(ex.Method + " " + ex.Path + "\n")
	var hk []string
	for k := range ex.Header {
		hk = append(hk, k)
	}
	sort.Strings(hk)
	for _, k := range hk {
		out.WriteString(k + ": " + ex.Header[k] + "\n")
	}
	if ex.Body != "" {
		out.WriteString("\n" + ex.Body + "\n")
	}
	out.WriteString("\n--- response\n" + resp.Status + "\n")
	for _, h := range goldenHeaders {
		if v := resp.Header.Get(h); v != "" {
			if h == "X-Message-Ts" && !strings.HasPrefix(v, "170") {
				v = "TS"
			}
			out.WriteString(h + ": " + v + "\n")
		}
	}
	out.WriteString("\n")
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") || strings.HasSuffix(httpapi.MediaType(ct), "+json") {
		out.Write(PrettyJSON(b))
	} else if len(b) > 0 {
		out.WriteString(strconv.Quote(string(b)) + "\n")
	}
	return []byte(Normalize(g, out.String()))
}

// Normalize replaces what changes between runs in a rendered exchange or
// body: the gateway's and broker's ports, clock timestamps (ISO and epoch
// ms; 2024 ones are kept: tests choose them), UUIDs and group member ids.
func Normalize(g *testutil.Gateway, s string) string {
	s = strings.ReplaceAll(s, g.URL, "http://GATEWAY")
	s = strings.ReplaceAll(s, strings.TrimPrefix(g.URL, "http://"), "GATEWAY")
	if g.Info.BrokerAddr != "" {
		_, port, _ := strings.Cut(g.Info.BrokerAddr, ":")
		s = strings.ReplaceAll(s, `"port": `+port, `"port": "BROKER_PORT"`)
		s = strings.ReplaceAll(s, g.Info.BrokerAddr, "BROKER")
	}
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
	s = reMillis.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, `"timestamp": 170`) {
			return m
		}
		return `"timestamp": "TS"`
	})
	s = reUUID.ReplaceAllString(s, "UUID")
	s = reMemberID.ReplaceAllString(s, "-MEMBER")
	return reHostPort.ReplaceAllString(s, `"client_host": "$1:PORT"`)
}

// PrettyJSON indents JSON (each object of a stream on its own), leaving
// anything else as it is.
func PrettyJSON(b []byte) []byte {
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

// KcatRecord is one record as kcat printed it with KcatFormat.
type KcatRecord struct {
	Partition   int
	Offset      int64
	TimestampMs int64
	Key, Value  []byte // nil for a Kafka null
	Headers     string // name=value,... as kcat prints them (NULL for a null value)
}

// KcatFormat prints lengths before the raw key and value so that any
// bytes (newlines, NULs) parse back exactly.
const KcatFormat = `%p:%o:%T:%K:%S:%k%s|%h\n`

// KcatRead consumes topic from the beginning with kcat (-C -e) and
// parses what it printed.
func KcatRead(t testing.TB, kcat, broker, topic string) []KcatRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q", "-f", KcatFormat)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v: %s", err, stderr.String())
	}
	var recs []KcatRecord
	for len(out) > 0 {
		var r KcatRecord
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
		r.Partition, r.Offset, r.TimestampMs = int(fields[0]), fields[1], fields[2]
		take := func(n int64) []byte {
			if n < 0 {
				return nil
			}
			b := append([]byte{}, out[:n]...)
			out = out[n:]
			return b
		}
		r.Key = take(fields[3])
		r.Value = take(fields[4])
		if len(out) == 0 || out[0] != '|' {
			t.Fatalf("kcat output after the value: %q", out)
		}
		end := bytes.IndexByte(out, '\n')
		r.Headers = string(out[1:end])
		out = out[end+1:]
		recs = append(recs, r)
	}
	return recs
}
