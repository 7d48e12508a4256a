package record

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

var v2Seeds = []string{
	`{"records":[{"value":{"deviceid":"AppleWatch4","heartrate":"72","timestamp":"2019-10-07 12:46:13"}}]}`,
	`{"records":[{"key":"a2V5","value":"dmFsdWU="},{"key":null,"value":null},{"value":"eA==","partition":0}]}`,
	`{"records":[{"key":"k","value":[1,2,3],"headers":{"trace":"abc"},"timestamp":1570452373000}]}`,
	`{"records":[{"value":1,"headers":[{"name":"a","value":"YQ"},{"name":"b","value":null}],"timestamp":"2024-01-02T03:04:05.678+01:00"}]}`,
	`{"records":[{"value":"MA=="},{"value":"!!notbase64!!"}]}`,
	`{"records":[{"value":1,"partition":-1}]}`, `{"records":[{"value":1,"partition":1.0}]}`,
	`{"records":{"value":1}}`, `{"records":[1,2]}`, `[1]`, `null`, ``, `  `, `{"records":null}`,
	`{"records":[{"value":"\u00e9\ud83d\ude00\ud800x","key":"a\nb"}],"records":[]}`,
	`{"records":[{"value":1,"headers":{"":"x"}}]}`, `{"records":[{"value":1,"headers":{"n":5,"m":[1, 2],"o":null}}]}`,
	`{"records":[{"value":{"a": [1, {"b" : "c d"}]}}]}`, `{"records":[{"value":1}`, `{"records":[]} x`,
	"{\"records\":[{\"value\":\"\xff\"}]}", `{"records":[{"value":1,"timestamp":-5}]}`,
	`{"value_schema":"\"string\"","records":[{"value":"x"}]}`,
	// Which problem wins: a later "records" replaces an earlier one; a
	// record of the wrong shape or a syntax error anywhere beats an
	// earlier record's bad value.
	`{"records":[{"value":"!!"}],"records":[{"value":"YQ=="}]}`, `{"records":[{"value":"YQ=="}],"records":null}`,
	`{"records":[{"value":"!!"},5]}`, `{"records":[{"value":"!!"}]} x`, `{"records":[{"value":"!!","partition":"x"},{"key":"!!"}]}`,
}

var v3Seeds = []string{
	`{"partition_id":0,"key":{"type":"STRING","data":"order-1"},"value":{"type":"JSON","data":{"sku":"A1","qty":2}},"timestamp":"2024-01-02T03:04:05.678Z"}`,
	`{"partition_id":0,"value":{"type":"BINARY","data":"AAEC/w=="},"headers":[{"name":"trace","value":"dHJhY2U="},{"name":"empty","value":null}],"timestamp":"2024-01-02T03:04:06Z"}`,
	`{"partition_id":9,"value":{"type":"STRING","data":"no such partition"}}`,
	`{"value":{"type":"BINARY","data":"not base64!"}}`, `{"value":{"type":"AVRO","data":{}}}`,
	`{"value":{"data":"x"}}`, `{"value":{"type":"binary","data":"YQ"}}`, `{"value":{"type":"JSON","data":null}}`,
	`{"value":{"type":"JSON","schema_id":1,"data":1}}`, `{"value":5}`, `{"key":{"type":"XML"}}`,
	`{"value":{"type":"STRING","data":"a\u0000b"},"id":"x"}`, `{"timestamp":1}`, `{"partition_id":"1"}`,
	`{"value":{"type":"JSON","data": { "a" : 1 } }}`, `{}`, `{"headers":{"a":"b"}}`, `{"headers":[5]}`,
}

