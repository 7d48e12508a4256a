package record

import "strings"

// v3Data is a key or value object of a v3 record as written.
type v3Data struct {
	// present: the record had the member; obj: as an object (anything
	// else is refused when converting).
	present, obj bool
	typ, data    span
	// schema holds the schema fields, when the object has any (rare
	// without a registry: kept out of the way of the usual record).
	schema *v3Schema
}

type v3Schema struct {
	subject, strategy, schemaID, version, schema span
}

// schemaField returns where a schema field goes, making d.schema.
func (d *v3Data) schemaField(name string) *span {
	if d.schema == nil {
		d.schema = new(v3Schema)
	}
	switch name {
	case "subject":
		return &d.schema.subject
	case "subject_name_strategy":
		return &d.schema.strategy
	case "schema_id":
		return &d.schema.schemaID
	case "schema_version":
		return &d.schema.version
	}
	return &d.schema.schema
}

// v3Record is one v3 record object as written.
type v3Record struct {
	partition, headers, timestamp span
	key, value                    v3Data
}

// DecodeV3 decodes one Confluent v3 record,
//
//	{"partition_id":P,"headers":[{"name":N,"value":B64|null}...],
//	 "key":{"type":T,"data":D,...},"value":{"type":T,"data":D,...},"timestamp":"RFC 3339"}
//
// (a records:batch entry is one too: its "id" is ignored here). raw must
// be exactly the object (whitespace around it allowed). A KindSyntax or
// KindTruncated error means raw is not JSON; any other *Error concerns
// this record only. The fields are converted in the order partition, key,
// value, headers, timestamp, and the first problem is returned. res makes
// schema formats (nil: none); topic is the record's topic, for subject
// name strategies.
func DecodeV3(raw []byte, res Resolver, topic string) (Record, error) {
	l := lexer{b: raw}
	var r v3Record
	if !l.v3Record(&r) {
		return Record{}, l.err
	}
	l.ws()
	if l.i != len(raw) {
		l.unexpected("the end of the record")
		return Record{}, l.err
	}
	return convertV3(&r, res, topic)
}

// decodeV3Prefix decodes the record object at the start of b (after
// whitespace) and returns how many bytes it took; what follows is not
// looked at. A KindTruncated error means b ends inside the object.
func decodeV3Prefix(b []byte, res Resolver, topic string) (Record, int, error) {
	l := lexer{b: b}
	var r v3Record
	if !l.v3Record(&r) {
		return Record{}, l.i, l.err
	}
	d, err := convertV3(&r, res, topic)
	return d, l.i, err
}

// v3Record reads one record object into r.
func (l *lexer) v3Record(r *v3Record) bool {
	l.ws()
	if l.peek() != '{' {
		if l.i >= len(l.b) {
			return l.fail("")
		}
		return l.unexpected("a JSON object starting with '{'")
	}
	l.i++
	for first := true; ; first = false {
		n, more := l.nextMember(first)
		if !more {
			break
		}
		var ok bool
		switch string(n) {
		case "value":
			ok = l.v3Data(&r.value)
		case "key":
			ok = l.v3Data(&r.key)
		case "partition_id":
			ok = l.spanInto(&r.partition)
		case "headers":
			ok = l.spanInto(&r.headers)
		case "timestamp":
			ok = l.spanInto(&r.timestamp)
		default:
			ok = l.skipValue()
		}
		if !ok {
			return false
		}
	}
	return l.err == nil
}

// v3Data reads a key or value: null, an object, or (a problem found when
// converting) any other value, kept in data.
func (l *lexer) v3Data(d *v3Data) bool {
	*d = v3Data{}
	switch l.peek() {
	case 'n':
		return l.literal("null")
	case '{':
	default:
		d.present = true
		return l.spanInto(&d.data) // not an object: refused when converting
	}
	d.present, d.obj = true, true
	l.i++
	for first := true; ; first = false {
		n, more := l.nextMember(first)
		if !more {
			break
		}
		var ok bool
		switch string(n) {
		case "type":
			ok = l.spanInto(&d.typ)
		case "data":
			ok = l.spanInto(&d.data)
		case "subject", "subject_name_strategy", "schema_id", "schema_version", "schema":
			ok = l.spanInto(d.schemaField(string(n)))
		default:
			ok = l.skipValue()
		}
		if !ok {
			return false
		}
	}
	return l.err == nil
}

