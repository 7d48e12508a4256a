package schemareg

import (
	"strings"
	"testing"
)

// The verdicts follow Confluent's documented rules: Avro's schema
// resolution ("Schema Evolution and Compatibility", Avro), the JSON
// Schema content-model rules, and the Protobuf provider's incompatible
// differences.
func TestCompatibilityTable(t *testing.T) {
	const (
		avroV1          = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
		avroAddDefault  = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
		avroAddNoDef    = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}`
		avroIntAge      = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
		avroLongAge     = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"long","default":0}]}`
		avroDoubleAge   = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"double","default":0}]}`
		avroBytesName   = `{"type":"record","name":"User","fields":[{"name":"name","type":"bytes"}]}`
		avroIntName     = `{"type":"record","name":"User","fields":[{"name":"name","type":"int"}]}`
		avroEnumAB      = `{"type":"enum","name":"E","symbols":["A","B"]}`
		avroEnumABC     = `{"type":"enum","name":"E","symbols":["A","B","C"]}`
		avroEnumABCDef  = `{"type":"enum","name":"E","symbols":["A","B","C"],"default":"A"}`
		avroEnumABDef   = `{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`
		avroUnionNull   = `{"type":"record","name":"User","fields":[{"name":"name","type":["null","string"],"default":null}]}`
		avroOtherName   = `{"type":"record","name":"Person","fields":[{"name":"name","type":"string"}]}`
		avroAliasedName = `{"type":"record","name":"Person","aliases":["User"],"fields":[{"name":"name","type":"string"}]}`

		jsonOpen         = `{"type":"object","properties":{"a":{"type":"string"}}}`
		jsonOpenAddB     = `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`
		jsonClosed       = `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`
		jsonClosedAddB   = `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}`
		jsonClosedNoA    = `{"type":"object","properties":{},"additionalProperties":false}`
		jsonOpenNoA      = `{"type":"object","properties":{}}`
		jsonReqA         = `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`
		jsonNumberA      = `{"type":"object","properties":{"a":{"type":"number"}}}`
		jsonIntegerA     = `{"type":"object","properties":{"a":{"type":"integer"}}}`
		jsonEnumAB       = `{"type":"string","enum":["a","b"]}`
		jsonEnumABC      = `{"type":"string","enum":["a","b","c"]}`
		jsonMax10        = `{"type":"string","maxLength":10}`
		jsonMax5         = `{"type":"string","maxLength":5}`
		jsonStringOrNull = `{"type":["string","null"]}`
		jsonString       = `{"type":"string"}`

		protoV1        = `syntax = "proto3"; package p; message M { string a = 1; int32 b = 2; }`
		protoAdd       = `syntax = "proto3"; package p; message M { string a = 1; int32 b = 2; bool c = 3; }`
		protoDel       = `syntax = "proto3"; package p; message M { string a = 1; }`
		protoRename    = `syntax = "proto3"; package p; message M { string x = 1; int32 b = 2; }`
		protoInt64     = `syntax = "proto3"; package p; message M { string a = 1; int64 b = 2; }`
		protoFloat     = `syntax = "proto3"; package p; message M { string a = 1; float b = 2; }`
		protoBytes     = `syntax = "proto3"; package p; message M { bytes a = 1; int32 b = 2; }`
		protoPkg       = `syntax = "proto3"; package q; message M { string a = 1; int32 b = 2; }`
		protoTwo       = `syntax = "proto3"; package p; message M { string a = 1; int32 b = 2; } message N { string z = 1; }`
		protoMsgField  = `syntax = "proto3"; package p; message M { string a = 1; N b = 2; } message N { string z = 1; }`
		protoOneofBoth = `syntax = "proto3"; package p; message M { oneof o { string a = 1; int32 b = 2; } }`
		protoOneofA    = `syntax = "proto3"; package p; message M { oneof o { string a = 1; } int32 b = 2; }`
	)
	tests := []struct {
		name     string
		typ      SchemaType
		level    Level
		old, new string
		want     bool
	}{
		{"avro add field with default backward", Avro, Backward, avroV1, avroAddDefault, true},
		{"avro add field without default backward", Avro, Backward, avroV1, avroAddNoDef, false},
		{"avro add field without default forward", Avro, Forward, avroV1, avroAddNoDef, true},
		{"avro remove field without default forward", Avro, Forward, avroAddNoDef, avroV1, false},
		{"avro remove field with default forward", Avro, Forward, avroAddDefault, avroV1, true},
		{"avro remove field backward", Avro, Backward, avroAddNoDef, avroV1, true},
		{"avro add field with default full", Avro, Full, avroV1, avroAddDefault, true},
		{"avro add field without default full", Avro, Full, avroV1, avroAddNoDef, false},
		{"avro int to long backward", Avro, Backward, avroIntAge, avroLongAge, true},
		{"avro int to long forward", Avro, Forward, avroIntAge, avroLongAge, false},
		{"avro int to double backward", Avro, Backward, avroIntAge, avroDoubleAge, true},
		{"avro long to int backward", Avro, Backward, avroLongAge, avroIntAge, false},
		{"avro string to bytes full", Avro, Full, avroV1, avroBytesName, true},
		{"avro string to int backward", Avro, Backward, avroV1, avroIntName, false},
		{"avro enum add symbol backward", Avro, Backward, avroEnumAB, avroEnumABC, true},
		{"avro enum add symbol forward", Avro, Forward, avroEnumAB, avroEnumABC, false},
		{"avro enum add symbol forward, reader default", Avro, Forward, avroEnumABDef, avroEnumABCDef, true},
		{"avro enum remove symbol backward", Avro, Backward, avroEnumABC, avroEnumAB, false},
		{"avro string to union with null backward", Avro, Backward, avroV1, avroUnionNull, true},
		{"avro union with null to string backward", Avro, Backward, avroUnionNull, avroV1, false},
		{"avro renamed record backward", Avro, Backward, avroV1, avroOtherName, false},
		{"avro renamed record with alias backward", Avro, Backward, avroV1, avroAliasedName, true},
		{"avro anything at NONE", Avro, None, avroV1, avroIntName, true},

		{"json add property to open model backward", JSON, Backward, jsonOpen, jsonOpenAddB, false},
		{"json add property to closed model backward", JSON, Backward, jsonClosed, jsonClosedAddB, true},
		{"json add property to closed model forward", JSON, Forward, jsonClosed, jsonClosedAddB, false},
		{"json remove property from open model backward", JSON, Backward, jsonOpen, jsonOpenNoA, true},
		{"json remove property from closed model backward", JSON, Backward, jsonClosed, jsonClosedNoA, false},
		{"json add required backward", JSON, Backward, jsonOpen, jsonReqA, false},
		{"json remove required backward", JSON, Backward, jsonReqA, jsonOpen, true},
		{"json integer to number backward", JSON, Backward, jsonIntegerA, jsonNumberA, true},
		{"json number to integer backward", JSON, Backward, jsonNumberA, jsonIntegerA, false},
		{"json enum extended backward", JSON, Backward, jsonEnumAB, jsonEnumABC, true},
		{"json enum narrowed backward", JSON, Backward, jsonEnumABC, jsonEnumAB, false},
		{"json maxLength decreased backward", JSON, Backward, jsonMax10, jsonMax5, false},
		{"json maxLength increased backward", JSON, Backward, jsonMax5, jsonMax10, true},
		{"json type widened backward", JSON, Backward, jsonString, jsonStringOrNull, true},
		{"json type narrowed backward", JSON, Backward, jsonStringOrNull, jsonString, false},
		{"json open to closed backward", JSON, Backward, jsonOpen, jsonClosed, false},
		{"json closed to open backward", JSON, Backward, jsonClosed, jsonOpen, true},

		{"proto add field", Protobuf, FullTransitive, protoV1, protoAdd, true},
		{"proto remove field", Protobuf, Full, protoV1, protoDel, true},
		{"proto rename field", Protobuf, Full, protoV1, protoRename, true},
		{"proto int32 to int64", Protobuf, Backward, protoV1, protoInt64, true},
		{"proto int32 to float", Protobuf, Backward, protoV1, protoFloat, false},
		{"proto string to bytes", Protobuf, Backward, protoV1, protoBytes, true},
		{"proto package changed", Protobuf, Backward, protoV1, protoPkg, true},
		{"proto message added", Protobuf, Backward, protoV1, protoTwo, true},
		{"proto message removed", Protobuf, Backward, protoTwo, protoV1, false},
		{"proto scalar to message", Protobuf, Backward, protoTwo, protoMsgField, false},
		{"proto two fields into a new oneof", Protobuf, Backward, protoV1, protoOneofBoth, false},
		{"proto field out of a oneof", Protobuf, Backward, protoOneofBoth, protoOneofA, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse(Source{Type: tt.typ, Schema: tt.old})
			if err != nil {
				t.Fatalf("old: %v", err)
			}
			n, err := Parse(Source{Type: tt.typ, Schema: tt.new})
			if err != nil {
				t.Fatalf("new: %v", err)
			}
			msgs := Check(tt.level, n, o)
			if got := len(msgs) == 0; got != tt.want {
				t.Errorf("compatible = %v, want %v (%s)", got, tt.want, strings.Join(msgs, "; "))
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tt := range []struct {
		typ    SchemaType
		schema string
	}{
		{Avro, `{"type":"record","name":"X"}`},
		{Avro, `{"type":"nope"}`},
		{Avro, `not json`},
		{JSON, `{"type":"strin"}`},
		{JSON, `[1,2]`},
		{JSON, `{"$ref":"file:///etc/passwd"}`},
		{JSON, `{"$ref":"https://example.com/x.json"}`},
		{Protobuf, `syntax = "proto3"; message M { strin a = 1; }`},
		{Protobuf, `syntax = "proto3"; import "/etc/passwd"; message M {}`},
	} {
		if _, err := Parse(Source{Type: tt.typ, Schema: tt.schema}); err == nil {
			t.Errorf("%s %s parsed", tt.typ, tt.schema)
		}
	}
}

// TestProtobufCompatibility: the rules of Confluent's Protobuf provider
// (its diff: which differences are compatible), with imports. old and
// new may import "home.proto" and "home2.proto", given as oldRefs and
// newRefs.
func TestProtobufCompatibility(t *testing.T) {
	const (
		home    = `syntax = "proto3"; package demo.a; message Home { int32 id = 1; bool on = 2; }`
		homePkg = `syntax = "proto3"; package demo.b; message Home { int32 id = 1; bool on = 2; }`
		homeStr = `syntax = "proto3"; package demo.b; message Home { string id = 1; bool on = 2; }`
	)
	type refs = map[string]string
	tests := []struct {
		name             string
		old, new         string
		oldRefs, newRefs refs
		want             bool
	}{
		{"package changed, own types qualified", `syntax = "proto3"; package foo; message M { string s = 1; .foo.M.S st = 2; message S { string s = 1; } }`,
			`syntax = "proto3"; package bar; message M { string s = 1; .bar.M.S st = 2; message S { string s = 1; } }`, nil, nil, true},
		{"name qualification only", `syntax = "proto3"; message M { S st = 1; message S { string s = 1; } }`,
			`syntax = "proto3"; message M { .M.S st = 1; message S { string s = 1; } }`, nil, nil, true},
		{"int32 to enum", `syntax = "proto3"; message M { int32 st = 1; }`,
			`syntax = "proto3"; message M { Status st = 1; } enum Status { ON = 0; OFF = 1; }`, nil, nil, true},
		{"enum to int64", `syntax = "proto3"; message M { Status st = 1; } enum Status { ON = 0; OFF = 1; }`,
			`syntax = "proto3"; message M { int64 st = 1; }`, nil, nil, true},
		{"enum to another enum", `syntax = "proto3"; message M { A st = 1; } enum A { X = 0; }`,
			`syntax = "proto3"; message M { B st = 1; } enum B { Y = 0; }`, nil, nil, true},
		{"enum constant renamed", `syntax = "proto3"; message M { A st = 1; } enum A { X = 0; Y = 1; }`,
			`syntax = "proto3"; message M { A st = 1; } enum A { X = 0; Z = 1; }`, nil, nil, true},
		{"enum to string", `syntax = "proto3"; message M { A st = 1; } enum A { X = 0; }`,
			`syntax = "proto3"; message M { string st = 1; }`, nil, nil, false},
		{"int32 singular to repeated", `syntax = "proto3"; message M { optional int32 n = 1; }`,
			`syntax = "proto3"; message M { repeated int32 n = 1; }`, nil, nil, false},
		{"string singular to repeated", `syntax = "proto3"; message M { optional string s = 1; }`,
			`syntax = "proto3"; message M { repeated string s = 1; }`, nil, nil, true},
		{"bytes singular to repeated", `syntax = "proto3"; message M { bytes s = 1; }`,
			`syntax = "proto3"; message M { repeated bytes s = 1; }`, nil, nil, true},
		{"message singular to repeated", `syntax = "proto3"; message M { optional S st = 1; message S { string s = 1; } }`,
			`syntax = "proto3"; message M { repeated S st = 1; message S { string s = 1; } }`, nil, nil, true},
		{"message type renamed", `syntax = "proto3"; message M { A a = 1; } message A { string s = 1; }`,
			`syntax = "proto3"; message M { B a = 1; } message B { string s = 1; }`, nil, nil, false},
		{"messages reordered", `syntax = "proto3"; message A { string s = 1; } message B { string s = 1; }`,
			`syntax = "proto3"; message B { string s = 1; } message A { string s = 1; }`, nil, nil, true},
		{"map value scalar changed", `syntax = "proto3"; message M { map<string, int32> m = 1; }`,
			`syntax = "proto3"; message M { map<string, string> m = 1; }`, nil, nil, false},
		{"map value qualified", `syntax = "proto3"; message M { map<string, S> m = 1; message S { string s = 1; } }`,
			`syntax = "proto3"; message M { map<string, M.S> m = 1; message S { string s = 1; } }`, nil, nil, true},
		{"required field added (proto2)", `syntax = "proto2"; message M { optional string a = 1; }`,
			`syntax = "proto2"; message M { optional string a = 1; required string b = 2; }`, nil, nil, false},
		{"field number changed", `syntax = "proto3"; message M { string a = 1; }`,
			`syntax = "proto3"; message M { string a = 2; }`, nil, nil, true},
		{"imported type, other package, same fields", `syntax = "proto3"; import "home.proto"; message M { .demo.a.Home h = 1; }`,
			`syntax = "proto3"; import "home2.proto"; message M { .demo.b.Home h = 1; }`, refs{"home.proto": home}, refs{"home2.proto": homePkg}, true},
		{"imported type's field changed", `syntax = "proto3"; import "home.proto"; message M { .demo.a.Home h = 1; }`,
			`syntax = "proto3"; import "home2.proto"; message M { .demo.b.Home h = 1; }`, refs{"home.proto": home}, refs{"home2.proto": homeStr}, false},
		{"message moved into an import", `syntax = "proto3"; message M { Home h = 1; } message Home { int32 id = 1; bool on = 2; }`,
			`syntax = "proto3"; import "home.proto"; message M { .demo.a.Home h = 1; }`, nil, refs{"home.proto": home}, false},
		{"message moved from an import", `syntax = "proto3"; import "home.proto"; message M { .demo.a.Home h = 1; }`,
			`syntax = "proto3"; message M { Home h = 1; } message Home { int32 id = 1; bool on = 2; }`, refs{"home.proto": home}, nil, true},
	}
	parse := func(t *testing.T, schema string, rs refs) Parsed {
		t.Helper()
		src := Source{Type: Protobuf, Schema: schema}
		for name, text := range rs {
			src.Refs = append(src.Refs, NamedSchema{Name: name, Schema: text})
		}
		p, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, n := parse(t, tt.old, tt.oldRefs), parse(t, tt.new, tt.newRefs)
			msgs := Check(Backward, n, o)
			if got := len(msgs) == 0; got != tt.want {
				t.Errorf("compatible = %v, want %v (%s)", got, tt.want, strings.Join(msgs, "; "))
			}
		})
	}
}
