package record

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

func streamAll(in string, bufSize int, max int64) ([]string, error) {
	s := NewStream(bufio.NewReaderSize(strings.NewReader(in), bufSize), max, nil, "t")
	var out []string
	for {
		d, err := s.Next()
		var e *Error
		switch {
		case errors.Is(err, io.EOF):
			return out, nil
		case errors.As(err, &e) && !e.Ends():
			out = append(out, "error: "+e.Message())
			continue
		case err != nil:
			return out, err
		}
		out = append(out, strings.TrimSpace(render([]Record{d})))
	}
}

func TestStream(t *testing.T) {
	rec := func(v string) string { return `{"value":{"type":"STRING","data":"` + v + `"}}` }
	got := func(v string) string { return `p=-1 k=nil() v=` + strconv.Quote(v) + `(STRING)` }
	for _, tc := range []struct {
		name string
		in   string
		want []string
		err  string
	}{
		{"empty", "", nil, ""},
		{"whitespace", " \r\n\t", nil, ""},
		{"one", rec("a"), []string{got("a")}, ""},
		{"concatenated", rec("a") + rec("b"), []string{got("a"), got("b")}, ""},
		{"separated", rec("a") + "\r\n " + rec("b") + "\n", []string{got("a"), got("b")}, ""},
		{"braces in strings", rec(`}{\"}`) + rec(`\\`), []string{got(`}{"}`), got(`\`)}, ""},
		{"nested unknown members", `{"x":{"b":[{"c":[]}]},"value":{"type":"JSON","data":[1,{"a":{}}]}}{}`, []string{`p=-1 k=nil() v="[1,{\"a\":{}}]"(JSON)`, `p=-1 k=nil() v=nil()`}, ""},
		{"long runs across buffer refills", rec(strings.Repeat("x", 100)), []string{got(strings.Repeat("x", 100))}, ""},
		{"a bad record does not end the stream", `{"partition_id":-1}` + rec("a"), []string{"error: partition_id must not be negative.", got("a")}, ""},
		{"not an object", `[1]`, nil, "expected a JSON object"},
		{"garbage after", `{} x`, []string{`p=-1 k=nil() v=nil()`}, `got 'x'`},
		{"cut", `{"a":`, nil, "ended inside a record"},
		{"cut in string", `{"a":"}`, nil, "ended inside a record"},
		{"binary", "\x00", nil, `got 0x0`},
		{"syntax error inside", `{"a":tru}`, nil, "invalid character '}'"},
		{"too large", `{"a":"` + strings.Repeat("x", 200) + `"}`, nil, "larger than 100 bytes"},
		{"at the cap", `{"a":"` + strings.Repeat("x", 92) + `"}`, []string{`p=-1 k=nil() v=nil()`}, ""},
	} {
		for _, size := range []int{16, 64 << 10} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				max := int64(1 << 20)
				if strings.HasPrefix(tc.name, "too large") || strings.HasPrefix(tc.name, "at the cap") {
					max = 100
				}
				got, err := streamAll(tc.in, size, max)
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("records (-want +got):\n%s", diff)
				}
				switch {
				case tc.err == "" && err != nil:
					t.Errorf("error %v", err)
				case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
					t.Errorf("error %v, want %q", err, tc.err)
				}
			})
		}
	}
}

func TestDecodeV3(t *testing.T) {
	d, err := DecodeV3([]byte(`{"partition_id":2,"key":{"type":"binary","data":"AAE"},"value":{"type":"JSON","data":{ "a" : [1, 2] }},`+
		`"headers":[{"name":"h1","value":"aGk="},{"name":"h1","value":null}],"timestamp":"2024-01-02T03:04:05.678+01:00"}`), nil, "t")
	if err != nil {
		t.Fatal(err)
	}
	if d.Partition != 2 || !bytes.Equal(d.Key, []byte{0, 1}) || string(d.Value) != `{"a":[1,2]}` {
		t.Errorf("decoded %+v", d)
	}
	if d.KeyFormat != Binary || d.ValueFormat != JSON {
		t.Errorf("formats %q %q", d.KeyFormat, d.ValueFormat)
	}
	if len(d.Headers) != 2 || string(d.Headers[0].Value) != "hi" || d.Headers[1].Value != nil || d.Headers[1].Key != "h1" {
		t.Errorf("headers %+v", d.Headers)
	}
	if d.Timestamp.UnixMilli() != 1704161045678 {
		t.Errorf("timestamp %v", d.Timestamp)
	}
	// Absent key and value are Kafka nulls; a typed null is a null too,
	// but the receipt still names its type.
	d, err = DecodeV3([]byte(`{"value":{"type":"STRING","data":null}}`), nil, "t")
	if err != nil || d.Key != nil || d.Value != nil || d.KeyFormat != "" || d.ValueFormat != String {
		t.Errorf("nulls: %+v %v", d, err)
	}
	// An empty string is an empty value, not a null.
	d, err = DecodeV3([]byte(`{"value":{"type":"STRING","data":""}}`), nil, "t")
	if err != nil || d.Value == nil || len(d.Value) != 0 {
		t.Errorf("empty string: %+v %v", d, err)
	}
}

// leniency is the table of docs/api.md ("Record decoding"): what each
// surface accepts, one row a rule. Each row is a record field, the input,
// and for v2 and v3 the stored bytes (as %q) or the kind of refusal.
var leniency = []struct {
	rule   string
	field  string // key, value (BINARY/binary), json (JSON/json), string (STRING), headers, timestamp, partition
	input  string
	v2, v3 string
}{
	{"base64 with padding", "value", `"aGk="`, `"hi"`, `"hi"`},
	{"base64 without padding", "value", `"aGk"`, `"hi"`, `"hi"`},
	{"base64 with an escaped line break (MIME wrapping)", "value", `"aG\nk="`, `"hi"`, `"hi"`},
	{"URL-safe base64 is refused", "value", `"-_8="`, "base64", "base64"},
	{"binary data that is not a string", "value", `12`, "base64", "base64"},
	{"json: any JSON value, compacted", "json", `{ "a" : [1, 2] }`, `"{\"a\":[1,2]}"`, `"{\"a\":[1,2]}"`},
	{"json: a string keeps its quotes", "json", `"abc"`, `"\"abc\""`, `"\"abc\""`},
	{"json: escapes are kept as written", "json", `"\u00e9"`, `"\"\\u00e9\""`, `"\"\\u00e9\""`},
	{"string: stored as UTF-8", "string", `"\u00e9"`, "-", `"é"`},
	{"header value base64 without padding", "headers", `[{"name":"h","value":"aGk"}]`, `h="hi"`, `h="hi"`},
	{"header value null", "headers", `[{"name":"h","value":null}]`, `h=nil`, `h=nil`},
	{"headers as an object of text", "headers", `{"h":"text","n":1,"o":null}`, `h="text" n="1" o=nil`, `h="text" n="1" o=nil`},
	{"header without a name", "headers", `[{"value":"aGk="}]`, "invalid", "invalid"},
	{"header value that is not base64", "headers", `[{"name":"h","value":"%%"}]`, "base64", "base64"},
	{"timestamp RFC 3339", "timestamp", `"2024-01-02T03:04:05.678+01:00"`, "1704161045678", "1704161045678"},
	{"timestamp epoch milliseconds", "timestamp", `1704161045678`, "1704161045678", "invalid"},
	{"timestamp before 1970", "timestamp", `"1969-12-31T23:59:59Z"`, "invalid", "invalid"},
	{"partition as a JSON integer", "partition", `1`, "1", "1"},
	{"partition as a string", "partition", `"1"`, "invalid", "invalid"},
	{"partition 1.0", "partition", `1.0`, "invalid", "invalid"},
	{"negative partition", "partition", `-1`, "partition", "partition"},
}

func TestLeniency(t *testing.T) {
	for _, tc := range leniency {
		t.Run(tc.rule, func(t *testing.T) {
			v2 := func() string {
				f, name := "value", Binary
				switch tc.field {
				case "json":
					f, name = "value", JSON
				case "string":
					return "-"
				case "headers", "timestamp", "partition":
					f = tc.field
				}
				recs, err := DecodeV2([]byte(`{"records":[{"`+f+`":`+tc.input+`}]}`), name, nil)
				return outcome(tc.field, recs, err)
			}()
			v3 := func() string {
				var body string
				switch tc.field {
				case "value":
					body = `{"value":{"type":"BINARY","data":` + tc.input + `}}`
				case "json":
					body = `{"value":{"type":"JSON","data":` + tc.input + `}}`
				case "string":
					body = `{"value":{"type":"STRING","data":` + tc.input + `}}`
				case "partition":
					body = `{"partition_id":` + tc.input + `}`
				default:
					body = `{"` + tc.field + `":` + tc.input + `}`
				}
				d, err := DecodeV3([]byte(body), nil, "t")
				return outcome(tc.field, []Record{d}, err)
			}()
			if v2 != tc.v2 || v3 != tc.v3 {
				t.Errorf("v2 %s (want %s), v3 %s (want %s)", v2, tc.v2, v3, tc.v3)
			}
		})
	}
}

func outcome(field string, recs []Record, err error) string {
	if err != nil {
		return KindOf(err).String()
	}
	r := recs[0]
	switch field {
	case "headers":
		var parts []string
		for _, h := range r.Headers {
			if h.Value == nil {
				parts = append(parts, h.Key+"=nil")
			} else {
				parts = append(parts, fmt.Sprintf("%s=%q", h.Key, h.Value))
			}
		}
		return strings.Join(parts, " ")
	case "timestamp":
		return fmt.Sprint(r.Timestamp.UnixMilli())
	case "partition":
		return fmt.Sprint(r.Partition)
	}
	return fmt.Sprintf("%q", r.Value)
}

func TestDecodeV2Errors(t *testing.T) {
	for _, tc := range []struct {
		body string
		kind Kind
		msg  string
	}{
		{``, KindEmpty, "Request body is empty. Data is required."},
		{`null`, KindEmpty, "Request body is empty. Data is required."},
		{`[1]`, KindShape, `The request body must be a JSON object with a "records" array.`},
		{`{"records":{}}`, KindShape, "records must be an array of records."},
		{`{"records":[1]}`, KindShape, `records[0] must be an object with "key" and/or "value".`},
		{`{"records":[{"value":"MA=="},{"value":"!!"}]}`, KindBase64, "records[1].value is not a valid base64 string."},
		{`{"records":[{"value":"MA==","partition":"x"}]}`, KindInvalid, "records[0].partition must be an integer."},
		{`{"records":[{"value":1`, KindTruncated, "Unexpected JSON input: unexpected end of JSON input at offset 22."},
		{`{"records":[{"value":!}]}`, KindSyntax, "Unexpected JSON input: invalid character '!', expecting a JSON value at offset 21."},
		// A syntax error anywhere wins over a bad record before it.
		{`{"records":[{"value":"!!"},{"value":tru}]}`, KindSyntax, "Unexpected JSON input: invalid character '}', expecting a JSON value at offset 39."},
		{`{"records":[]} x`, KindSyntax, "Unexpected JSON input: invalid character 'x', expecting the end of the body after the top-level value at offset 15."},
		{"{\"records\":[{\"value\":\"\xff\"}]}", KindSyntax, "Unexpected JSON input: invalid UTF-8 in a string at offset 22."},
	} {
		_, err := DecodeV2([]byte(tc.body), Binary, nil)
		var e *Error
		if !errors.As(err, &e) || e.Kind != tc.kind || e.Message() != tc.msg {
			t.Errorf("%q: %v (kind %v), want %v %q", tc.body, err, KindOf(err), tc.kind, tc.msg)
		}
	}
}

func TestAppendV2Record(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 1, Offset: 7, Key: []byte(`{"k": 1}`), Value: []byte("\"v\"\n"),
		Headers: []kgo.RecordHeader{{Key: "a\"b", Value: []byte{0xff}}, {Key: "n"}}}
	got, err := AppendV2Record(nil, r, JSONFormat, JSONFormat)
	want := `{"topic":"t","key":{"k":1},"value":"v","partition":1,"offset":7,"timestamp":-62135596800000,"headers":[{"name":"a\"b","value":"/w=="},{"name":"n","value":null}]}`
	if err != nil || string(got) != want {
		t.Errorf("got %s %v\nwant %s", got, err, want)
	}
	got, err = AppendV2Record([]byte("x"), &kgo.Record{Topic: "t", Value: []byte("not json")}, JSONFormat, JSONFormat)
	if KindOf(err) != KindUndecodable || string(got) != "x" || !strings.Contains(err.Error(), "value is not valid JSON") {
		t.Errorf("undecodable: %s %v", got, err)
	}
	got, _ = AppendV2Record(nil, &kgo.Record{Topic: "t", Key: []byte{0}}, BinaryFormat, BinaryFormat)
	if !strings.Contains(string(got), `"key":"AA==","value":null`) {
		t.Errorf("binary: %s", got)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t ctl\x01 \u2028 \u2029 <>&", "bad \xff utf8", "é😀"} {
		got := string(AppendJSONString(nil, s))
		want, _ := jsonMarshalNoHTML(s)
		if got != want {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}

func TestSpecialWord(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c < 0x20 || c == '"' || c == '\\' || c >= 0x80
		for pos := 0; pos < 8; pos++ {
			w := []byte("abcdefgh")
			w[pos] = byte(c)
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(w[i])
			}
			if got := specialWord(x); got != want {
				t.Fatalf("byte %#x at %d: %v, want %v", c, pos, got, want)
			}
		}
	}
}