// convertV3 turns a parsed record into a Record.
func convertV3(r *v3Record, res Resolver, topic string) (Record, error) {
	var d Record
	var e *Error
	// Each piece is allocated as it is decoded, at the size its format
	// bounds it to: records in flight hold no slack.
	var a arena
	if d.Partition, e = decodePartition(r.partition.b, "partition_id"); e != nil {
		return Record{}, e
	}
	if d.Key, d.KeyFormat, e = a.v3Data(&r.key, res, topic, &keyFields); e != nil {
		return Record{}, e
	}
	if d.Value, d.ValueFormat, e = a.v3Data(&r.value, res, topic, &valueFields); e != nil {
		return Record{}, e
	}
	if d.Headers, e = a.decodeHeaders(r.headers.b, "headers"); e != nil {
		return Record{}, e
	}
	if d.Timestamp, e = decodeTimestamp(r.timestamp.b, false, "timestamp"); e != nil {
		return Record{}, e
	}
	return d, nil
}

var noSchema v3Schema

// dataFields are the spellings of a key's or value's fields in errors
// (constants, so that converting a record allocates no names).
type dataFields struct {
	name, typ, data, subject, strategy, schemaID, version, schema string
}

var (
	keyFields   = dataFields{"key", "key.type", "key.data", "key.subject", "key.subject_name_strategy", "key.schema_id", "key.schema_version", "key.schema"}
	valueFields = dataFields{"value", "value.type", "value.data", "value.subject", "value.subject_name_strategy", "value.schema_id", "value.schema_version", "value.schema"}
)

// v3Data converts a key or value object.
func (a *arena) v3Data(d *v3Data, res Resolver, topic string, fn *dataFields) ([]byte, Name, *Error) {
	if !d.present {
		return nil, "", nil
	}
	if !d.obj {
		return nil, "", errorf(KindInvalid, fn.name, "must be an object with \"type\" and \"data\"")
	}
	var typ Name
	if !isNull(d.typ.b) {
		n, ok := nameOf(d.typ)
		if !ok {
			return nil, "", errorf(KindFormat, fn.typ, "must be BINARY, JSON or STRING (or AVRO, JSONSCHEMA or PROTOBUF with a Schema Registry)")
		}
		typ = n
	}
	// The usual record: a built-in type and no schema fields.
	sc := d.schema
	if sc == nil {
		sc = &noSchema
	}
	if f, ok := Builtin(typ); ok && isNull(sc.subject.b) && isNull(sc.strategy.b) && isNull(sc.schemaID.b) && isNull(sc.version.b) && isNull(sc.schema.b) {
		b, e := a.decodeData(f, d.data, fn.data)
		return b, typ, e
	}
	ref := SchemaRef{Type: typ, Key: fn == &keyFields, Topic: topic}
	var e *Error
	if ref.Subject, e = optString(sc.subject, fn.subject); e != nil {
		return nil, "", e
	}
	if ref.Strategy, e = optString(sc.strategy, fn.strategy); e != nil {
		return nil, "", e
	}
	if ref.ID, e = optInt(sc.schemaID, fn.schemaID); e != nil {
		return nil, "", e
	}
	if ref.Version, e = optInt(sc.version, fn.version); e != nil {
		return nil, "", e
	}
	if ref.Schema, e = optString(sc.schema, fn.schema); e != nil {
		return nil, "", e
	}
	f, e := resolve(res, ref, fn.name)
	if e != nil {
		return nil, "", e
	}
	b, e := a.decodeData(f, d.data, fn.data)
	if e != nil {
		return nil, "", e
	}
	return b, f.Name(), nil
}

// nameOf reads an embedded format's name from a JSON string, in any case,
// without allocating.
func nameOf(s span) (Name, bool) {
	if s.b[0] != '"' {
		return "", false
	}
	v := s.value()
	switch string(v.Str) { // the usual spelling, without folding
	case "BINARY":
		return Binary, true
	case "JSON":
		return JSON, true
	case "STRING":
		return String, true
	}
	for _, n := range [...]Name{Binary, JSON, String, Avro, JSONSchema, Protobuf} {
		if len(v.Str) == len(n) && strings.EqualFold(string(v.Str), string(n)) {
			return n, true
		}
	}
	return "", false
}

func optString(s span, field string) (*string, *Error) {
	if isNull(s.b) {
		return nil, nil
	}
	v := s.value()
	if !v.IsString {
		return nil, errorf(KindInvalid, field, "must be a string")
	}
	t := string(v.Str)
	return &t, nil
}

func optInt(s span, field string) (*int, *Error) {
	if isNull(s.b) {
		return nil, nil
	}
	n, ok := parseInt32(s.b)
	if !ok {
		return nil, errorf(KindInvalid, field, "must be an integer")
	}
	i := int(n)
	return &i, nil
}