func compareV2(t *testing.T, body []byte, name Name) {
	got, err := DecodeV2(body, name, nil)
	want := refV2(body, name)
	if class(KindOf(err)) != want.kind || err != nil && KindOf(err) == 0 {
		t.Fatalf("DecodeV2(%q, %s): error %v (kind %v), reference kind %v", body, name, err, KindOf(err), want.kind)
	}
	if err == nil && render(got) != render(want.recs) {
		t.Fatalf("DecodeV2(%q, %s):\n got %s\nwant %s", body, name, render(got), render(want.recs))
	}
	// A V2Batch that decoded other bodies before (headers, spaced JSON,
	// many records) agrees with DecodeV2: nothing of them shows through.
	var b V2Batch
	for _, s := range []string{v2Seeds[3], v2Seeds[1], v2Seeds[17]} {
		if e := b.Decode([]byte(s), JSON, nil, 0); e != nil {
			t.Fatalf("seed %s: %v", s, e)
		}
	}
	berr := b.Decode(body, name, nil, 0)
	if fmt.Sprint(berr) != fmt.Sprint(err) || KindOf(berr) != KindOf(err) {
		t.Fatalf("V2Batch.Decode(%q, %s): error %v, DecodeV2's %v", body, name, berr, err)
	}
	if render(b.Records) != render(got) || err != nil && len(b.Records) != 0 {
		t.Fatalf("V2Batch.Decode(%q, %s):\n got %s\nwant %s", body, name, render(b.Records), render(got))
	}
}

func compareV3(t *testing.T, raw []byte) {
	got, err := DecodeV3(raw, nil, "t")
	want := refV3(raw)
	if class(KindOf(err)) != want.kind || err != nil && KindOf(err) == 0 {
		t.Fatalf("DecodeV3(%q): error %v (kind %v), reference kind %v", raw, err, KindOf(err), want.kind)
	}
	if err == nil && render([]Record{got}) != render(want.recs) {
		t.Fatalf("DecodeV3(%q):\n got %s\nwant %s", raw, render([]Record{got}), render(want.recs))
	}
}

// FuzzV2 holds DecodeV2 against the reference decoder for both formats.
func FuzzV2(f *testing.F) {
	for _, s := range v2Seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, binary bool) {
		name := JSON
		if binary {
			name = Binary
		}
		compareV2(t, body, name)
	})
}

// FuzzV3 holds DecodeV3 against the reference decoder.
func FuzzV3(f *testing.F) {
	for _, s := range v3Seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { compareV3(t, raw) })
}

// FuzzStream: a stream of records, read through a small buffer so that
// records span reads, decodes as DecodeV3 decodes each object alone.
func FuzzStream(f *testing.F) {
	for _, s := range v3Seeds {
		f.Add([]byte(s+"\n"+s+" "+s), uint8(16))
		f.Add([]byte(s+"\n"+s+" "+s), uint8(47))
	}
	f.Fuzz(func(t *testing.T, body []byte, size uint8) {
		// The objects, split by encoding/json's own decoder.
		var want []string
		dec := json.NewDecoder(bytes.NewReader(body))
		for {
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				break
			}
			want = append(want, string(raw))
		}
		// Odd sizes: a growing stream, from 16 bytes to size+16 (the
		// first read fills 16 bytes, so it moves with bytes pending).
		s := NewStream(bufio.NewReaderSize(bytes.NewReader(body), int(size)+16), 1<<20, nil, "t")
		if size%2 == 1 {
			s = NewGrowingStream(bytes.NewReader(body), 16, int(size)+16, 1<<20, nil, "t")
		}
		for i := 0; ; i++ {
			got, err := s.Next()
			if errors.Is(err, io.EOF) {
				if i < len(want) {
					t.Fatalf("stream ended after %d records, encoding/json found %d", i, len(want))
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) && err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if e != nil && e.Ends() {
				if i < len(want) && refSyntaxOK([]byte(want[i])) && want[i][0] == '{' {
					t.Fatalf("record %d %q: stream ended with %v", i, want[i], err)
				}
				return
			}
			if i >= len(want) {
				t.Fatalf("record %d decoded, encoding/json found only %d", i, len(want))
			}
			ref := refV3([]byte(want[i]))
			if KindOf(err) != ref.kind {
				t.Fatalf("record %d %q: kind %v, reference %v", i, want[i], KindOf(err), ref.kind)
			}
			if err == nil && render([]Record{got}) != render(ref.recs) {
				t.Fatalf("record %d %q:\n got %s\nwant %s", i, want[i], render([]Record{got}), render(ref.recs))
			}
		}
	})
}