func TestLatin1Reader(t *testing.T) {
	in := []byte{'a', 0xe9, 'b', 0xff}
	for _, size := range []int{1, 2, 3, 64} {
		var out []byte
		r := Latin1Reader(bytes.NewReader(in))
		buf := make([]byte, size)
		for {
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		if string(out) != "aébÿ" {
			t.Errorf("buffer %d: %q", size, out)
		}
	}
}

// BenchmarkDecodeV3 measures the decoder on a typical record against the
// reference decoder written with encoding/json (run with -benchmem).
func BenchmarkDecodeV3(b *testing.B) {
	raw := []byte(`{"key":{"type":"STRING","data":"k12345-678"},"value":{"type":"BINARY","data":"` + Base64(bytes.Repeat([]byte("v"), 100)) + `"}}`)
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := DecodeV3(raw, nil, "t"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if r := refV3(raw); r.kind != 0 {
				b.Fatal(r.kind)
			}
		}
	})
}

// BenchmarkDecodeV3String is the record the old v3 decoder's benchmark
// used (BenchmarkDecodeRecord/fast: 360 ns, 2 allocations on this
// machine), for comparison across the rewrite.
func BenchmarkDecodeV3String(b *testing.B) {
	raw := []byte(`{"key":{"type":"STRING","data":"k12345-678"},"value":{"type":"STRING","data":"` + strings.Repeat("v", 100) + `"}}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeV3(raw, nil, "t"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeV3Binary is the record test/bench/v3produce sends.
func BenchmarkDecodeV3Binary(b *testing.B) {
	raw := []byte(`{"value":{"type":"BINARY","data":"` + Base64(bytes.Repeat([]byte("v"), 100)) + `"}}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeV3(raw, nil, "t"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStream decodes the body test/bench/v3produce sends.
func BenchmarkStream(b *testing.B) {
	rec := []byte(`{"value":{"type":"BINARY","data":"` + Base64(bytes.Repeat([]byte("v"), 100)) + `"}}` + "\n")
	body := bytes.Repeat(rec, 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for i := 0; i < b.N; i += 1000 {
		s := NewStream(bufio.NewReaderSize(bytes.NewReader(body), 64<<10), 1<<20, nil, "t")
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	}
}

// TestDecodeV2Max: a body with more records than the cap is refused
// (KindTooLarge, nothing returned) as soon as the one past the cap begins.
func TestDecodeV2Max(t *testing.T) {
	body := []byte(`{"records":[{"value":1},{"value":2},{"value":3}]}`)
	if recs, err := DecodeV2Max(body, JSON, nil, 3); err != nil || len(recs) != 3 {
		t.Fatalf("at the cap: %d records, %v", len(recs), err)
	}
	recs, err := DecodeV2Max(body, JSON, nil, 2)
	if KindOf(err) != KindTooLarge || recs != nil || err.Error() != "The request has more than 2 records; send them in several requests." {
		t.Fatalf("over the cap: %d records, %v", len(recs), err)
	}
	// A syntax error past the cap is not read.
	if _, err := DecodeV2Max([]byte(`{"records":[{},{},{`), JSON, nil, 2); KindOf(err) != KindTooLarge {
		t.Errorf("over the cap before a syntax error: %v", err)
	}
}

// v2BenchBodies are the bodies test/bench/v2produce sends (100 records,
// 93-byte values, binary) and the same count of small json values.
func v2BenchBodies() map[Name][]byte {
	bin := `{"value":"` + Base64(bytes.Repeat([]byte("v"), 93)) + `"}`
	js := `{"key":"sensor-17","value":{"deviceid":"AppleWatch4","heartrate":72,"tags":["a","b"]}}`
	many := func(rec string) []byte {
		return []byte(`{"records":[` + strings.TrimSuffix(strings.Repeat(rec+",", 100), ",") + `]}`)
	}
	return map[Name][]byte{Binary: many(bin), JSON: many(js)}
}

// BenchmarkDecodeV2 decodes a body of 100 records in each built-in v2
// format, with DecodeV2 and with a V2Batch reused as the produce path
// reuses them (run with -benchmem: allocs/op is per body).
func BenchmarkDecodeV2(b *testing.B) {
	for _, name := range []Name{Binary, JSON} {
		body := v2BenchBodies()[name]
		b.Run(name.Lower(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if recs, err := DecodeV2(body, name, nil); err != nil || len(recs) != 100 {
					b.Fatal(len(recs), err)
				}
			}
		})
		b.Run(name.Lower()+"/reused", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var batch V2Batch
			for b.Loop() {
				if err := batch.Decode(body, name, nil, 0); err != nil || len(batch.Records) != 100 {
					b.Fatal(len(batch.Records), err)
				}
			}
		})
	}
}

// oneRecordReader returns one of its records per Read, as a device that
// sends a record now and then reaches the gateway.
type oneRecordReader struct{ recs []string }

func (r *oneRecordReader) Read(p []byte) (int, error) {
	if len(r.recs) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.recs[0])
	if r.recs[0] = r.recs[0][n:]; r.recs[0] == "" {
		r.recs = r.recs[1:]
	}
	return n, nil
}

// TestGrowingStream: a stream whose reads bring a record at a time keeps
// its small buffer; one whose first read fills it moves to the large
// one, losing no byte it had buffered; both decode the same records.
func TestGrowingStream(t *testing.T) {
	var recs []string
	for i := range 200 {
		recs = append(recs, fmt.Sprintf(`{"value":{"type":"JSON","data":{"n":%d,"pad":"%s"}}}`+"\n", i, strings.Repeat("x", i%37)))
	}
	decode := func(s *Stream) []string {
		var out []string
		for {
			d, err := s.Next()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatalf("record %d: %v", len(out), err)
			}
			out = append(out, string(d.Value))
		}
	}
	want := decode(NewStream(bufio.NewReaderSize(strings.NewReader(strings.Join(recs, "")), 64<<10), 1<<20, nil, "t"))
	if len(want) != len(recs) {
		t.Fatalf("%d records decoded, want %d", len(want), len(recs))
	}

	slow := NewGrowingStream(&oneRecordReader{recs: slices.Clone(recs)}, 4<<10, 64<<10, 1<<20, nil, "t")
	if got := decode(slow); !slices.Equal(got, want) {
		t.Errorf("a record a read: decoded %d records, not the same as the reference", len(got))
	}
	if slow.r.Size() != 4<<10 {
		t.Errorf("a record a read: the buffer grew to %d bytes", slow.r.Size())
	}

	bulk := NewGrowingStream(strings.NewReader(strings.Join(recs, "")), 4<<10, 64<<10, 1<<20, nil, "t")
	if got := decode(bulk); !slices.Equal(got, want) {
		t.Errorf("as fast as it goes: decoded %d records, not the same as the reference", len(got))
	}
	if bulk.r.Size() != 64<<10 {
		t.Errorf("as fast as it goes: the buffer stayed at %d bytes", bulk.r.Size())
	}
}

