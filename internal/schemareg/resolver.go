package schemareg

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kgate/kgate/internal/record"
)

// Resolver makes the formats of one produce request's embedded schemas
// (record.Resolver): a schema given in full is registered under the
// topic's subject (TopicNameStrategy: "<topic>-value", "<topic>-key"), a
// schema id is looked up. It
// remembers the ids it resolved for the response and the versions it
// registered for the audit trail. A Resolver serves one request; it is
// safe for concurrent use.
type Resolver struct {
	src   lookup
	ctx   context.Context
	topic string
	allow func(write bool, subject string) bool

	mu             sync.Mutex
	keyID, valueID int
	created        []Schema
	cache          map[refKey]record.Format
	// named are the subject and version each resolved schema id was
	// found under, for the receipts.
	named map[namedID]SubjectVersion
}

type namedID struct {
	key bool
	id  int
}

// Named returns the subject and version under which the request resolved
// schema id for its keys (key) or values; version is 0 when the id was
// given without one and the subject holds no version of it.
func (res *Resolver) Named(key bool, id int) (subject string, version int, ok bool) {
	res.mu.Lock()
	defer res.mu.Unlock()
	sv, ok := res.named[namedID{key, id}]
	return sv.Subject, sv.Version, ok
}

func (res *Resolver) name(key bool, id int, subject string, version int) {
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.named == nil {
		res.named = map[namedID]SubjectVersion{}
	}
	if len(res.named) < 64 {
		res.named[namedID{key, id}] = SubjectVersion{subject, version}
	}
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

func undecodable(format string, args ...any) *record.Error {
	return &record.Error{Kind: record.KindUndecodable, Problem: fmt.Sprintf(format, args...)}
}

// unavailable is the record error of a registry that could not answer;
// the cause (which may name the registry's address) is logged by the
// caller's error path, not shown.
func unavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return &record.Error{Kind: record.KindUnavailable, Problem: "could not be resolved: the schema registry did not answer"}
	}
	return nil
}

// schemaTypeOf is the schema type of an embedded format.
func schemaTypeOf(n record.Name) (SchemaType, bool) {
	switch n {
	case record.Avro:
		return Avro, true
	case record.JSONSchema:
		return JSON, true
	case record.Protobuf:
		return Protobuf, true
	}
	return "", false
}

// refKey identifies a schema reference within a request, so that a
// stream of records naming the same schema resolves it once.
type refKey struct {
	typ              record.Name
	key              bool
	subject          string
	id, version      int
	schema, strategy string
}

func keyOf(ref record.SchemaRef) refKey {
	k := refKey{typ: ref.Type, key: ref.Key}
	if ref.Subject != nil {
		k.subject = *ref.Subject
	}
	if ref.ID != nil {
		k.id = *ref.ID
	}
	if ref.Version != nil {
		k.version = *ref.Version
	}
	if ref.Schema != nil {
		k.schema = *ref.Schema
	}
	if ref.Strategy != nil {
		k.strategy = *ref.Strategy
	}
	return k
}

// Resolve implements record.Resolver. A reference names its schema by
// the schema itself (registered under the subject), an id, or a subject
// version (the latest without one); the subject is the reference's or
// the topic's (TopicNameStrategy). Naming none takes the subject's
// latest version, and when the subject has none only null data fit (a
// v2 request with values but no key schema). The type, when the
// reference gives none, is the schema's.
func (res *Resolver) Resolve(ref record.SchemaRef) (record.Format, error) {
	k := keyOf(ref)
	res.mu.Lock()
	f, ok := res.cache[k]
	res.mu.Unlock()
	if !ok {
		var err error
		if f, err = res.resolve(ref); err != nil {
			return nil, err
		}
		res.mu.Lock()
		if res.cache == nil {
			res.cache = map[refKey]record.Format{}
		}
		if len(res.cache) < 64 {
			res.cache[k] = f
		}
		res.mu.Unlock()
	}
	if w, ok := f.(wireFormat); ok {
		res.mu.Lock()
		if ref.Key {
			res.keyID = w.id
		} else {
			res.valueID = w.id
		}
		res.mu.Unlock()
	}
	return f, nil
}

