package schemareg

import (
	"context"

	"github.com/kgate/kgate/internal/record"
)

// lookup is what the REST formats need of a registry: kgate's own
// (Registry) or an external one (Remote). Errors a client caused are
// *Error with Confluent's code; a registry that cannot answer gives an
// error wrapping ErrUnavailable.
type lookup interface {
	// register registers a schema under a subject (or finds the version
	// holding it) and reports whether it made a new version.
	register(ctx context.Context, subject string, reg Registration) (Schema, bool, error)
	// usages returns the subject-versions holding an id, soft-deleted
	// ones included.
	usages(ctx context.Context, id int) ([]SubjectVersion, error)
	// version returns a live version of a subject (Latest: the latest).
	version(ctx context.Context, subject string, version int) (Schema, error)
	// schemaByID returns an id's schema type and parsed schema.
	schemaByID(ctx context.Context, id int) (SchemaType, Parsed, error)
}

// Formats gives the REST APIs' schema formats (avro, jsonschema,
// protobuf) their schemas, from kgate's registry (Registry.Formats) or
// an external one (Remote.Formats). It is safe for concurrent use.
type Formats struct{ src lookup }

// Formats returns the REST formats backed by this registry.
func (r *Registry) Formats() *Formats { return &Formats{src: r} }

// NewResolver returns a resolver for a request producing to topic. allow
// says whether the caller may register under (write) or read a subject.
func (f *Formats) NewResolver(ctx context.Context, topic string, allow func(write bool, subject string) bool) *Resolver {
	return &Resolver{src: f.src, ctx: ctx, topic: topic, allow: allow}
}

// ReaderFormat is the embedded format of consumers of a schema type
// (record.Avro, record.JSONSchema or record.Protobuf): stored bytes in
// Confluent's wire format are shown as JSON with the schema their id
// names. It decodes nothing (producers resolve a schema per request). ok
// is false for other formats.
func (f *Formats) ReaderFormat(n record.Name) (record.Format, bool) {
	typ, ok := schemaTypeOf(n)
	if !ok {
		return nil, false
	}
	return reader{f.src, typ}, true
}

// The Registry's side of lookup: its state is local, so ctx only bounds
// a registration's write.

func (r *Registry) register(ctx context.Context, subject string, reg Registration) (Schema, bool, error) {
	if s, ok := r.holds(subject, reg); ok {
		return s, false, nil
	}
	return r.Register(ctx, subject, reg)
}

// holds finds a live version of subject with exactly reg's text and type
// and no references: a produce that sends its schema with every request
// registers the same text again and again, and gets its version without
// parsing the text or catching up with the topic (Register would find
// the same version). Anything else (another text, references,
// normalize, a subject not in READWRITE) takes Register's path.
func (r *Registry) holds(subject string, reg Registration) (Schema, bool) {
	typ, ok := ParseType(reg.Type)
	if !ok || reg.Normalize || reg.ID != 0 || reg.Version != 0 || len(reg.References) > 0 {
		return Schema{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.mode(subject) != ReadWrite {
		return Schema{}, false
	}
	var found *Schema
	for _, s := range r.subjects[subject] {
		if !s.Deleted && s.Type == typ && len(s.References) == 0 && s.Schema == reg.Schema && (found == nil || s.Version > found.Version) {
			found = s
		}
	}
	if found == nil {
		return Schema{}, false
	}
	return *found, true
}

func (r *Registry) usages(_ context.Context, id int) ([]SubjectVersion, error) {
	return r.Usages(id, true)
}

func (r *Registry) version(_ context.Context, subject string, version int) (Schema, error) {
	return r.Version(subject, version, false)
}

func (r *Registry) schemaByID(_ context.Context, id int) (SchemaType, Parsed, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.ids[id]
	if s == nil {
		return "", nil, errorf(CodeSchemaNotFound, "Schema %d not found", id)
	}
	p, err := r.parsedOf(s)
	if err != nil {
		return "", nil, err
	}
	return s.Type, p, nil
}
