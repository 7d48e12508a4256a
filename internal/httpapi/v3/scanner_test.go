package v3

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func scanAll(t testing.TB, in string, max int64) ([]string, error) {
	sc := newRecordScanner(bufio.NewReaderSize(strings.NewReader(in), 16), max)
	var out []string
	for {
		b, err := sc.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, string(b))
	}
}

func TestRecordScanner(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
		err  string
	}{
		{"empty", "", nil, ""},
		{"whitespace", " \r\n\t", nil, ""},
		{"one", `{"a":1}`, []string{`{"a":1}`}, ""},
		{"concatenated", `{"a":1}{"b":2}`, []string{`{"a":1}`, `{"b":2}`}, ""},
		{"separated", "{\"a\":1}\r\n {\"b\":2}\n", []string{`{"a":1}`, `{"b":2}`}, ""},
		{"braces in strings", `{"a":"}{\"}"}{"b":"\\"}`, []string{`{"a":"}{\"}"}`, `{"b":"\\"}`}, ""},
		{"nested", `{"a":{"b":[{"c":[]}]}}{}`, []string{`{"a":{"b":[{"c":[]}]}}`, `{}`}, ""},
		{"long runs across buffer refills", `{"v":"` + strings.Repeat("x", 100) + `"}`, []string{`{"v":"` + strings.Repeat("x", 100) + `"}`}, ""},
		{"not an object", `[1]`, nil, "expected a JSON object"},
		{"garbage after", `{} x`, []string{`{}`}, "got \"x\""},
		{"cut", `{"a":`, nil, "unexpected end of input"},
		{"cut in string", `{"a":"}`, nil, "unexpected end of input"},
		{"binary", "\x00", nil, `\\x00`},
		{"too large", `{"a":"` + strings.Repeat("x", 64) + `"}`, nil, "record larger than 32 bytes"},
		{"at the cap", `{"a":"` + strings.Repeat("x", 24) + `"}`, []string{`{"a":"` + strings.Repeat("x", 24) + `"}`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanAll(t, tc.in, 32)
			if tc.name == "long runs across buffer refills" || tc.name == "braces in strings" || tc.name == "nested" ||
				tc.name == "one" || tc.name == "concatenated" || tc.name == "separated" {
				got, err = scanAll(t, tc.in, 1<<20)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
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

func TestAppendInstant(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{1704164645678, "2024-01-02T03:04:05.678Z"},
		{1704164645000, "2024-01-02T03:04:05Z"},
		{1704164645100, "2024-01-02T03:04:05.100Z"},
		{1704164645001, "2024-01-02T03:04:05.001Z"},
		{1704164645010, "2024-01-02T03:04:05.010Z"},
	} {
		if got := string(appendInstant(nil, time.UnixMilli(tc.ms))); got != tc.want {
			t.Errorf("%d: %s, want %s", tc.ms, got, tc.want)
		}
	}
}

func TestDecodeRecord(t *testing.T) {
	d, err := decodeRecord([]byte(`{"partition_id":2,"key":{"type":"binary","data":"AAE"},"value":{"type":"JSON","data":{ "a" : [1, 2] }},` +
		`"headers":[{"name":"h1","value":"aGk="},{"name":"h1","value":null}],"timestamp":"2024-01-02T03:04:05.678+01:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	if *d.partition != 2 || !bytes.Equal(d.key, []byte{0, 1}) || string(d.value) != `{"a":[1,2]}` {
		t.Errorf("decoded %+v", d)
	}
	if d.keyInfo.Type != "BINARY" || d.keyInfo.Size != 2 || d.valueInfo.Size != 11 {
		t.Errorf("infos %+v %+v", d.keyInfo, d.valueInfo)
	}
	if len(d.headers) != 2 || string(d.headers[0].Value) != "hi" || d.headers[1].Value != nil || d.headers[1].Key != "h1" {
		t.Errorf("headers %+v", d.headers)
	}
	if d.timestamp.UnixMilli() != 1704161045678 {
		t.Errorf("timestamp %v", d.timestamp)
	}
	// Absent key and value are Kafka nulls; a typed null is a null too,
	// but the receipt still names its type.
	d, err = decodeRecord([]byte(`{"value":{"type":"STRING","data":null}}`))
	if err != nil || d.key != nil || d.value != nil || d.keyInfo.Type != "" || d.valueInfo.Type != "STRING" || d.valueInfo.Size != 0 {
		t.Errorf("nulls: %+v %v", d, err)
	}
	// An empty string is an empty value, not a null.
	d, err = decodeRecord([]byte(`{"value":{"type":"STRING","data":""}}`))
	if err != nil || d.value == nil || len(d.value) != 0 {
		t.Errorf("empty string: %+v %v", d, err)
	}
}

// FuzzStreamDecoder runs the produce stream's decoder (the scanner and the
// record decoder) on arbitrary bodies: it never panics, objects are cut
// where JSON says, and only broken JSON ends a stream.
func FuzzStreamDecoder(f *testing.F) {
	for _, s := range []string{
		`{"value":{"type":"STRING","data":"x"}}`,
		`{"key":{"type":"BINARY","data":"AAE="},"value":{"type":"JSON","data":{"a":[1,{"b":null}]}},"partition_id":0}` + "\r\n" + `{}`,
		`{"headers":[{"name":"a","value":"YQ=="},{"name":"b","value":null}],"timestamp":"2024-01-02T03:04:05Z"}`,
		`{"value":{"type":"JSON","data":"\"}{\\"}}{"value":{"type":"AVRO","schema_id":1}}`,
		`{"a":"\u00e9\ud83d\ude00"} {"partition_id":-1}`,
		`{"value":`, `[]`, `}`, `{"a":1]`, "{\"a\":\"\xff\"}", ``, ` `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sc := newRecordScanner(bufio.NewReaderSize(bytes.NewReader(body), 16), 4096)
		consumed := 0
		for i := 0; i < len(body)+1; i++ {
			raw, err := sc.next()
			if err != nil {
				var m errMalformed
				var tl errTooLarge
				if !errors.Is(err, io.EOF) && !errors.As(err, &m) && !errors.As(err, &tl) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			consumed += len(raw)
			if consumed > len(body) || len(raw) < 2 || raw[0] != '{' || (raw[len(raw)-1] != '}' && raw[len(raw)-1] != ']') {
				t.Fatalf("bad object %q from %q", raw, body)
			}
			if int64(len(raw)) > 4096 {
				t.Fatalf("object over the cap: %d bytes", len(raw))
			}
			_, derr := decodeRecord(raw)
			var m errMalformed
			if errors.As(derr, &m) {
				if json.Valid(raw) {
					t.Fatalf("valid JSON %q called malformed: %v", raw, derr)
				}
				return // the stream ends here
			} else if !json.Valid(raw) {
				t.Fatalf("invalid JSON %q not called malformed (err %v)", raw, derr)
			}
		}
		t.Fatalf("scanner did not finish on %q", body)
	})
}

// FuzzFastDecode checks the fast record decoder against decodeRecord:
// whenever it accepts a record, the result is the same.
func FuzzFastDecode(f *testing.F) {
	for _, s := range []string{
		`{"value":{"type":"STRING","data":"x"}}`,
		`{"partition_id":3,"key":{"type":"BINARY","data":"AAE="},"value":{"data":{"a":[1,2.5e3,{"b":null}],"c":"\u00e9"},"type":"json"}}`,
		`{"headers":[{"name":"a","value":"YQ=="},{"value":null,"name":"b"},{"name":"c"}],"timestamp":"2024-01-02T03:04:05.5+02:00"}`,
		`{"other":[{"x":[[]]},"\"",-0.1e-2,true,false,null],"value":{"type":"STRING","data":"é"}}`,
		`{"key":null,"value":null,"headers":null,"partition_id":null,"timestamp":null}`,
		`{"Value":{"type":"STRING","data":"x"}}`, `{"value":{"type":"STRING","data":"x"},"value":{"data":"y"}}`,
		`{"partition_id":2147483648}`, `{"partition_id":-0}`, `{"partition_id":01}`, `{"partition_id":1.0}`,
		`{"value":{"type":"BINARY","data":"AAE"}}`, `{"value":{"type":"STRING","data":""}}`, `{"value":{"type":"BINARY","data":""}}`,
		`{"value":{"type":"JSON","data": { "a" : 1 } }}`, `{"x":{"a":1,}}`, `{"x":[1,]}`, `{"x":"\x"}`, "{\"x\":\"\xff\"}",
		`{"headers":[{"name":"","value":null}]}`, `{"headers":[{"name":"h","value":""}]}`, `{}`, ` { } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fd, ok := decodeFast(raw)
		if !ok {
			return
		}
		sd, err := decodeRecord(raw)
		if err != nil {
			t.Fatalf("fast accepted %q, decodeRecord says %v", raw, err)
		}
		if diff := cmp.Diff(sd, fd, cmp.AllowUnexported(decodedRecord{}), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) && a.Location().String() == b.Location().String() })); diff != "" {
			t.Fatalf("%q decoded differently (-slow +fast):\n%s", raw, diff)
		}
		// nil and empty differ in Kafka (null vs empty): cmp treats them
		// as different too, but say it plainly.
		if (sd.key == nil) != (fd.key == nil) || (sd.value == nil) != (fd.value == nil) {
			t.Fatalf("%q: null/empty mismatch", raw)
		}
		for i := range sd.headers {
			if (sd.headers[i].Value == nil) != (fd.headers[i].Value == nil) {
				t.Fatalf("%q: header %d null/empty mismatch", raw, i)
			}
		}
	})
}