func (res *Resolver) resolve(ref record.SchemaRef) (record.Format, error) {
	var typ SchemaType
	if ref.Type != "" {
		t, ok := schemaTypeOf(ref.Type)
		if !ok {
			return nil, &record.Error{Kind: record.KindNeedsRegistry, Problem: fmt.Sprintf("the %s format is not supported by kgate's schema registry", ref.Type.Lower())}
		}
		typ = t
	}
	subject := res.topic + "-value"
	if ref.Key {
		subject = res.topic + "-key"
	}
	if ref.Subject != nil {
		subject = *ref.Subject
	}
	if ref.Strategy != nil && *ref.Strategy != TopicNameStrategy {
		s, err := res.strategySubject(ref, typ)
		if err != nil {
			return nil, err
		}
		subject = s
	}
	var id, version int
	switch {
	case ref.Schema != nil:
		if typ == "" {
			typ = Avro
		}
		if !res.allow(true, subject) {
			return nil, invalid("cannot be registered: not authorized to write subject %q", subject)
		}
		s, created, err := res.src.register(res.ctx, subject, Registration{Schema: *ref.Schema, Type: string(typ)})
		if err != nil {
			if u := unavailable(err); u != nil {
				return nil, u
			}
			var e *Error
			if errors.As(err, &e) {
				return nil, invalid("schema refused by the schema registry (error_code %d): %s", e.Code, e.Message)
			}
			return nil, err
		}
		id, version = s.ID, s.Version
		if created {
			res.mu.Lock()
			res.created = append(res.created, s)
			res.mu.Unlock()
		}
	case ref.ID != nil:
		id = *ref.ID
		usages, err := res.src.usages(res.ctx, id)
		if u := unavailable(err); u != nil {
			return nil, u
		}
		visible := false
		for _, u := range usages {
			if res.allow(false, u.Subject) {
				visible = true
			}
			if u.Subject == subject && u.Version > version {
				version = u.Version
			}
		}
		if err != nil || !visible {
			return nil, invalid("names schema id %d, which does not exist", id)
		}
	default:
		version = Latest
		if ref.Version != nil {
			version = *ref.Version
		}
		named := ref.Subject != nil || ref.Version != nil
		var s Schema
		err := fmt.Errorf("subject %q may not be read", subject)
		if res.allow(false, subject) {
			s, err = res.src.version(res.ctx, subject, version)
		}
		if u := unavailable(err); u != nil {
			return nil, u
		}
		if err != nil {
			if !named {
				// Only nulls fit (nulls are not decoded).
				return noSchema{ref.Type, subject}, nil
			}
			return nil, invalid("names subject %q version %d, which does not exist", subject, version)
		}
		id, version = s.ID, s.Version
	}
	st, p, err := parsedOfType(res.ctx, res.src, id, typ)
	if u := unavailable(err); u != nil {
		return nil, u
	}
	if err != nil {
		return nil, invalid("names %v", err)
	}
	res.name(ref.Key, id, subject, version)
	return wireFormat{id: id, typ: st, parsed: p, src: res.src}, nil
}

// strategySubject is the subject of a reference naming RECORD_NAME or
// TOPIC_RECORD_NAME: derived from the schema given in full, or the one
// its id names.
func (res *Resolver) strategySubject(ref record.SchemaRef, typ SchemaType) (string, error) {
	strategy := *ref.Strategy
	if strategy != RecordNameStrategy && strategy != TopicRecordNameStrategy {
		return "", invalid("names subject_name_strategy %s: TOPIC_NAME, RECORD_NAME or TOPIC_RECORD_NAME", strategy)
	}
	if ref.Subject != nil {
		return "", invalid("cannot have both subject and subject_name_strategy %s", strategy)
	}
	var p Parsed
	switch {
	case ref.Schema != nil:
		if typ == "" {
			typ = Avro
		}
		parsed, err := Parse(Source{Type: typ, Schema: *ref.Schema})
		if err != nil {
			return "", invalid("schema refused by the schema registry (error_code %d): Invalid schema: %s", CodeInvalidSchema, oneLine(err.Error()))
		}
		p = parsed
	case ref.ID != nil:
		_, parsed, err := parsedOfType(res.ctx, res.src, *ref.ID, typ)
		if u := unavailable(err); u != nil {
			return "", u
		}
		if err != nil {
			return "", invalid("names %v", err)
		}
		p = parsed
	default:
		return "", invalid("names subject_name_strategy %s, which needs a schema or a schema_id to take the record name from", strategy)
	}
	subject, err := strategySubject(strategy, res.topic, p)
	if err != nil {
		return "", invalid("names subject_name_strategy %s, but %v", strategy, err)
	}
	if !ValidSubject(subject) {
		return "", invalid("names subject_name_strategy %s, whose subject is not a valid subject name", strategy)
	}
	return subject, nil
}

// parsedOfType returns the type and parsed schema of an id, which must
// be of type typ ("": any).
func parsedOfType(ctx context.Context, src lookup, id int, typ SchemaType) (SchemaType, Parsed, error) {
	st, p, err := src.schemaByID(ctx, id)
	var e *Error
	switch {
	case errors.As(err, &e) && e.Code == CodeSchemaNotFound:
		return "", nil, fmt.Errorf("schema id %d, which does not exist", id)
	case err != nil:
		return "", nil, err
	case typ != "" && st != typ:
		return "", nil, fmt.Errorf("schema id %d, a %s schema, not a %s one", id, st, typ)
	}
	return st, p, nil
}

// wireFormat is an embedded format for one schema: Confluent's wire
// format, magic byte 0, the schema id in 4 bytes big-endian, then the
// Avro binary encoding (avro), the JSON text (jsonschema), or the message
// indexes and the Protobuf binary of the schema's first message
// (protobuf).
type wireFormat struct {
	id     int
	typ    SchemaType
	parsed Parsed
	src    lookup
}

func formatName(t SchemaType) record.Name {
	switch t {
	case JSON:
		return record.JSONSchema
	case Protobuf:
		return record.Protobuf
	}
	return record.Avro
}

