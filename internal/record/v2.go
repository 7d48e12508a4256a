package record

import (
	"bytes"
	"slices"
	"strconv"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// v2Record is one record object of a v2 body as written.
type v2Record struct {
	key, value, partition, headers, timestamp span
}

// DecodeV2 decodes a Confluent v2 produce body,
//
//	{"records":[{"key":K,"value":V,"partition":P,"headers":H,"timestamp":T}...],
//	 "key_schema":..., "key_schema_id":..., "value_schema":..., "value_schema_id":...}
//
// with keys and values in the embedded format name (from the request's
// media type). The whole body is read before any problem with a record
// is reported, so a syntax error anywhere wins (KindSyntax), then a body
// or record of the wrong shape (KindShape); then the first record with a
// problem decides, its fields taken in the order partition, key, value,
// headers, timestamp. Any problem rejects the whole body: either every
// record is returned or none. Unknown members are ignored, as Confluent
// does; a repeated member's last value counts. res makes schema formats
// (nil: none). The records own their bytes (nothing aliases body).
func DecodeV2(body []byte, name Name, res Resolver) ([]Record, error) {
	return DecodeV2Max(body, name, res, 0)
}

// DecodeV2Max is DecodeV2 for at most max records (0: any number): a body
// with more is refused (KindTooLarge) as soon as the one past max begins,
// before it costs more memory.
func DecodeV2Max(body []byte, name Name, res Resolver, max int) ([]Record, error) {
	var b V2Batch
	if err := b.Decode(body, name, res, max); err != nil {
		return nil, err
	}
	if len(b.Records) == 0 {
		return nil, nil
	}
	return b.Records, nil
}

// V2Batch is DecodeV2Max with memory kept from one body to the next: the
// records, the bytes their keys, values and headers are decoded into, and
// (schema formats) the index of the body the decoder builds first. A request path that
// keeps V2Batches (in a sync.Pool) decodes a body without allocating. The
// zero V2Batch is ready to use; it is not safe for concurrent use.
type V2Batch struct {
	// Records are the last Decode's records (none after an error). They
	// and the bytes they hold are valid until the next Decode.
	Records []Record
	raw     []v2Record
	arena   []byte
}

// Footprint is about what b keeps between bodies, in bytes: a pool can
// drop batches that a very large body grew.
func (b *V2Batch) Footprint() int {
	return cap(b.Records)*int(unsafe.Sizeof(Record{})) + cap(b.raw)*int(unsafe.Sizeof(v2Record{})) + cap(b.arena)
}

// Decode is DecodeV2Max into b, reusing the memory of b's previous
// records: those must no longer be in use.
//
// With the built-in formats, whose keys and values do not depend on the
// schema members, each record is converted as soon as its object is
// read, so that the body is walked once and no index of it is kept; the
// first problem is held until the whole body has been read, to keep
// DecodeV2's order (syntax, then shape, then the first record's problem).
// Schema formats are converted after the whole body has been read.
func (b *V2Batch) Decode(body []byte, name Name, res Resolver, max int) error {
	b.Records = b.Records[:0]
	if t := bytes.TrimSpace(body); len(t) == 0 || string(t) == "null" {
		return &Error{Kind: KindEmpty, Problem: "request body is empty. Data is required"}
	}
	var direct Format // converting as records are read
	if f, ok := Builtin(name); ok && name != String {
		direct = f
	}
	l := lexer{b: body}
	l.ws()
	n := 0               // elements of the (last) records array
	recs := b.raw[:0]    // schema formats: the records as written
	out := b.Records[:0] // built-in formats: the records converted
	var bad *Error       // built-in formats: the first record's problem
	var a arena
	if direct != nil {
		a = b.newArena(len(body))
	}
	defer func() { // kept for the next body, without its pointers into this one
		clear(recs)
		b.raw = recs[:0]
	}()
	var shape *Error
	var keySchema, keySchemaID, valueSchema, valueSchemaID span
	if l.peek() != '{' {
		if _, ok := l.value(); !ok {
			return l.err
		}
		shape = &Error{Kind: KindShape, Problem: "the request body must be a JSON object with a \"records\" array"}
	} else {
		ok := l.object(func(member []byte) bool {
			switch string(member) {
			case "records":
				shape = nil // the last "records" counts
				switch l.peek() {
				case 'n':
					n, recs, out, bad = 0, recs[:0], out[:0], nil
					return l.literal("null")
				case '[':
				default:
					if _, ok := l.value(); !ok {
						return false
					}
					if shape == nil {
						shape = errorf(KindShape, "records", "must be an array of records")
					}
					return true
				}
				n, recs, out, bad = 0, recs[:0], out[:0], nil
				l.i++
				l.ws()
				if l.eat(']') {
					return true
				}
				for i := 0; ; i++ {
					l.ws()
					if max > 0 && n >= max {
						l.err = &Error{Kind: KindTooLarge, Problem: "the request has more than " + strconv.Itoa(max) + " records; send them in several requests"}
						return false
					}
					var r v2Record
					if l.peek() != '{' {
						if _, ok := l.value(); !ok {
							return false
						}
						if shape == nil {
							shape = errorf(KindShape, "records["+strconv.Itoa(i)+"]", "must be an object with \"key\" and/or \"value\"")
						}
					} else if !l.object(func(f []byte) bool {
						var dst *span
						switch string(f) {
						case "key":
							dst = &r.key
						case "value":
							dst = &r.value
						case "partition":
							dst = &r.partition
						case "headers":
							dst = &r.headers
						case "timestamp":
							dst = &r.timestamp
						default:
							return l.skipValue()
						}
						var ok bool
						*dst, ok = l.readSpan()
						return ok
					}) {
						return false
					}
					n++
					switch {
					case direct == nil:
						recs = append(recs, r)
					case shape == nil && bad == nil: // else nothing will be returned
						out = append(out, Record{})
						bad = convertV2(&a, i, &r, &out[i], direct, direct)
					}
					l.ws()
					if l.eat(',') {
						continue
					}
					return l.expect(']', "',' or ']'")
				}
			case "key_schema":
				return l.spanInto(&keySchema)
			case "key_schema_id":
				return l.spanInto(&keySchemaID)
			case "value_schema":
				return l.spanInto(&valueSchema)
			case "value_schema_id":
				return l.spanInto(&valueSchemaID)
			}
			return l.skipValue()
		})
		if !ok {
			return l.err
		}
	}
	l.ws()
	if l.i != len(body) {
		l.unexpected("the end of the body after the top-level value")
		return l.err
	}
	if shape != nil {
		return shape
	}
	if n == 0 {
		return nil
	}
	if direct != nil {
		if bad != nil {
			return bad
		}
		b.keepArena(a)
		b.Records = out
		return nil
	}
	keyFormat, valueFormat, e := v2Formats(name, res, keySchema, keySchemaID, valueSchema, valueSchemaID)
	if e != nil {
		return e
	}
	return b.convert(recs, keyFormat, valueFormat, len(body))
}

func (l *lexer) spanInto(dst *span) bool {
	var ok bool
	*dst, ok = l.readSpan()
	return ok
}

// v2Formats resolves a v2 request's key and value formats.
func v2Formats(name Name, res Resolver, keySchema, keySchemaID, valueSchema, valueSchemaID span) (Format, Format, *Error) {
	if f, ok := Builtin(name); ok && name != String {
		return f, f, nil // the schema fields are ignored, as on Confluent
	}
	if !name.NeedsSchema() {
		return nil, nil, errorf(KindFormat, "", "the %s format does not exist in v2; use binary or json", name.Lower())
	}
	if res == nil {
		return nil, nil, errorf(KindNeedsRegistry, "", "the %s format cannot be used without one; use binary or json", name.Lower())
	}
	ref := func(key bool, schema, id span, field string) (SchemaRef, *Error) {
		r := SchemaRef{Type: name, Key: key}
		if !isNull(schema.b) {
			v, _ := value(schema.b, false)
			if !v.IsString {
				return r, errorf(KindInvalid, field, "must be a string holding the schema")
			}
			s := string(v.Str)
			r.Schema = &s
		}
		if !isNull(id.b) {
			n, ok := parseInt32(id.b)
			if !ok || n < 0 {
				return r, errorf(KindInvalid, field+"_id", "must be a schema id")
			}
			i := int(n)
			r.ID = &i
		}
		return r, nil
	}
	kr, e := ref(true, keySchema, keySchemaID, "key_schema")
	if e != nil {
		return nil, nil, e
	}
	vr, e := ref(false, valueSchema, valueSchemaID, "value_schema")
	if e != nil {
		return nil, nil, e
	}
	kf, e := resolve(res, kr, "key")
	if e != nil {
		return nil, nil, e
	}
	vf, e := resolve(res, vr, "value")
	if e != nil {
		return nil, nil, e
	}
	return kf, vf, nil
}

// newArena returns an arena for a body of size bytes, with b's memory
// when it is large enough (what a body's records decode to takes at most
// the body's size, so there is then no further allocation).
func (b *V2Batch) newArena(size int) arena {
	a := arena{b: b.arena[:0], chunk: 64 << 10}
	if cap(a.b) < size {
		a.b = make([]byte, 0, size)
	}
	b.arena = a.b // the first piece, kept by keepArena if it is the larger
	return a
}

// keepArena keeps for the next body the larger of the arena's first
// piece and its last (it moves on when one fills).
func (b *V2Batch) keepArena(a arena) {
	if cap(a.b) > cap(b.arena) {
		b.arena = a.b
	}
	b.arena = b.arena[:0]
}

// convert turns parsed records into b.Records, decoding their bytes into
// b's arena; the first problem wins.
func (b *V2Batch) convert(recs []v2Record, keyFormat, valueFormat Format, size int) error {
	a := b.newArena(size)
	out := slices.Grow(b.Records[:0], len(recs))[:len(recs)]
	for i := range recs {
		out[i] = Record{}
		if e := convertV2(&a, i, &recs[i], &out[i], keyFormat, valueFormat); e != nil {
			return e
		}
	}
	b.keepArena(a)
	b.Records = out
	return nil
}

// convertV2 turns record i as written into d, its fields taken in the
// order partition, key, value, headers, timestamp.
func convertV2(a *arena, i int, r *v2Record, d *Record, keyFormat, valueFormat Format) *Error {
	var e *Error
	if d.Partition, e = decodePartition(r.partition.b, "partition"); e != nil {
		return e.in(recordField(i))
	}
	if d.Key, e = a.decodeData(keyFormat, r.key, "key"); e != nil {
		return e.in(recordField(i))
	}
	if d.Value, e = a.decodeData(valueFormat, r.value, "value"); e != nil {
		return e.in(recordField(i))
	}
	if d.Headers, e = a.decodeHeaders(r.headers.b, "headers"); e != nil {
		return e.in(recordField(i))
	}
	if d.Timestamp, e = decodeTimestamp(r.timestamp.b, true, "timestamp"); e != nil {
		return e.in(recordField(i))
	}
	if r.key.b != nil {
		d.KeyFormat = keyFormat.Name()
	}
	if r.value.b != nil {
		d.ValueFormat = valueFormat.Name()
	}
	return nil
}

// recordField names record i in errors.
func recordField(i int) string { return "records[" + strconv.Itoa(i) + "]" }

// AppendV2Record appends r as a v2 ConsumerRecord,
//
//	{"topic":T,"key":K,"value":V,"partition":P,"offset":O,"timestamp":MS,"headers":[{"name":N,"value":B64|null}...]}
//
// with the key and value in their formats (timestamp and headers are
// kgate's extensions; headers only when the record has any). On a
// KindUndecodable error dst is returned as it was.
func AppendV2Record(dst []byte, r *kgo.Record, key, value Format) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"topic":`...)
	dst = AppendJSONString(dst, r.Topic)
	var err error
	dst = append(dst, `,"key":`...)
	if dst, err = appendData(dst, key, r.Key, "key"); err != nil {
		return dst[:start], err
	}
	dst = append(dst, `,"value":`...)
	if dst, err = appendData(dst, value, r.Value, "value"); err != nil {
		return dst[:start], err
	}
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendInt(dst, int64(r.Partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, r.Offset, 10)
	dst = append(dst, `,"timestamp":`...)
	dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
	if len(r.Headers) > 0 {
		dst = append(dst, `,"headers":[`...)
		for i, h := range r.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = AppendJSONString(dst, h.Key)
			dst = append(dst, `,"value":`...)
			if h.Value == nil {
				dst = append(dst, "null"...)
			} else {
				dst, _ = BinaryFormat.Encode(dst, h.Value)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

func appendData(dst []byte, f Format, b []byte, field string) ([]byte, error) {
	if b == nil {
		return append(dst, "null"...), nil
	}
	out, err := f.Encode(dst, b)
	if err != nil {
		if e, ok := err.(*Error); ok && e.Field == "" {
			c := *e
			c.Field = field
			return dst, &c
		}
		return dst, err
	}
	return out, nil
}
