package schemareg

import (
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

// avroFormat parses Avro schemas with hamba/avro and checks compatibility
// with its implementation of the specification's schema resolution
// (avro.SchemaCompatibility): a reader field missing from the writer needs
// a default, int promotes to long, float and double, long to float and
// double, float to double, string and bytes to each other, a writer's
// enum symbol must be in the reader's enum unless it has a default, a
// writer's union branches must each be readable, a reader union must hold
// a branch that reads the writer, named types match by name or alias and
// fixed sizes must be equal.
type avroFormat struct{}

type avroSchema struct {
	schema    avro.Schema
	canonical string
	// compiled leads the produce path's encoder (avroencode.go).
	compiled *avroNode
}

func (avroFormat) parse(src Source) (Parsed, error) {
	// A fresh cache per parse: hamba's default cache is global, and a
	// named type from one subject's schema must not leak into another's.
	cache := &avro.SchemaCache{}
	for _, r := range src.Refs {
		if _, err := avro.ParseWithCache(r.Schema, "", cache); err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
	}
	s, err := avro.ParseWithCache(src.Schema, "", cache)
	if err != nil {
		return nil, err
	}
	canonical, err := compactJSON(src.Schema)
	if err != nil {
		return nil, err
	}
	return &avroSchema{schema: s, canonical: canonical, compiled: compileAvro(s, map[string]*avroNode{})}, nil
}

func (s *avroSchema) Canonical() string  { return s.canonical }
func (s *avroSchema) Normalized() string { return s.canonical }

func (s *avroSchema) CanRead(writer Parsed) []string {
	w, ok := writer.(*avroSchema)
	if !ok {
		return []string{"the schema types differ"}
	}
	if err := avro.NewSchemaCompatibility().Compatible(s.schema, w.schema); err != nil {
		return []string{strings.TrimSpace(err.Error())}
	}
	return nil
}
