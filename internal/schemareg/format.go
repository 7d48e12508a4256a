package schemareg

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// SchemaType is a schema language, named as Confluent names it.
type SchemaType string

// The schema types.
const (
	Avro     SchemaType = "AVRO"
	JSON     SchemaType = "JSON"
	Protobuf SchemaType = "PROTOBUF"
)

// Types returns the supported schema types, in the order Confluent's
// /schemas/types lists them.
func Types() []SchemaType { return []SchemaType{JSON, Protobuf, Avro} }

// ParseType reads a schemaType field: empty means AVRO.
func ParseType(s string) (SchemaType, bool) {
	switch SchemaType(s) {
	case "", Avro:
		return Avro, true
	case JSON, Protobuf:
		return SchemaType(s), true
	}
	return "", false
}

// Reference is a schema reference: the referenced schema is subject's
// version, known to the referring schema as name (an Avro full name, a
// JSON Schema URL, a .proto import path).
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Source is a schema's text with the texts of what it references (its
// references' own references included), by reference name.
type Source struct {
	Type   SchemaType
	Schema string
	// Refs are the referenced schemas, dependencies before their users.
	Refs []NamedSchema
}

// NamedSchema is one referenced schema's text under its reference name.
type NamedSchema struct {
	Name   string
	Schema string
}

// Parsed is a schema that parsed. Its methods are safe for concurrent use.
type Parsed interface {
	// Canonical is the text that identifies the schema: two
	// registrations of the same canonical text under the same references
	// get the same id.
	Canonical() string
	// Normalized is the text stored with normalize=true.
	Normalized() string
	// CanRead reports why the schema, as a reader, cannot read data
	// written with writer (same type); nil when it can.
	CanRead(writer Parsed) []string
}

// format is one schema language's parser.
type format interface {
	parse(src Source) (Parsed, error)
}

var formats = map[SchemaType]format{
	Avro:     avroFormat{},
	JSON:     jsonFormat{},
	Protobuf: protoFormat{},
}

// Parse parses src with its type's parser. The text is untrusted: a
// parser's panic (hamba/avro v2.31.0 panics on a field whose type is an
// empty union with a default, found by FuzzAvro) is returned as an error,
// not a dead gateway.
func Parse(src Source) (p Parsed, err error) {
	f, ok := formats[src.Type]
	if !ok {
		return nil, fmt.Errorf("unknown schema type %q", src.Type)
	}
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, fmt.Errorf("the %s parser failed: %v", src.Type, v)
		}
	}()
	return f.parse(src)
}

// fingerprint identifies a schema by type, canonical text and references.
func fingerprint(t SchemaType, canonical string, refs []Reference) string {
	h := sha256.New()
	b, _ := json.Marshal(struct {
		T SchemaType  `json:"t"`
		S string      `json:"s"`
		R []Reference `json:"r"`
	}{t, canonical, refs})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// compactJSON returns s's JSON with insignificant whitespace removed, and
// sortedJSON the same with object keys sorted (Go's maps marshal sorted).
func compactJSON(s string) (string, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	return string(b), err
}
