package record

import "strings"

// v3Data is a key or value object of a v3 record as written.
type v3Data struct {
	// present: the record had the member; obj: as an object (anything
	// else is refused when converting).
	present, obj                                            bool
	typ, data, subject, strategy, schemaID, version, schema span
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
	r, ok := l.v3Record()
	if !ok {
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
	r, ok := l.v3Record()
	if !ok {
		return Record{}, l.i, l.err
	}
	d, err := convertV3(&r, res, topic)
	return d, l.i, err
}

// v3Record reads one record object.
func (l *lexer) v3Record() (v3Record, bool) {
	var r v3Record
	l.ws()
	if l.peek() != '{' {
		if l.i >= len(l.b) {
			return r, l.fail("")
		}
		return r, l.unexpected("a JSON object starting with '{'")
	}
	ok := l.object(func(n []byte) bool {
		switch string(n) {
		case "partition_id":
			return l.spanInto(&r.partition)
		case "headers":
			return l.spanInto(&r.headers)
		case "timestamp":
			return l.spanInto(&r.timestamp)
		case "key":
			return l.v3Data(&r.key)
		case "value":
			return l.v3Data(&r.value)
		}
		return l.skipValue()
	})
	return r, ok
}

// v3Data reads a key or value: null, an object, or (a problem found when
// converting) any other value, kept in data with typ unset.
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
	return l.object(func(n []byte) bool {
		switch string(n) {
		case "type":
			return l.spanInto(&d.typ)
		case "data":
			return l.spanInto(&d.data)
		case "subject":
			return l.spanInto(&d.subject)
		case "subject_name_strategy":
			return l.spanInto(&d.strategy)
		case "schema_id":
			return l.spanInto(&d.schemaID)
		case "schema_version":
			return l.spanInto(&d.version)
		case "schema":
			return l.spanInto(&d.schema)
		}
		return l.skipValue()
	})
}

// convertV3 turns a parsed record into a Record.
func convertV3(r *v3Record, res Resolver, topic string) (Record, error) {
	var d Record
	var e *Error
	// What the built-in formats store is never longer than what the
	// client wrote for it: one allocation holds it all.
	a := arena{b: make([]byte, 0, len(r.key.data.b)+len(r.value.data.b)+len(r.headers.b))}
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
	ref := SchemaRef{Key: fn == &keyFields, Topic: topic}
	if !isNull(d.typ.b) {
		v := d.typ.value()
		n, ok := nameOf(v)
		if !ok {
			return nil, "", errorf(KindFormat, fn.typ, "must be BINARY, JSON or STRING (or AVRO, JSONSCHEMA or PROTOBUF with a Schema Registry)")
		}
		ref.Type = n
	}
	var e *Error
	if ref.Subject, e = optString(d.subject, fn.subject); e != nil {
		return nil, "", e
	}
	if ref.Strategy, e = optString(d.strategy, fn.strategy); e != nil {
		return nil, "", e
	}
	if ref.ID, e = optInt(d.schemaID, fn.schemaID); e != nil {
		return nil, "", e
	}
	if ref.Version, e = optInt(d.version, fn.version); e != nil {
		return nil, "", e
	}
	if ref.Schema, e = optString(d.schema, fn.schema); e != nil {
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
func nameOf(v Value) (Name, bool) {
	if !v.IsString {
		return "", false
	}
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
