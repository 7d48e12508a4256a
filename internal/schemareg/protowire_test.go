package schemareg

import (
	"encoding/json"
	"testing"
)

const protoOrder = `syntax = "proto3"; package shop; message Order { string id = 1; int64 qty = 2; Line line = 3; message Line { string sku = 1; } }`

func TestProtoWire(t *testing.T) {
	p, err := Parse(Source{Type: Protobuf, Schema: protoOrder})
	if err != nil {
		t.Fatal(err)
	}
	s := p.(*protoSchema)
	b, err := s.appendProtoJSON(nil, []byte(`{"id":"x","qty":"7","line":{"sku":"s"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 {
		t.Fatalf("message indexes % x, want [0] as 00", b[:1])
	}
	j, err := s.appendJSONFromProto(nil, b)
	if err != nil || string(j) != `{"id":"x","qty":"7","line":{"sku":"s"}}` {
		t.Fatalf("round trip = %s, %v", j, err)
	}
	// Indexes [0, 0]: the nested Line (count 2, zigzag: 04 00 00).
	nested := append([]byte{4, 0, 0}, 0x0a, 1, 'q')
	if j, err := s.appendJSONFromProto(nil, nested); err != nil || string(j) != `{"sku":"q"}` {
		t.Fatalf("nested message = %s, %v", j, err)
	}
	for _, bad := range []string{`{"id":1}`, `{"nope":"x"}`, `[]`} {
		if _, err := s.appendProtoJSON(nil, []byte(bad)); err == nil {
			t.Errorf("%s encoded", bad)
		}
	}
}

// FuzzProtoWire: any stored bytes either fail or show as JSON.
func FuzzProtoWire(f *testing.F) {
	p, err := Parse(Source{Type: Protobuf, Schema: protoOrder})
	if err != nil {
		f.Fatal(err)
	}
	s := p.(*protoSchema)
	f.Add([]byte{0, 0x0a, 1, 'x'})
	f.Add([]byte{4, 0, 0, 0x0a, 1, 'q'})
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := s.appendJSONFromProto(nil, b)
		if err == nil && !json.Valid(j) {
			t.Fatalf("% x showed as invalid JSON %s", b, j)
		}
	})
}