// TestFastDecodeAccepts: the shapes clients send take the fast path.
func TestFastDecodeAccepts(t *testing.T) {
	for _, s := range []string{
		`{"value":{"type":"STRING","data":"x"}}`,
		`{"key":{"type":"STRING","data":"k1"},"value":{"type":"JSON","data":{"i":1,"text":"record 1"}}}`,
		`{"partition_id":0,"key":{"type":"BINARY","data":"AAE="},"value":{"type":"BINARY","data":"aGVsbG8="},"headers":[{"name":"h","value":"dg=="}],"timestamp":"2024-01-02T03:04:05.678Z"}`,
		` {"value": {"type": "JSON", "data": [1, {"a": "b"}]}, "extra": {"ignored": [true, null]}} `,
	} {
		if _, ok := decodeFast([]byte(s)); !ok {
			t.Errorf("slow path for %s", s)
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

// readAll reads a body as the stream does (fast records straight from the
// buffer when possible) or, with fast false, scanner then decodeRecord
// only, and describes each read.
func readAll(body []byte, bufSize int, fast bool) []string {
	sc := newRecordScanner(bufio.NewReaderSize(bytes.NewReader(body), bufSize), 4096)
	var out []string
	describe := func(d decodedRecord) string {
		return fmt.Sprintf("record %v %q %+v %q %+v %v %v", d.partition != nil && *d.partition >= 0, d.key, d.keyInfo, d.value, d.valueInfo, d.headers, d.timestamp.UnixNano())
	}
	for i := 0; i <= len(body); i++ {
		if fast {
			if d, ok := sc.fastRecord(); ok {
				out = append(out, describe(d))
				continue
			}
		}
		raw, err := sc.next()
		if err != nil {
			return append(out, "end: "+err.Error())
		}
		var d decodedRecord
		if fast {
			d, err = decode(raw)
		} else {
			d, err = decodeRecord(raw)
		}
		if err != nil {
			out = append(out, "error: "+err.Error())
			var m errMalformed
			if errors.As(err, &m) {
				return out
			}
			continue
		}
		out = append(out, describe(d))
	}
	return out
}

// FuzzStreamReading: reading records straight from the buffer gives the
// same records and errors as scanning and decoding each one.
func FuzzStreamReading(f *testing.F) {
	f.Add([]byte(`{"value":{"type":"STRING","data":"x"}}{"key":{"type":"BINARY","data":"AAE="}} {"value":{"type":"JSON","data":[1, 2]}}`), uint8(40))
	f.Add([]byte(`{"value":{"type":"STRING","data":"x"}} {"partition_id":-1} {"value":{"data":1}}`+"\n"+`{"a":`), uint8(3))
	f.Add([]byte(`{"headers":[{"name":"h","value":"aGk="}]}  {"value":{"type":"STRING","data":"\u00e9"}}x`), uint8(255))
	f.Fuzz(func(t *testing.T, body []byte, size uint8) {
		bufSize := 16 + int(size)*16
		fast, slow := readAll(body, bufSize, true), readAll(body, bufSize, false)
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Fatalf("%q (buffer %d): (-scan and decode +fast):\n%s", body, bufSize, diff)
		}
	})
}

// BenchmarkDecodeRecord compares the fast decoder with the encoding/json
// one on a typical record (run with -bench DecodeRecord -benchmem).
func BenchmarkDecodeRecord(b *testing.B) {
	raw := []byte(`{"key":{"type":"STRING","data":"k12345-678"},"value":{"type":"STRING","data":"` + strings.Repeat("v", 100) + `"}}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, ok := decodeFast(raw); !ok {
				b.Fatal("slow path")
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := decodeRecord(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
