package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/push"
	"github.com/kgate/kgate/internal/testutil"
)

// pushRecord is the data of a record event (format=string).
type pushRecord struct {
	Topic     string  `json:"topic"`
	Key       *string `json:"key"`
	Value     *string `json:"value"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Timestamp int64   `json:"timestamp"`
	Headers   []struct {
		Name  string  `json:"name"`
		Value *string `json:"value"`
	} `json:"headers"`
}

func decodeRecords(t testing.TB, evs []sseEvent) []pushRecord {
	t.Helper()
	out := make([]pushRecord, len(evs))
	for i, ev := range evs {
		if err := json.Unmarshal([]byte(ev.data), &out[i]); err != nil {
			t.Fatalf("event data %q: %v", ev.data, err)
		}
	}
	return out
}

func values(recs []pushRecord) []string {
	var vs []string
	for _, r := range recs {
		vs = append(vs, *r.Value)
	}
	slices.Sort(vs)
	return vs
}

func want(partitions int32, from, to int) []string {
	var vs []string
	for i := from; i < to; i++ {
		for p := range partitions {
			vs = append(vs, fmt.Sprintf("p-%d-%d", p, i))
		}
	}
	slices.Sort(vs)
	return vs
}

func fastPush(c *config.Config) {
	c.HTTP.StreamHeartbeat = config.Duration(200 * time.Millisecond)
}

// TestPushSSEStartPositions reads a three-partition topic over SSE from
// a real listener, starting at earliest, latest, offsets and a
// timestamp, and checks every field of a record event.
func TestPushSSEStartPositions(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-start", 3)
	// Timestamps relative to now: retention never sees them as old.
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	produceRecords(t, cl, "push-start", 3, 0, 4, t0)
	produceRecords(t, cl, "push-start", 3, 4, 6, t0.Add(time.Hour))

	t.Run("earliest", func(t *testing.T) {
		s := openSSE(t, streamURL(g, "push-start", "from=earliest&format=string"))
		if s.status != http.StatusOK || s.header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%d %s %s", s.status, s.header.Get("Content-Type"), s.body)
		}
		recs := decodeRecords(t, s.records(18, 10*time.Second))
		if got, want := values(recs), want(3, 0, 6); !slices.Equal(got, want) {
			t.Fatalf("values %v, want %v", got, want)
		}
		s.quiet(300 * time.Millisecond)
		r := recs[0]
		if r.Topic != "push-start" || r.Offset != 0 || *r.Key != "k0" || r.Timestamp != t0.UnixMilli() ||
			len(r.Headers) != 1 || r.Headers[0].Name != "h" || *r.Headers[0].Value != "MA==" /* "0", base64 */ {
			t.Errorf("first record %+v", r)
		}
	})
	t.Run("latest", func(t *testing.T) {
		s := openSSE(t, streamURL(g, "push-start", "format=string")) // latest is the default
		s.quiet(500 * time.Millisecond)
		produceRecords(t, cl, "push-start", 3, 6, 7, time.Now())
		if got, want := values(decodeRecords(t, s.records(3, 10*time.Second))), want(3, 6, 7); !slices.Equal(got, want) {
			t.Fatalf("values %v, want %v", got, want)
		}
	})
	t.Run("offsets", func(t *testing.T) {
		s := openSSE(t, streamURL(g, "push-start", "format=string&offsets=1:5,2:6"))
		got := values(decodeRecords(t, s.records(3, 10*time.Second)))
		if want := []string{"p-1-5", "p-1-6", "p-2-6"}; !slices.Equal(got, want) {
			t.Fatalf("values %v, want %v", got, want)
		}
		s.quiet(300 * time.Millisecond)
	})
	t.Run("timestamp", func(t *testing.T) {
		s := openSSE(t, streamURL(g, "push-start", "format=string&timestamp="+t0.Add(30*time.Minute).Format(time.RFC3339)))
		if got, want := values(decodeRecords(t, s.records(9, 10*time.Second))), want(3, 4, 7); !slices.Equal(got, want) {
			t.Fatalf("values %v, want %v", got, want)
		}
		s.quiet(300 * time.Millisecond)
	})
	t.Run("formats", func(t *testing.T) {
		for _, c := range []struct{ format, value string }{
			{"binary", `"cC0wLTA="`}, {"string", `"p-0-0"`}, {"", `"cC0wLTA="`},
		} {
			s := openSSE(t, streamURL(g, "push-start", "from=earliest&offsets=0:0&format="+c.format))
			ev := s.records(1, 10*time.Second)[0]
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
				t.Fatal(err)
			}
			if string(m["value"]) != c.value {
				t.Errorf("format %q: value %s, want %s", c.format, m["value"], c.value)
			}
			s.close()
		}
		// json: values that are not JSON are an error event naming
		// them, with an id past them (the stream goes on).
		s := openSSE(t, streamURL(g, "push-start", "from=earliest&offsets=0:0&format=json"))
		ev, ok := s.next(10 * time.Second)
		if !ok || ev.event != "error" || !strings.Contains(ev.data, `"error_code":40801`) || ev.id == "" {
			t.Errorf("json of a non-JSON value: %+v", ev)
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		s := openSSE(t, streamURL(g, "push-start", ""))
		deadline := time.After(5 * time.Second)
		for {
			select {
			case ev := <-s.events:
				if ev.comment == "heartbeat" {
					return
				}
			case <-deadline:
				t.Fatal("no heartbeat comment within 5s (heartbeat 200ms)")
			}
		}
	})
}

// TestPushSSEResume disconnects a stream in the middle and resumes with
// Last-Event-ID while records keep coming: nothing is lost or repeated,
// and each partition is in offset order.
func TestPushSSEResume(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-resume", 3)
	produceRecords(t, cl, "push-resume", 3, 0, 20, time.Now())

	var all []pushRecord
	s := openSSE(t, streamURL(g, "push-resume", "from=earliest&format=string"))
	first := s.records(25, 10*time.Second)
	s.close()
	all = append(all, decodeRecords(t, first)...)
	last := first[len(first)-1].id
	produceRecords(t, cl, "push-resume", 3, 20, 30, time.Now())

	// The id is a position vector of every partition.
	pos, err := push.DecodePosition(last, "push-resume")
	if err != nil || len(pos) != 3 {
		t.Fatalf("last id %q: %v %v", last, pos, err)
	}
	// EventSource's reconnect: the same URL (from=earliest is ignored)
	// with Last-Event-ID.
	s2 := openSSE(t, streamURL(g, "push-resume", "from=earliest&format=string"), "Last-Event-ID", last)
	all = append(all, decodeRecords(t, s2.records(90-25, 10*time.Second))...)
	s2.quiet(300 * time.Millisecond)
	if got, want := values(all), want(3, 0, 30); !slices.Equal(got, want) {
		t.Fatalf("%d values, want %d: lost or repeated records\n%v", len(got), len(want), got)
	}
	next := map[int32]int64{}
	for _, r := range all {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition]++
	}
	// The position parameter resumes as Last-Event-ID does.
	s3 := openSSE(t, streamURL(g, "push-resume", "format=string&position="+last))
	if n := len(s3.records(90-25, 10*time.Second)); n != 65 {
		t.Fatalf("position=: %d records", n)
	}
}

// TestPushSSEBadRequests: a garbled or foreign position vector, an
// offset past the end and bad parameters are 400 with a clear code,
// before any stream starts.
func TestPushSSEBadRequests(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-bad", 2)
	pushTopic(t, g, "push-other", 2)
	produceRecords(t, cl, "push-bad", 2, 0, 3, time.Now())
	good := push.Position{1, 2}.Encode("push-bad")
	garbled := []byte(good)
	if garbled[len(garbled)/2] == 'A' { // another base64url letter: decodes, fails the checksum
		garbled[len(garbled)/2] = 'B'
	} else {
		garbled[len(garbled)/2] = 'A'
	}
	for _, c := range []struct {
		name, query, lastID string
		status, code        int
		msg                 string
	}{
		{"garbled", "", string(garbled), 400, 40011, "checksum"},
		{"truncated", "", good[:len(good)-3], 400, 40011, "position"},
		{"not base64", "", "!!!", 400, 40011, "base64url"},
		{"other topic", "", push.Position{1, 2}.Encode("push-other"), 400, 40011, "another topic"},
		{"past the end", "", push.Position{1, 9}.Encode("push-bad"), 400, 40011, "past its end"},
		{"too many partitions", "", push.Position{1, 2, 0}.Encode("push-bad"), 400, 40011, "partitions"},
		{"bad position param", "position=xyz", "", 400, 40011, "position"},
		{"offset past end", "offsets=0:99", "", 400, 40011, "past its end"},
		{"no such partition", "offsets=5:0", "", 400, 40011, "does not exist"},
		{"bad offsets", "offsets=a:b", "", 400, 40011, "partition:offset"},
		{"bad from", "from=middle", "", 400, 40011, "earliest or latest"},
		{"bad timestamp", "timestamp=yesterday", "", 400, 40011, "RFC 3339"},
		{"bad format", "format=avro", "", 400, 400, "json, binary or string"},
		{"bad header filter", "header=", "", 400, 400, "header"},
		{"zero limit", "limit=0", "", 400, 400, "limit"},
		{"limit not a number", "limit=ten", "", 400, 400, "limit"},
		{"limit too large", "limit=1000001", "", 400, 400, "limit"},
		{"missing topic", "", "", 404, 40401, "not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			topic := "push-bad"
			if c.name == "missing topic" {
				topic = "push-missing"
			}
			h := []string{}
			if c.lastID != "" {
				h = append(h, "Last-Event-ID", c.lastID)
			}
			s := openSSE(t, streamURL(g, topic, c.query), h...)
			r := response{status: s.status, body: s.body}
			if s.status != c.status || r.errorCode() != c.code || !strings.Contains(string(s.body), c.msg) {
				t.Errorf("%d %s, want %d/%d mentioning %q", s.status, s.body, c.status, c.code, c.msg)
			}
		})
	}
	t.Run("not acceptable", func(t *testing.T) {
		r := do(t, "GET", streamURL(g, "push-bad", ""), "", "Accept", "application/json")
		if r.status != http.StatusNotAcceptable {
			t.Errorf("Accept: application/json: %d %s", r.status, r.body)
		}
	})
	t.Run("good position", func(t *testing.T) {
		s := openSSE(t, streamURL(g, "push-bad", "format=string"), "Last-Event-ID", good)
		got := values(decodeRecords(t, s.records(3, 10*time.Second)))
		if want := []string{"p-0-1", "p-0-2", "p-1-2"}; !slices.Equal(got, want) {
			t.Errorf("from 0:1,1:2: %v, want %v", got, want)
		}
		s.quiet(300 * time.Millisecond)
	})
}

// TestPushSSELimit: limit=N ends the stream after N records with an end
// event (reason "limit") and a clean close, as curl -N or a script that
// wants "the next N records" expects; resuming from the last id with
// another limit goes on where it ended, nothing lost or repeated.
func TestPushSSELimit(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-limit", 2)
	produceRecords(t, cl, "push-limit", 2, 0, 5, time.Now())

	var all []pushRecord
	last := ""
	for _, n := range []int{3, 7} {
		h := []string{}
		if last != "" {
			h = append(h, "Last-Event-ID", last)
		}
		s := openSSE(t, streamURL(g, "push-limit", fmt.Sprintf("from=earliest&format=string&limit=%d", n)), h...)
		evs := s.records(n, 10*time.Second)
		all = append(all, decodeRecords(t, evs)...)
		last = evs[len(evs)-1].id
		end, ok := s.next(5 * time.Second)
		if !ok || end.event != "end" || !strings.Contains(end.data, `"reason":"limit"`) || strings.Contains(end.data, "error_code") {
			t.Fatalf("after %d records: %+v (ok %v), want an end event with reason limit", n, end, ok)
		}
		select {
		case err := <-s.err:
			if err != io.EOF {
				t.Fatalf("stream ended with %v, want a clean end", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the stream stayed open after its limit")
		}
	}
	if got, want := values(all), want(2, 0, 5); !slices.Equal(got, want) {
		t.Fatalf("values %v, want %v: lost or repeated records", got, want)
	}
}

// TestPushSSEFilter sends only records with a key, or a header.
func TestPushSSEFilter(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-filter", 2)
	produceRecords(t, cl, "push-filter", 2, 0, 12, time.Now())
	for _, c := range []struct {
		query string
		want  func(i int) bool
	}{
		{"key=k1", func(i int) bool { return i%3 == 1 }},
		{"header=h:1", func(i int) bool { return i%2 == 1 }},
		{"header=h", func(i int) bool { return true }},
		{"header=nope", func(i int) bool { return false }},
		{"key=k0&header=h:0", func(i int) bool { return i%6 == 0 }},
	} {
		t.Run(c.query, func(t *testing.T) {
			var want []string
			for i := range 12 {
				if c.want(i) {
					want = append(want, fmt.Sprintf("p-0-%d", i), fmt.Sprintf("p-1-%d", i))
				}
			}
			slices.Sort(want)
			s := openSSE(t, streamURL(g, "push-filter", "from=earliest&format=string&"+c.query))
			got := values(decodeRecords(t, s.records(len(want), 10*time.Second)))
			if !slices.Equal(got, want) {
				t.Errorf("%v, want %v", got, want)
			}
			s.quiet(300 * time.Millisecond)
		})
	}
}

// TestPushSSECORS: a page of an origin in http.allowed_origins may read
// a stream with fetch() (a preflight, then the GET with Authorization);
// a page of any other origin is refused, and kgate's own origin needs
// nothing.
func TestPushSSECORS(t *testing.T) {
	users, perms := secureFiles(t)
	g := testutil.StartGateway(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.HTTP.AllowedOrigins = []string{"https://console.example"}
	})
	cl := pushTopic(t, g, "customer1", 1)
	pushValues(t, cl, "customer1", []string{"x"})
	url := streamURL(g, "customer1", "from=earliest&format=string")

	pre := do(t, "OPTIONS", url, "", "Origin", "https://console.example", "Access-Control-Request-Method", "GET",
		"Access-Control-Request-Headers", "authorization,last-event-id")
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "https://console.example" ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "Last-Event-ID") {
		t.Errorf("preflight from an allowed origin: %d %v %s", pre.status, pre.header, pre.body)
	}
	if r := do(t, "OPTIONS", url, "", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET"); r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", r.status, r.header)
	}
	s := openSSE(t, url, "Authorization", seedAuth, "Origin", "https://console.example")
	if s.status != http.StatusOK || s.header.Get("Access-Control-Allow-Origin") != "https://console.example" {
		t.Fatalf("GET from an allowed origin: %d %v %s", s.status, s.header, s.body)
	}
	s.records(1, 10*time.Second)
	if s := openSSE(t, url, "Authorization", seedAuth, "Origin", "https://evil.example"); s.status != http.StatusForbidden || s.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin: %d %v %s", s.status, s.header, s.body)
	}
	own := strings.TrimSuffix(g.URL, "/")
	if s := openSSE(t, url, "Authorization", seedAuth, "Origin", own); s.status != http.StatusOK {
		t.Errorf("GET from kgate's own origin: %d %s", s.status, s.body)
	}
}

// TestPushSSEMultilineValues: values with line breaks (pretty JSON, text)
// stay inside one data line, so that an event cannot be split or forged
// by a record's contents.
func TestPushSSEMultilineValues(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-lines", 1)
	pretty := "{\n  \"a\": 1,\r\n  \"b\": \"x\"\n}\n"
	pushValues(t, cl, "push-lines", []string{pretty, "line one\n\nevent: end\ndata: forged\n\n"})
	for _, c := range []struct{ format, want0, want1 string }{
		{"json", `{"a":1,"b":"x"}`, ""},
		{"string", pretty, "line one\n\nevent: end\ndata: forged\n\n"},
	} {
		s := openSSE(t, streamURL(g, "push-lines", "from=earliest&format="+c.format))
		first, ok := s.next(10 * time.Second)
		second, ok2 := s.next(10 * time.Second)
		if !ok || !ok2 {
			t.Fatalf("%s: two events: %v %v", c.format, ok, ok2)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(first.data), &m); err != nil {
			t.Fatalf("%s: first event %q: %v", c.format, first.data, err)
		}
		if c.format == "json" {
			if string(m["value"]) != c.want0 || second.event != "error" {
				t.Errorf("json: value %s, second event %q (%s)", m["value"], second.event, second.data)
			}
			continue
		}
		var v0 string
		_ = json.Unmarshal(m["value"], &v0)
		var r pushRecord
		if err := json.Unmarshal([]byte(second.data), &r); err != nil || v0 != c.want0 || *r.Value != c.want1 || second.event != "" {
			t.Errorf("string: values %q, %+v (event %q): %v", v0, r, second.event, err)
		}
		s.close()
	}
}