// TestGrowingStreamChunkedBody: a chunked request body sent flat out
// through net/http, as v3 streams arrive, moves the stream to its large
// buffer (the chunks' framing keeps reads short of a full small buffer).
func TestGrowingStreamChunkedBody(t *testing.T) {
	rec := `{"value":{"type":"BINARY","data":"` + strings.Repeat("QUJD", 33) + `"}}` + "\n"
	chunk := strings.Repeat(rec, 256)
	type result struct {
		records, size int
		err           error
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := NewGrowingStream(r.Body, 4<<10, 64<<10, 1<<20, nil, "t")
		n := 0
		for {
			_, err := s.Next()
			if errors.Is(err, io.EOF) {
				got <- result{records: n, size: s.r.Size()}
				return
			}
			if err != nil {
				got <- result{err: err}
				return
			}
			n++
		}
	}))
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		for range 20 {
			if _, err := pw.Write([]byte(chunk)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	resp, err := http.Post(srv.URL, "application/json", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got
	if r.err != nil || r.records != 20*256 {
		t.Fatalf("decoded %d records (%v), want %d", r.records, r.err, 20*256)
	}
	if r.size != 64<<10 {
		t.Errorf("a body sent flat out left the stream at a %d-byte buffer, want 64 KiB", r.size)
	}
}
