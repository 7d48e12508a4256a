package schemareg

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// appendAvroJSONReference is the first avro encoder (through encoding/json
// and Go values), kept to check the one-pass encoder against: it appends to dst the Avro binary encoding of data, a value
// in Avro's JSON encoding (the form Confluent's REST Proxy takes for the
// avro embedded format): a union is null or {"branch": value}, bytes and
// fixed are strings of code points 0 to 255, a record's missing field
// takes its default. It returns an error saying where data does not fit
// the schema.
func (s *avroSchema) appendAvroJSONReference(dst, data []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return dst, err
	}
	return appendAvroReference(dst, s.schema, v, "$", 0)
}

func appendAvroReference(dst []byte, s avro.Schema, v any, at string, depth int) ([]byte, error) {
	if depth > maxAvroDepth {
		return dst, fmt.Errorf("%s nests deeper than %d", at, maxAvroDepth)
	}
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	mismatch := func(want string) error { return fmt.Errorf("%s: expected %s", at, want) }
	switch s.Type() {
	case avro.Null:
		if v != nil {
			return dst, mismatch("null")
		}
		return dst, nil
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return dst, mismatch("a boolean")
		}
		if b {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case avro.Int, avro.Long:
		n, ok := v.(json.Number)
		if !ok {
			return dst, mismatch("an integer")
		}
		bits := 64
		if s.Type() == avro.Int {
			bits = 32
		}
		i, err := strconv.ParseInt(string(n), 10, bits)
		if err != nil {
			return dst, mismatch(fmt.Sprintf("a %d-bit integer", bits))
		}
		return binary.AppendVarint(dst, i), nil
	case avro.Float, avro.Double:
		n, ok := v.(json.Number)
		if !ok {
			return dst, mismatch("a number")
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return dst, mismatch("a number")
		}
		if s.Type() == avro.Float {
			return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(f))), nil
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
	case avro.String:
		str, ok := v.(string)
		if !ok {
			return dst, mismatch("a string")
		}
		dst = binary.AppendVarint(dst, int64(len(str)))
		return append(dst, str...), nil
	case avro.Bytes:
		b, err := latin1(v)
		if err != nil {
			return dst, fmt.Errorf("%s: %w", at, err)
		}
		dst = binary.AppendVarint(dst, int64(len(b)))
		return append(dst, b...), nil
	case avro.Fixed:
		b, err := latin1(v)
		if err != nil {
			return dst, fmt.Errorf("%s: %w", at, err)
		}
		if size := s.(*avro.FixedSchema).Size(); len(b) != size {
			return dst, mismatch(fmt.Sprintf("%d bytes", size))
		}
		return append(dst, b...), nil
	case avro.Enum:
		str, ok := v.(string)
		if !ok {
			return dst, mismatch("an enum symbol")
		}
		for i, sym := range s.(*avro.EnumSchema).Symbols() {
			if sym == str {
				return binary.AppendVarint(dst, int64(i)), nil
			}
		}
		return dst, mismatch("a symbol of " + s.(*avro.EnumSchema).FullName())
	case avro.Array:
		l, ok := v.([]any)
		if !ok {
			return dst, mismatch("an array")
		}
		if len(l) > 0 {
			dst = binary.AppendVarint(dst, int64(len(l)))
			items := s.(*avro.ArraySchema).Items()
			for i, x := range l {
				var err error
				if dst, err = appendAvroReference(dst, items, x, at+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
					return dst, err
				}
			}
		}
		return append(dst, 0), nil
	case avro.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return dst, mismatch("an object")
		}
		if len(m) > 0 {
			dst = binary.AppendVarint(dst, int64(len(m)))
			values := s.(*avro.MapSchema).Values()
			for _, k := range sortedKeys(m) {
				dst = binary.AppendVarint(dst, int64(len(k)))
				dst = append(dst, k...)
				var err error
				// The path never names a key: data is not quoted in errors.
				if dst, err = appendAvroReference(dst, values, m[k], at+"{}", depth+1); err != nil {
					return dst, err
				}
			}
		}
		return append(dst, 0), nil
	case avro.Record, avro.Error:
		m, ok := v.(map[string]any)
		if !ok {
			return dst, mismatch("an object (record " + s.(*avro.RecordSchema).FullName() + ")")
		}
		fields := s.(*avro.RecordSchema).Fields()
		known := make(map[string]bool, len(fields))
		for _, f := range fields {
			known[f.Name()] = true
			fv, present := m[f.Name()]
			if !present {
				if !f.HasDefault() {
					return dst, fmt.Errorf("%s.%s: missing, and the field has no default", at, f.Name())
				}
				b, err := marshalDefault(f)
				if err != nil {
					return dst, fmt.Errorf("%s.%s: default: %w", at, f.Name(), err)
				}
				dst = append(dst, b...)
				continue
			}
			var err error
			if dst, err = appendAvroReference(dst, f.Type(), fv, at+"."+f.Name(), depth+1); err != nil {
				return dst, err
			}
		}
		for k := range m {
			if !known[k] {
				return dst, fmt.Errorf("%s: a field that record %s does not have", at, s.(*avro.RecordSchema).FullName())
			}
		}
		return dst, nil
	case avro.Union:
		types := s.(*avro.UnionSchema).Types()
		if v == nil {
			for i, t := range types {
				if t.Type() == avro.Null {
					return binary.AppendVarint(dst, int64(i)), nil
				}
			}
			return dst, mismatch("a union branch (the union has no null)")
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return dst, mismatch(`a union as {"type": value}`)
		}
		for name, x := range m {
			for i, t := range types {
				if branchName(t) == name || shortName(t) == name {
					dst = binary.AppendVarint(dst, int64(i))
					return appendAvroReference(dst, t, x, at+"."+name, depth+1)
				}
			}
			return dst, fmt.Errorf("%s: names no branch of the union", at)
		}
	}
	return dst, fmt.Errorf("%s: unsupported Avro type %s", at, s.Type())
}

// latin1 reads Avro JSON's bytes: a string whose code points are bytes.
func latin1(v any) ([]byte, error) {
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("expected bytes as a string")
	}
	b := make([]byte, 0, len(str))
	for _, r := range str {
		if r > 0xff || r == utf8.RuneError {
			return nil, fmt.Errorf("bytes hold code points 0 to 255 only")
		}
		b = append(b, byte(r))
	}
	return b, nil
}