func (f wireFormat) Name() record.Name { return formatName(f.typ) }

func (f wireFormat) Decode(dst []byte, v record.Value) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(f.id))
	switch p := f.parsed.(type) {
	case *avroSchema:
		out, err := p.AppendAvroJSON(dst, v.Raw)
		if err != nil {
			return dst[:start], invalid("does not match the Avro schema %d: %v", f.id, err)
		}
		return out, nil
	case *jsonSchema:
		if err := p.Validate(v.Raw); err != nil {
			return dst[:start], invalid("does not match the JSON schema %d", f.id)
		}
		buf := bytes.NewBuffer(dst)
		if err := json.Compact(buf, v.Raw); err != nil {
			return dst[:start], invalid("is not JSON")
		}
		return buf.Bytes(), nil
	case *protoSchema:
		out, err := p.appendProtoJSON(dst, v.Raw)
		if err != nil {
			return dst[:start], invalid("does not match the Protobuf schema %d: %v", f.id, err)
		}
		return out, nil
	}
	return dst[:start], invalid("has a schema type that cannot be produced")
}

// Encode shows stored bytes in the format (whatever their schema id).
func (f wireFormat) Encode(dst, b []byte) ([]byte, error) { return showWire(f.src, dst, b, f.typ) }

// MaxDecodedLen is an estimate: the Avro binary of a JSON value is
// usually shorter than its text (a float written "1" takes 4 bytes, but
// the arena grows past an estimate safely).
func (wireFormat) MaxDecodedLen(v record.Value) int { return len(v.Raw) + 5 }

// reader is the format of consumers of a schema type
// (Formats.ReaderFormat).
type reader struct {
	src lookup
	typ SchemaType
}

func (f reader) Name() record.Name { return formatName(f.typ) }

func (reader) Decode(dst []byte, _ record.Value) ([]byte, error) {
	return dst, invalid("needs a schema")
}

func (f reader) Encode(dst, b []byte) ([]byte, error) { return showWire(f.src, dst, b, f.typ) }

func (reader) MaxDecodedLen(record.Value) int { return 0 }

// showTimeout bounds an external registry's answer to a consumer's
// read meeting a schema id not yet cached (a record's Encode has no
// context of its own).
const showTimeout = 10 * time.Second

// showWire appends the JSON of b, bytes in Confluent's wire format whose
// schema is of type typ.
func showWire(src lookup, dst, b []byte, typ SchemaType) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), showTimeout)
	defer cancel()
	return showWireCtx(ctx, src, dst, b, typ)
}

// ShowWire appends the JSON of b, a value in Confluent's wire format
// with a schema of any type: Avro's JSON encoding, the JSON text, or
// Protobuf's JSON mapping. Errors are *record.Error: KindUndecodable for
// bytes that are not in the format or name an unknown id, KindUnavailable
// when the registry does not answer.
func (f *Formats) ShowWire(ctx context.Context, dst, b []byte) ([]byte, error) {
	return showWireCtx(ctx, f.src, dst, b, "")
}

func showWireCtx(ctx context.Context, src lookup, dst, b []byte, typ SchemaType) ([]byte, error) {
	if len(b) < 5 || b[0] != 0 {
		return dst, undecodable("is not in the Schema Registry wire format (magic byte 0 and a schema id)")
	}
	id := int(binary.BigEndian.Uint32(b[1:5]))
	_, p, err := parsedOfType(ctx, src, id, typ)
	if u := unavailable(err); u != nil {
		return dst, u
	}
	if err != nil {
		return dst, undecodable("names %v", err)
	}
	switch p := p.(type) {
	case *avroSchema:
		out, err := p.AppendJSONFromAvro(dst, b[5:])
		if err != nil {
			return dst, undecodable("does not match its Avro schema %d: %v", id, err)
		}
		return out, nil
	case *jsonSchema:
		buf := bytes.NewBuffer(dst)
		if err := json.Compact(buf, b[5:]); err != nil {
			return dst, undecodable("is not JSON after its schema id %d", id)
		}
		return buf.Bytes(), nil
	case *protoSchema:
		out, err := p.appendJSONFromProto(dst, b[5:])
		if err != nil {
			return dst, undecodable("does not match its Protobuf schema %d: %v", id, err)
		}
		return out, nil
	}
	return dst, undecodable("has a schema type that cannot be shown")
}

// noSchema is the format of a key or value the request gives no schema
// for and whose subject has none: only nulls (which are not decoded) fit.
type noSchema struct {
	name    record.Name
	subject string
}

func (f noSchema) Name() record.Name { return f.name }

func (f noSchema) Decode(dst []byte, _ record.Value) ([]byte, error) {
	return dst, invalid("needs a schema: the request names none (schema, schema id or subject version) and subject %q has no version the caller may read", f.subject)
}

func (noSchema) Encode(dst, _ []byte) ([]byte, error) {
	return dst, undecodable("has no schema")
}

func (noSchema) MaxDecodedLen(record.Value) int { return 0 }
