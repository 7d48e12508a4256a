package v3_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

type receipt struct {
	ErrorCode   int    `json:"error_code"`
	Message     string `json:"message"`
	ClusterID   string `json:"cluster_id"`
	TopicName   string `json:"topic_name"`
	PartitionID int32  `json:"partition_id"`
	Offset      int64  `json:"offset"`
	Timestamp   string `json:"timestamp"`
}

// duplex is a streaming produce request in flight: records go in through
// the pipe, receipts come out of the response while it is still open.
type duplex struct {
	t    *testing.T
	pw   *io.PipeWriter
	resp *http.Response
	rd   *bufio.Reader
}

func h1Client() *http.Client { return &http.Client{} }

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: h2cTransport(&p)}
}

// The h2c transport is shared so that TestMain can close its connections.
var h2cTransport = func() func(*http.Protocols) *http.Transport {
	var tr *http.Transport
	return func(p *http.Protocols) *http.Transport {
		if tr == nil {
			tr = &http.Transport{Protocols: p}
			h2cTransports = append(h2cTransports, tr)
		}
		return tr
	}
}()

var h2cTransports []*http.Transport

func openStream(t *testing.T, client *http.Client, url string, first string) *duplex {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), "POST", url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	// The response only starts once the first record arrives (an empty
	// body is a 422), so send it before waiting for the response.
	go func() { _, _ = io.WriteString(pw, first) }()
	type result struct {
		resp *http.Response
		err  error
	}
	rc := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		rc <- result{resp, err}
	}()
	select {
	case r := <-rc:
		if r.err != nil {
			t.Fatal(r.err)
		}
		d := &duplex{t: t, pw: pw, resp: r.resp, rd: bufio.NewReader(r.resp.Body)}
		t.Cleanup(func() { pw.Close(); r.resp.Body.Close() })
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no response headers while the request body is still open: not full duplex")
	}
	return nil
}

func (d *duplex) send(s string) {
	d.t.Helper()
	if _, err := io.WriteString(d.pw, s); err != nil {
		d.t.Fatalf("sending: %v", err)
	}
}

// next reads one receipt, failing if none arrives in time.
func (d *duplex) next() receipt {
	d.t.Helper()
	type line struct {
		s   string
		err error
	}
	lc := make(chan line, 1)
	go func() {
		s, err := d.rd.ReadString('\n')
		lc <- line{s, err}
	}()
	select {
	case l := <-lc:
		if l.err != nil {
			d.t.Fatalf("reading receipt: %v (got %q)", l.err, l.s)
		}
		if !strings.HasSuffix(l.s, "\r\n") {
			d.t.Errorf("receipt %q does not end with CRLF", l.s)
		}
		var r receipt
		if err := json.Unmarshal([]byte(l.s), &r); err != nil {
			d.t.Fatalf("receipt %q: %v", l.s, err)
		}
		return r
	case <-time.After(10 * time.Second):
		d.t.Fatal("no receipt within 10s while the request is open")
	}
	return receipt{}
}

// end closes the request body and expects the response to end cleanly.
func (d *duplex) end() {
	d.t.Helper()
	d.pw.Close()
	rest, err := io.ReadAll(d.rd)
	if err != nil {
		d.t.Fatalf("response did not end cleanly: %v", err)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		d.t.Fatalf("unexpected receipts after the last record: %q", rest)
	}
}

func record(i int) string {
	return fmt.Sprintf(`{"key":{"type":"STRING","data":"k%d"},"value":{"type":"STRING","data":"v%d"}}`, i, i)
}

