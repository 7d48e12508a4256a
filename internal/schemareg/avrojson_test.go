package schemareg

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hamba/avro/v2"
)

const avroEveryType = `{"type":"record","name":"T","namespace":"ns","fields":[
 {"name":"n","type":"null"},
 {"name":"b","type":"boolean"},
 {"name":"i","type":"int"},
 {"name":"l","type":"long"},
 {"name":"f","type":"float"},
 {"name":"d","type":"double"},
 {"name":"s","type":"string"},
 {"name":"by","type":"bytes"},
 {"name":"fx","type":{"type":"fixed","name":"F","size":2}},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
 {"name":"a","type":{"type":"array","items":"int"}},
 {"name":"m","type":{"type":"map","values":"string"}},
 {"name":"u","type":["null","string","ns.E"]},
 {"name":"u2","type":["null","string"]},
 {"name":"def","type":"long","default":42},
 {"name":"rec","type":["null",{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}],"default":null}
]}`

func TestAppendAvroJSON(t *testing.T) {
	p, err := Parse(Source{Type: Avro, Schema: avroEveryType})
	if err != nil {
		t.Fatal(err)
	}
	s := p.(*avroSchema)
	in := `{"n":null,"b":true,"i":-7,"l":9007199254740993,"f":1.5,"d":-2.25,"s":"héllo","by":"\u0000\u00ff","fx":"ab",
		"e":"B","a":[1,2,3],"m":{"k":"v"},"u":{"ns.E":"A"},"u2":null,"rec":{"ns.Inner":{"x":5}}}`
	b, err := s.AppendAvroJSON(nil, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := avro.Unmarshal(s.schema, b, &got); err != nil {
		t.Fatalf("hamba cannot read what was encoded: %v", err)
	}
	want := map[string]any{
		"n": nil, "b": true, "i": -7, "l": int64(9007199254740993), "f": float32(1.5), "d": -2.25, "s": "héllo",
		"by": []byte{0, 0xff}, "fx": [2]byte{'a', 'b'}, "e": "B", "a": []any{1, 2, 3}, "m": map[string]any{"k": "v"},
		"u": map[string]any{"ns.E": "A"}, "u2": nil, "def": int64(42), "rec": map[string]any{"ns.Inner": map[string]any{"x": 5}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	for _, bad := range []string{
		`{"b":true}`, // missing fields without defaults
		`{"n":null,"b":"yes","i":1,"l":1,"f":1,"d":1,"s":"","by":"","fx":"ab","e":"A","a":[],"m":{},"u":null,"u2":null}`,
		`{"n":null,"b":true,"i":2147483648,"l":1,"f":1,"d":1,"s":"","by":"","fx":"ab","e":"A","a":[],"m":{},"u":null,"u2":null}`,
		`{"n":null,"b":true,"i":1,"l":1,"f":1,"d":1,"s":"","by":"\u0100","fx":"ab","e":"A","a":[],"m":{},"u":null,"u2":null}`,
		`{"n":null,"b":true,"i":1,"l":1,"f":1,"d":1,"s":"","by":"","fx":"abc","e":"A","a":[],"m":{},"u":null,"u2":null}`,
		`{"n":null,"b":true,"i":1,"l":1,"f":1,"d":1,"s":"","by":"","fx":"ab","e":"C","a":[],"m":{},"u":null,"u2":null}`,
		`{"n":null,"b":true,"i":1,"l":1,"f":1,"d":1,"s":"","by":"","fx":"ab","e":"A","a":[],"m":{},"u":"bare","u2":null}`,
		`{"n":null,"b":true,"i":1,"l":1,"f":1,"d":1,"s":"","by":"","fx":"ab","e":"A","a":[],"m":{},"u":{"int":1},"u2":null}`,
		`{"n":null,"b":true,"i":1,"l":1,"f":1,"d":1,"s":"","by":"","fx":"ab","e":"A","a":[],"m":{},"u":null,"u2":null,"extra":1}`,
		`[1]`,
	} {
		if _, err := s.AppendAvroJSON(nil, []byte(bad)); err == nil {
			t.Errorf("%s encoded", bad)
		}
	}
}

// FuzzAvroJSON: any input either fails or encodes bytes hamba/avro reads
// back completely.
func FuzzAvroJSON(f *testing.F) {
	p, err := Parse(Source{Type: Avro, Schema: avroEveryType})
	if err != nil {
		f.Fatal(err)
	}
	s := p.(*avroSchema)
	f.Add(`{"n":null,"b":true,"i":-7,"l":1,"f":1.5,"d":-2.25,"s":"x","by":"\u0000","fx":"ab","e":"B","a":[1],"m":{"k":"v"},"u":{"string":"A"},"u2":null}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, in string) {
		b, err := s.AppendAvroJSON(nil, []byte(in))
		if err != nil {
			return
		}
		var got map[string]any
		if err := avro.Unmarshal(s.schema, b, &got); err != nil {
			t.Fatalf("%s encoded to bytes hamba cannot read: %v", in, err)
		}
	})
}

// FuzzAvroJSONAgainstReference: the one-pass encoder accepts what the
// first encoder (through encoding/json) accepted, refuses what it
// refused, and writes bytes that read back to the same value; the one
// difference is a record field given twice, which it refuses.
func FuzzAvroJSONAgainstReference(f *testing.F) {
	p, err := Parse(Source{Type: Avro, Schema: avroEveryType})
	if err != nil {
		f.Fatal(err)
	}
	s := p.(*avroSchema)
	f.Add(`{"n":null,"b":true,"i":-7,"l":9007199254740993,"f":1.5,"d":-2.25,"s":"h\u00e9llo\ud83d\ude00","by":"\u0000\u00ff","fx":"ab","e":"B","a":[1,2,3],"m":{"k":"v","a":"b"},"u":{"ns.E":"A"},"u2":null,"rec":{"ns.Inner":{"x":5}}}`)
	f.Add(`{"rec":{"Inner":{"x":-2147483648}},"u2":{"string":"x"},"u":{"string":"\ud800"},"m":{},"a":[],"e":"A","fx":"\u00ff\u0001","by":"","s":"","d":1e3,"f":-0.5e-2,"l":-9223372036854775808,"i":0,"b":false,"n":null}`)
	f.Add(`{"n":null,"b":true,"i":1,"l":1,"f":1,"d":1,"s":"","by":"","fx":"ab","e":"A","a":[],"m":{},"u":null,"u2":null,"extra":1}`)
	f.Add(`{"n":null,"b":true,"i":1.0,"l":1,"f":1,"d":1,"s":"","by":"","fx":"ab","e":"A","a":[],"m":{},"u":null,"u2":null}`)
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return
		}
		got, err := s.AppendAvroJSON(nil, []byte(in))
		want, werr := s.appendAvroJSONReference(nil, []byte(in))
		if (err == nil) != (werr == nil) {
			if err != nil && strings.Contains(err.Error(), "given twice") {
				return
			}
			t.Fatalf("%s: encoder %v, reference %v", in, err, werr)
		}
		if err != nil {
			return
		}
		var g, w map[string]any
		if err := avro.Unmarshal(s.schema, got, &g); err != nil {
			t.Fatalf("%s encoded to bytes hamba cannot read: %v", in, err)
		}
		if err := avro.Unmarshal(s.schema, want, &w); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Fatalf("%s: (-reference +encoder)\n%s", in, diff)
		}
	})
}
