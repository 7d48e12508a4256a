package schemareg

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
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

// TestProtoDescriptorSchema: a PROTOBUF schema given as the base64 of a
// FileDescriptorProto (as confluent-kafka-python 1.x registers it), with
// a well-known import, parses like its .proto text, and compares with it.
func TestProtoDescriptorSchema(t *testing.T) {
	text := `syntax = "proto3"; package shop; import "google/protobuf/timestamp.proto"; message Order { string id = 1; google.protobuf.Timestamp at = 2; }`
	p, err := Parse(Source{Type: Protobuf, Schema: text})
	if err != nil {
		t.Fatal(err)
	}
	fdp := protodesc.ToFileDescriptorProto(p.(*protoSchema).file)
	fdp.Name = proto.String("order.proto")
	b, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(Source{Type: Protobuf, Schema: base64.StdEncoding.EncodeToString(b)})
	if err != nil {
		t.Fatalf("descriptor form: %v", err)
	}
	if d.Canonical() != p.Canonical() {
		t.Errorf("the descriptor and text forms identify differently:\n%s\n%s", d.Canonical(), p.Canonical())
	}
	spaced, err := Parse(Source{Type: Protobuf, Schema: "// an order\n" + strings.ReplaceAll(text, "; ", ";\n  ")})
	if err != nil {
		t.Fatal(err)
	}
	if spaced.Canonical() != p.Canonical() {
		t.Error("whitespace and comments make another canonical form")
	}
	other, _ := Parse(Source{Type: Protobuf, Schema: strings.Replace(text, "string id = 1", "string ident = 1", 1)})
	if other.Canonical() == p.Canonical() {
		t.Error("a renamed field keeps the canonical form")
	}
	if issues := d.CanRead(p); len(issues) != 0 {
		t.Fatalf("descriptor form cannot read the text form: %v", issues)
	}
	j, err := d.(*protoSchema).appendProtoJSON(nil, []byte(`{"id":"x","at":"2026-01-02T03:04:05Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := p.(*protoSchema).appendJSONFromProto(nil, j); err != nil || string(out) != `{"id":"x","at":"2026-01-02T03:04:05Z"}` {
		t.Fatalf("round trip = %s, %v", out, err)
	}
	for _, bad := range []string{"bm90IGEgZGVzY3JpcHRvcg==", "!!!"} {
		if _, err := Parse(Source{Type: Protobuf, Schema: bad}); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
