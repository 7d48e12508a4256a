package schemareg

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/kgate/kgate/internal/record"
)

// Resolver makes the formats of one produce request's embedded schemas
// (record.Resolver): a schema given in full is registered under the
// topic's subject (TopicNameStrategy: "<topic>-value", "<topic>-key"), a
// schema id is looked up. Only AVRO is supported so far. It remembers the
// ids it resolved for the response. A Resolver serves one request; it is
// safe for concurrent use.
type Resolver struct {
	reg   *Registry
	ctx   context.Context
	topic string
	allow func(write bool, subject string) bool

	mu             sync.Mutex
	keyID, valueID int
	created        []Schema
}

// NewResolver returns a resolver for a request producing to topic. allow
// says whether the caller may register under (write) or read a subject.
func (r *Registry) NewResolver(ctx context.Context, topic string, allow func(write bool, subject string) bool) *Resolver {
	return &Resolver{reg: r, ctx: ctx, topic: topic, allow: allow}
}

// Created returns the versions the request registered (for the audit
// trail).
func (res *Resolver) Created() []Schema {
	res.mu.Lock()
	defer res.mu.Unlock()
	return append([]Schema(nil), res.created...)
}

// IDs returns the key's and the value's schema ids (0: none).
func (res *Resolver) IDs() (key, value int) {
	res.mu.Lock()
	defer res.mu.Unlock()
	return res.keyID, res.valueID
}

func invalid(format string, args ...any) *record.Error {
	return &record.Error{Kind: record.KindInvalid, Problem: fmt.Sprintf(format, args...)}
}

// Resolve implements record.Resolver.
func (res *Resolver) Resolve(ref record.SchemaRef) (record.Format, error) {
	if ref.Type != record.Avro {
		return nil, &record.Error{Kind: record.KindNeedsRegistry, Problem: fmt.Sprintf("the %s format is not supported by kgate's schema registry yet (only avro)", ref.Type)}
	}
	subject := res.topic + "-value"
	if ref.Key {
		subject = res.topic + "-key"
	}
	var id int
	switch {
	case ref.Schema != nil:
		if !res.allow(true, subject) {
			return nil, invalid("cannot be registered: not authorized to write subject %q", subject)
		}
		s, created, err := res.reg.Register(res.ctx, subject, Registration{Schema: *ref.Schema, Type: string(Avro)})
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return nil, invalid("schema refused by the schema registry (error_code %d): %s", e.Code, e.Message)
			}
			return nil, err
		}
		id = s.ID
		if created {
			res.mu.Lock()
			res.created = append(res.created, s)
			res.mu.Unlock()
		}
	case ref.ID != nil:
		id = *ref.ID
		usages, err := res.reg.Usages(id, true)
		visible := false
		for _, u := range usages {
			if res.allow(false, u.Subject) {
				visible = true
				break
			}
		}
		if err != nil || !visible {
			return nil, invalid("names schema id %d, which does not exist", id)
		}
	default:
		// Records may leave it out (null keys need no schema).
		return noSchema{}, nil
	}
	f, err := res.reg.avroFormat(id)
	if err != nil {
		return nil, err
	}
	res.mu.Lock()
	if ref.Key {
		res.keyID = id
	} else {
		res.valueID = id
	}
	res.mu.Unlock()
	return f, nil
}

func (r *Registry) avroFormat(id int) (record.Format, error) {
	r.mu.RLock()
	s := r.ids[id]
	var p Parsed
	var err error
	if s != nil {
		p, err = r.parsedOf(s)
	}
	r.mu.RUnlock()
	switch {
	case s == nil:
		return nil, invalid("names schema id %d, which does not exist", id)
	case s.Type != Avro:
		return nil, invalid("names schema id %d, a %s schema, not an avro one", id, s.Type)
	case err != nil:
		return nil, err
	}
	return avroWire{id: id, schema: p.(*avroSchema), reg: r}, nil
}

// AvroFormat is the avro embedded format of consumers: stored bytes in
// Confluent's wire format are shown as Avro JSON with the schema their id
// names. It decodes nothing (producers resolve a schema per request).
func (r *Registry) AvroFormat() record.Format { return avroReader{r} }

type avroReader struct{ reg *Registry }

func (avroReader) Name() record.Name { return record.Avro }

func (avroReader) Decode(dst []byte, _ record.Value) ([]byte, error) {
	return dst, invalid("needs a schema")
}

func (f avroReader) Encode(dst, b []byte) ([]byte, error) { return f.reg.showWire(dst, b) }

func (avroReader) MaxDecodedLen(record.Value) int { return 0 }

// showWire appends the Avro JSON of b, bytes in Confluent's wire format.
func (r *Registry) showWire(dst, b []byte) ([]byte, error) {
	undecodable := func(format string, args ...any) error {
		return &record.Error{Kind: record.KindUndecodable, Problem: fmt.Sprintf(format, args...)}
	}
	if len(b) < 5 || b[0] != 0 {
		return dst, undecodable("is not in the Schema Registry wire format (magic byte 0 and a schema id)")
	}
	id := int(binary.BigEndian.Uint32(b[1:5]))
	f, err := r.avroFormat(id)
	if err != nil {
		return dst, undecodable("names schema id %d, which is not an avro schema of this registry", id)
	}
	out, err := f.(avroWire).schema.AppendJSONFromAvro(dst, b[5:])
	if err != nil {
		return dst, undecodable("does not match its Avro schema %d: %v", id, err)
	}
	return out, nil
}

// avroWire is the avro embedded format for one schema: Confluent's wire
// format, magic byte 0, the schema id in 4 bytes big-endian, then the
// Avro binary encoding.
type avroWire struct {
	id     int
	schema *avroSchema
	reg    *Registry
}

func (avroWire) Name() record.Name { return record.Avro }

func (f avroWire) Decode(dst []byte, v record.Value) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(f.id))
	dst, err := f.schema.AppendAvroJSON(dst, v.Raw)
	if err != nil {
		return dst[:start], invalid("does not match the Avro schema %d: %v", f.id, err)
	}
	return dst, nil
}

// Encode shows stored bytes in the avro format (whatever their schema id).
func (f avroWire) Encode(dst, b []byte) ([]byte, error) { return f.reg.showWire(dst, b) }

// MaxDecodedLen is an estimate: the Avro binary of a JSON value is
// usually shorter than its text (a float written "1" takes 4 bytes, but
// the arena grows past an estimate safely).
func (avroWire) MaxDecodedLen(v record.Value) int { return len(v.Raw) + 5 }

// noSchema is the format of a key or value the request gives no schema
// for: only nulls (which are not decoded) fit.
type noSchema struct{}

func (noSchema) Name() record.Name { return record.Avro }

func (noSchema) Decode(dst []byte, _ record.Value) ([]byte, error) {
	return dst, invalid("needs a schema: the request has no key_schema/key_schema_id or value_schema/value_schema_id for it")
}

func (noSchema) Encode(dst, _ []byte) ([]byte, error) {
	return dst, &record.Error{Kind: record.KindUndecodable, Problem: "cannot be shown in the avro format yet"}
}

func (noSchema) MaxDecodedLen(record.Value) int { return 0 }
