package schemareg

import (
	"fmt"

	"github.com/hamba/avro/v2"
)

// AppendAvroJSON appends to dst the Avro binary encoding of data, a value
// in Avro's JSON encoding (the form Confluent's REST Proxy takes for the
// avro embedded format): a union is null or {"branch": value}, bytes and
// fixed are strings of code points 0 to 255, a record's missing field
// takes its default. It returns an error saying where data does not fit
// the schema (avroencode.go).
func (s *avroSchema) AppendAvroJSON(dst, data []byte) ([]byte, error) {
	return encodeAvroJSON(dst, s.compiled, data)
}

// maxAvroDepth bounds the nesting of a value.
const maxAvroDepth = 256

// branchName is how Avro's JSON encoding names a union branch.
func branchName(s avro.Schema) string {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func shortName(s avro.Schema) string {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.Name()
	}
	return string(s.Type())
}

// marshalDefault encodes a field's default with hamba/avro, which parsed
// it with the schema.
func marshalDefault(f *avro.Field) (b []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			b, err = nil, fmt.Errorf("cannot encode the default: %v", v)
		}
	}()
	return avro.Marshal(f.Type(), f.Default())
}