func TestSeedsAgreeWithReference(t *testing.T) {
	for _, s := range v2Seeds {
		compareV2(t, []byte(s), JSON)
		compareV2(t, []byte(s), Binary)
	}
	for _, s := range v3Seeds {
		compareV3(t, []byte(s))
	}
}

// stdAppendBase64 is AppendBase64 written with encoding/base64 alone,
// the reference FuzzAppendBase64 holds the AVX2 decoder to.
func stdAppendBase64(dst, s []byte) ([]byte, bool) {
	n := len(dst)
	need := base64.RawStdEncoding.DecodedLen(len(s)) + 3
	dst = slices.Grow(dst, need)
	out := dst[n : n+need]
	k, err := base64.StdEncoding.Decode(out, s)
	if err != nil {
		if k, err = base64.RawStdEncoding.Decode(out, s); err != nil {
			return dst[:n], false
		}
	}
	return dst[:n+k], true
}

// FuzzAppendBase64: the AVX2 decoder accepts exactly what
// encoding/base64 accepts (padded or not, line breaks anywhere) and
// gives the same bytes, after whatever dst already holds.
func FuzzAppendBase64(f *testing.F) {
	value := make([]byte, 200)
	for i := range value {
		value[i] = byte(i * 37)
	}
	for _, n := range []int{0, 1, 2, 3, 23, 24, 33, 34, 35, 48, 93, 94, 95, 150, 200} {
		enc := base64.StdEncoding.EncodeToString(value[:n])
		f.Add([]byte(enc), uint8(0))
		f.Add([]byte(strings.TrimRight(enc, "=")), uint8(3))
		if len(enc) > 64 {
			f.Add([]byte(enc[:40]+"\r\n"+enc[40:]), uint8(1))
			f.Add([]byte(enc[:37]+"="+enc[38:]), uint8(0))
			f.Add([]byte(enc[:50]+"-"+enc[51:]), uint8(0))
			f.Add([]byte(enc[:60]+"_"+enc[61:]), uint8(0))
			f.Add([]byte(enc[:45]+"\x00"+enc[46:]), uint8(0))
			f.Add([]byte(enc[:33]+"\xff"+enc[34:]), uint8(0))
			f.Add([]byte(enc+"A"), uint8(0))
			f.Add([]byte(enc+"=="), uint8(0))
		}
	}
	f.Fuzz(func(t *testing.T, s []byte, prefix uint8) {
		dst := bytes.Repeat([]byte{0xAB}, int(prefix%9))
		want, wantOK := stdAppendBase64(slices.Clone(dst), s)
		got, err := AppendBase64(slices.Clone(dst), s)
		if wantOK != (err == nil) {
			t.Fatalf("%q: accepted %v, encoding/base64 %v (%v)", s, err == nil, wantOK, err)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindBase64 {
				t.Fatalf("%q: error %v, want a KindBase64 error", s, err)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: %x, encoding/base64 %x", s, got, want)
		}
	})
}

// BenchmarkAppendBase64: one 93-byte value (a 150-byte one-record body's)
// through AppendBase64 against encoding/base64 alone, in the same run.
func BenchmarkAppendBase64(b *testing.B) {
	value := make([]byte, 93)
	for i := range value {
		value[i] = byte(i * 37)
	}
	enc := []byte(base64.StdEncoding.EncodeToString(value))
	dst := make([]byte, 0, 128)
	b.Run("encoding-base64", func(b *testing.B) {
		for b.Loop() {
			stdAppendBase64(dst[:0], enc)
		}
	})
	b.Run("AppendBase64", func(b *testing.B) {
		for b.Loop() {
			if _, err := AppendBase64(dst[:0], enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
