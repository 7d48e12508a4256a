package schemareg

import "testing"

// The parsers take untrusted text: they must not panic (the registry
// recovers, but a panic is still a bug), a schema that parses must have a
// canonical form that parses again to the same form, and it must read
// itself (every level accepts an unchanged schema).
func fuzzFormat(f *testing.F, typ SchemaType, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(Source{Type: typ, Schema: s})
		if err != nil {
			return
		}
		if typ != Protobuf {
			q, err := Parse(Source{Type: typ, Schema: p.Canonical()})
			if err != nil {
				t.Fatalf("canonical form %q of %q does not parse: %v", p.Canonical(), s, err)
			}
			if q.Canonical() != p.Canonical() {
				t.Fatalf("canonical form is not stable: %q then %q", p.Canonical(), q.Canonical())
			}
		}
		if msgs := Check(FullTransitive, p, p); len(msgs) > 0 {
			t.Fatalf("%q cannot follow itself: %v", s, msgs)
		}
	})
}

func FuzzAvro(f *testing.F) {
	fuzzFormat(f, Avro,
		`"string"`,
		`{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":["null","int"],"default":null}]}`,
		`{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`,
		`{"type":"array","items":{"type":"map","values":"long"}}`,
		`{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`,
		`{"type":"fixed","name":"F","size":16,"logicalType":"decimal","precision":4}`,
	)
}

func FuzzJSONSchema(f *testing.F) {
	fuzzFormat(f, JSON,
		`{"type":"object","properties":{"a":{"type":"string","maxLength":5}},"required":["a"],"additionalProperties":false}`,
		`{"oneOf":[{"type":"string"},{"type":"integer","minimum":3}]}`,
		`{"definitions":{"n":{"type":"object","properties":{"next":{"$ref":"#/definitions/n"}}}},"$ref":"#/definitions/n"}`,
		`{"type":"array","items":{"enum":[1,"a",null]},"uniqueItems":true}`,
		`true`,
	)
}

func FuzzProtobuf(f *testing.F) {
	fuzzFormat(f, Protobuf,
		`syntax = "proto3"; package p; message M { string a = 1; repeated int32 b = 2; map<string, M> c = 3; oneof o { bool d = 4; bytes e = 5; } }`,
		`syntax = "proto2"; message M { required string a = 1; optional group G = 2 { optional int32 x = 3; } }`,
		`syntax = "proto3"; import "google/protobuf/timestamp.proto"; message M { google.protobuf.Timestamp t = 1; enum E { A = 0; B = 1; } E e = 2; }`,
		// The base64 of a FileDescriptorProto importing a well-known type.
		`CgtvcmRlci5wcm90bxIEc2hvcBofZ29vZ2xlL3Byb3RvYnVmL3RpbWVzdGFtcC5wcm90byI7CgVPcmRlchIKCgJpZBgBIAEoCRImCgJhdBgCIAEoCzIaLmdvb2dsZS5wcm90b2J1Zi5UaW1lc3RhbXBiBnByb3RvMw==`,
	)
}