// TestStreamFullDuplex checks that each receipt arrives while the request
// is still open, before the next record is even sent, over HTTP/1.1
// chunked and over HTTP/2.
func TestStreamFullDuplex(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	for _, tc := range []struct {
		name   string
		client *http.Client
		proto  int
	}{{"http1.1", h1Client(), 1}, {"h2c", h2cClient(), 2}} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "duplex-" + strings.ReplaceAll(tc.name, ".", "")
			d := openStream(t, tc.client, g.URL+"/v3/clusters/"+cid+"/topics/"+topic+"/records", record(0))
			if d.resp.StatusCode != 200 || d.resp.ProtoMajor != tc.proto {
				t.Fatalf("status %d proto %s", d.resp.StatusCode, d.resp.Proto)
			}
			if tc.proto == 1 && (len(d.resp.TransferEncoding) != 1 || d.resp.TransferEncoding[0] != "chunked") {
				t.Errorf("transfer encoding %v, want chunked", d.resp.TransferEncoding)
			}
			const n = 50
			for i := 0; i < n; i++ {
				if i > 0 {
					d.send("\n" + record(i))
				}
				r := d.next()
				if r.ErrorCode != 200 || r.Offset != int64(i) || r.TopicName != topic || r.ClusterID != cid {
					t.Fatalf("receipt %d: %+v", i, r)
				}
			}
			d.end()
			recs := consumeAll(t, g, topic, n)
			for i, r := range recs {
				if string(r.Key) != fmt.Sprintf("k%d", i) || string(r.Value) != fmt.Sprintf("v%d", i) {
					t.Fatalf("record %d: key %q value %q", i, r.Key, r.Value)
				}
			}
		})
	}
}

