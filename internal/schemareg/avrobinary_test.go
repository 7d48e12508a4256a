package schemareg

import (
	"bytes"
	"encoding/json"
	"testing"
)

func everyTypeSchema(t testing.TB) *avroSchema {
	p, err := Parse(Source{Type: Avro, Schema: avroEveryType})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*avroSchema)
}

func TestAppendJSONFromAvro(t *testing.T) {
	s := everyTypeSchema(t)
	in := `{"n":null,"b":true,"i":-7,"l":9007199254740993,"f":1.5,"d":-2.25,"s":"héllo \"q\"","by":"\u0000\u00ff","fx":"ab",
		"e":"B","a":[1,2,3],"m":{"k":"v","a":"w"},"u":{"ns.E":"A"},"u2":{"string":"x"},"def":7,"rec":{"ns.Inner":{"x":5}}}`
	b, err := s.AppendAvroJSON(nil, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.AppendJSONFromAvro(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	_ = json.Unmarshal([]byte(in), &want)
	gotB, _ := json.Marshal(got)
	wantB, _ := json.Marshal(want)
	if !bytes.Equal(gotB, wantB) {
		t.Errorf("round trip\n got %s\nwant %s", gotB, wantB)
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(append([]byte{}, b...), 0)} {
		if _, err := s.AppendJSONFromAvro(nil, bad); err == nil {
			t.Errorf("% x decoded", bad)
		}
	}
}

// FuzzAvroBinary: any bytes either fail or decode to JSON that encodes
// back; after that one round trip (which sorts map keys and drops
// duplicates) decoding and encoding are a fixed point.
func FuzzAvroBinary(f *testing.F) {
	s := everyTypeSchema(f)
	seed, err := s.AppendAvroJSON(nil, []byte(`{"n":null,"b":true,"i":-7,"l":1,"f":1.5,"d":-2.25,"s":"x","by":"\u0000","fx":"ab","e":"B","a":[1],"m":{"k":"v"},"u":{"string":"A"},"u2":null}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := s.AppendJSONFromAvro(nil, b)
		if err != nil {
			return
		}
		if !json.Valid(j) {
			t.Fatalf("% x decoded to invalid JSON %s", b, j)
		}
		b2, err := s.AppendAvroJSON(nil, j)
		if err != nil {
			t.Fatalf("% x decoded to %s, which does not encode: %v", b, j, err)
		}
		j2, err := s.AppendJSONFromAvro(nil, b2)
		if err != nil {
			t.Fatalf("%s encoded to bytes that do not decode: %v", j, err)
		}
		b3, err := s.AppendAvroJSON(nil, j2)
		if err != nil {
			t.Fatal(err)
		}
		if j3, err := s.AppendJSONFromAvro(nil, b3); err != nil || !bytes.Equal(j2, j3) || !bytes.Equal(b2, b3) {
			t.Fatalf("%s is not a fixed point: %s, %v", j2, j3, err)
		}
	})
}