// consumeAll reads n records of topic from the start, in offset order
// per partition (the tests use one partition).
func consumeAll(t *testing.T, g *testutil.Gateway, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestStreamRecordErrors: errors are per record and the stream goes on,
// except a malformed object, which ends it with a 400 receipt.
func TestStreamRecordErrors(t *testing.T) {
	// Without a registry: the schema types answer 42206.
	off := false
	g := testutil.StartGateway(t, func(c *config.Config) { c.SchemaRegistry.Enabled = &off })
	url := g.URL + "/v3/clusters/" + cid + "/topics/errs/records"
	d := openStream(t, h1Client(), url, `{"value":{"type":"STRING","data":"ok"}}`)
	want := []struct {
		send string
		code int
		msg  string
	}{
		{"", 200, ""},
		{`{"partition_id":-1,"value":{"type":"STRING","data":"x"}}`, 40402, "must not be negative"},
		{`{"partition_id":3,"value":{"type":"STRING","data":"x"}}`, 40402, "has 1 partition"},
		{`{"value":{"type":"BINARY","data":"%%%"}}`, 400, "not a valid base64"},
		{`{"value":{"type":"BINARY","data":5}}`, 400, "not a base64 string"},
		{`{"value":{"type":"STRING","data":{"a":1}}}`, 400, "must be a JSON string"},
		{`{"value":{"data":"x"}}`, 422, "Error: 42206 : Payload error. Schema Registry must be configured"},
		{`{"value":{"type":"PROTOBUF","data":"x"}}`, 422, "Error: 42206"},
		{`{"value":{"type":"JSON","data":1,"schema_id":3}}`, 400, "cannot have"},
		{`{"headers":[{"value":"eA=="}]}`, 400, "name is required"},
		{`{"headers":[{"name":"h","value":"!"}]}`, 400, "headers[0].value"},
		{`{"timestamp":"yesterday"}`, 400, "ISO-8601"},
		// Jackson reads a number as epoch seconds where kgate's v2 reads
		// milliseconds: v3 takes only the documented string.
		{`{"timestamp":1700000000000}`, 400, "timestamp must be an ISO-8601"},
		{`{"partition_id":"zero"}`, 400, "partition_id must be an integer"},
		{`{"value":{"type":"JSON","data":[1,2,3]}}`, 200, ""},
		{`{"value":{"type":"JSON","data":{"a" 1}}}`, 400, "Unexpected JSON"},
	}
	for i, w := range want {
		if w.send != "" {
			d.send(w.send)
		}
		r := d.next()
		if r.ErrorCode != w.code || !strings.Contains(r.Message, w.msg) {
			t.Errorf("step %d (%s): got %d %q, want %d containing %q", i, w.send, r.ErrorCode, r.Message, w.code, w.msg)
		}
	}
	// The malformed object ended the stream: the response is complete
	// even though the request body is still open.
	rest, err := io.ReadAll(d.rd)
	if err != nil || len(rest) != 0 {
		t.Fatalf("after a malformed object: %q, %v", rest, err)
	}
}

// TestStreamEndings covers the other ways a stream ends: garbage, a record
// over the per-record cap, a body cut inside a record, and a topic that
// does not exist (auto-creation off).
func TestStreamEndings(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) {
		c.HTTP.MaxBodyBytes = 1024
		off := false
		c.AutoCreateTopics = &off
	})
	post := func(topic, body string) (int, []receipt) {
		resp, err := http.Post(g.URL+"/v3/clusters/"+cid+"/topics/"+topic+"/records", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rs []receipt
		dec := json.NewDecoder(resp.Body)
		for {
			var r receipt
			if err := dec.Decode(&r); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		return resp.StatusCode, rs
	}
	resp, err := http.Post(g.URL+"/v3/clusters/"+cid+"/topics", "application/json",
		strings.NewReader(`{"topic_name":"capped","partitions_count":1}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("creating topic: %v %v", resp, err)
	}
	resp.Body.Close()
	ok := `{"value":{"type":"STRING","data":"x"}}`
	big := `{"value":{"type":"STRING","data":"` + strings.Repeat("b", 2000) + `"}}`
	for _, tc := range []struct {
		name, topic, body string
		codes             []int
	}{
		{"garbage after a record", "capped", ok + ` hello ` + ok, []int{200, 400}},
		{"array instead of objects", "capped", `[` + ok + `]`, []int{400}},
		{"record over the cap", "capped", ok + big + ok, []int{200, 413}},
		{"cut inside a record", "capped", ok + `{"value":{"type":"STRING"`, []int{200, 400}},
		{"whitespace and no separator", "capped", " \n" + ok + ok + "\r\n\t" + ok + "\n", []int{200, 200, 200}},
		{"unknown topic", "nowhere", ok + ok, []int{40401, 40401}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, rs := post(tc.topic, tc.body)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			var codes []int
			for _, r := range rs {
				codes = append(codes, r.ErrorCode)
			}
			if fmt.Sprint(codes) != fmt.Sprint(tc.codes) {
				t.Fatalf("codes %v, want %v (%+v)", codes, tc.codes, rs)
			}
		})
	}
}

// TestStreamShutdown: a stream still open when the gateway stops ends
// cleanly (a complete response) once its records are answered, and the
// gateway does not wait for the client.
func TestStreamShutdown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client *http.Client
	}{{"http1.1", h1Client()}, {"h2c", h2cClient()}} {
		t.Run(tc.name, func(t *testing.T) {
			g := testutil.StartGateway(t, nil)
			d := openStream(t, tc.client, g.URL+"/v3/clusters/"+cid+"/topics/shut/records", record(0))
			for i := 0; i < 3; i++ {
				if i > 0 {
					d.send(record(i))
				}
				if r := d.next(); r.ErrorCode != 200 {
					t.Fatalf("receipt %d: %+v", i, r)
				}
			}
			start := time.Now()
			stopped := make(chan struct{})
			go func() { g.Stop(); close(stopped) }()
			rest, err := io.ReadAll(d.rd) // the client keeps its body open
			if err != nil {
				t.Fatalf("stream did not end cleanly: %v", err)
			}
			if len(strings.TrimSpace(string(rest))) != 0 {
				t.Errorf("unexpected receipts: %q", rest)
			}
			select {
			case <-stopped:
			case <-time.After(10 * time.Second):
				t.Fatal("gateway did not stop")
			}
			if el := time.Since(start); el > 4*time.Second {
				t.Errorf("shutdown took %v: the stream held the drain", el)
			}
		})
	}
}

// TestStreamSlowClient: the read deadline moves with the stream, so a
// client sending a record now and then keeps its stream past
// http.read_timeout; a client silent for longer loses it (cleanly).
func TestStreamSlowClient(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.HTTP.ReadTimeout = config.Duration(time.Second) })
	d := openStream(t, h1Client(), g.URL+"/v3/clusters/"+cid+"/topics/slow/records", record(0))
	if r := d.next(); r.ErrorCode != 200 {
		t.Fatalf("first receipt %+v", r)
	}
	for i := 1; i <= 6; i++ { // 2.4s in all: more than read_timeout
		time.Sleep(400 * time.Millisecond)
		d.send(record(i))
		if r := d.next(); r.ErrorCode != 200 || r.Offset != int64(i) {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
	// Silence: the stream ends without a receipt for a record never sent.
	rest, err := io.ReadAll(d.rd)
	if err != nil || len(rest) != 0 {
		t.Fatalf("after silence: %q, %v", rest, err)
	}
}
