package schemareg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/hamba/avro/v2"

	"github.com/kgate/kgate/internal/record"
)

// AppendJSONFromAvro appends to dst the Avro JSON encoding of b, a value
// in Avro's binary encoding (the inverse of AppendAvroJSON): unions as
// {"branch": value}, bytes and fixed as strings of code points 0 to 255.
// All of b must be the one value.
func (s *avroSchema) AppendJSONFromAvro(dst, b []byte) ([]byte, error) {
	d := &avroDecoder{b: b, budget: 16*len(b) + 1024}
	out, err := d.value(dst, s.schema, 0)
	if err != nil {
		return dst, err
	}
	if d.pos != len(b) {
		return dst, fmt.Errorf("%d bytes left after the value", len(b)-d.pos)
	}
	return out, nil
}

// avroDecoder reads Avro's binary encoding. budget bounds the values it
// reads, so that a block count of values that take no bytes (nulls)
// cannot make it loop for long.
type avroDecoder struct {
	b      []byte
	pos    int
	budget int
}

var errShort = errors.New("the data ends inside a value")

func (d *avroDecoder) long() (int64, error) {
	n, k := binary.Varint(d.b[d.pos:])
	if k <= 0 {
		return 0, errShort
	}
	d.pos += k
	return n, nil
}

func (d *avroDecoder) take(n int64) ([]byte, error) {
	if n < 0 || n > int64(len(d.b)-d.pos) {
		return nil, errShort
	}
	out := d.b[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return out, nil
}

func appendLatin1(dst, b []byte) []byte {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return record.AppendJSONString(dst, string(rs))
}

func (d *avroDecoder) value(dst []byte, s avro.Schema, depth int) ([]byte, error) {
	if depth > maxAvroDepth {
		return dst, fmt.Errorf("the value nests deeper than %d", maxAvroDepth)
	}
	if d.budget--; d.budget < 0 {
		return dst, errors.New("the value holds too many items for its size")
	}
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	switch s.Type() {
	case avro.Null:
		return append(dst, "null"...), nil
	case avro.Boolean:
		b, err := d.take(1)
		if err != nil {
			return dst, err
		}
		switch b[0] {
		case 0:
			return append(dst, "false"...), nil
		case 1:
			return append(dst, "true"...), nil
		}
		return dst, errors.New("a boolean is neither 0 nor 1")
	case avro.Int, avro.Long:
		n, err := d.long()
		if err != nil {
			return dst, err
		}
		if s.Type() == avro.Int && (n < math.MinInt32 || n > math.MaxInt32) {
			return dst, errors.New("an int out of range")
		}
		return strconv.AppendInt(dst, n, 10), nil
	case avro.Float, avro.Double:
		size, bits := 4, 32
		if s.Type() == avro.Double {
			size, bits = 8, 64
		}
		b, err := d.take(int64(size))
		if err != nil {
			return dst, err
		}
		var f float64
		if size == 4 {
			f = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		} else {
			f = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return dst, errors.New("NaN and infinities have no JSON form")
		}
		return strconv.AppendFloat(dst, f, 'g', -1, bits), nil
	case avro.String, avro.Bytes:
		n, err := d.long()
		if err != nil {
			return dst, err
		}
		b, err := d.take(n)
		if err != nil {
			return dst, err
		}
		if s.Type() == avro.String {
			return record.AppendJSONString(dst, string(b)), nil
		}
		return appendLatin1(dst, b), nil
	case avro.Fixed:
		b, err := d.take(int64(s.(*avro.FixedSchema).Size()))
		if err != nil {
			return dst, err
		}
		return appendLatin1(dst, b), nil
	case avro.Enum:
		n, err := d.long()
		if err != nil {
			return dst, err
		}
		syms := s.(*avro.EnumSchema).Symbols()
		if n < 0 || n >= int64(len(syms)) {
			return dst, errors.New("an enum index out of range")
		}
		return record.AppendJSONString(dst, syms[n]), nil
	case avro.Array, avro.Map:
		isMap := s.Type() == avro.Map
		open, close := byte('['), byte(']')
		var item avro.Schema
		if isMap {
			open, close, item = '{', '}', s.(*avro.MapSchema).Values()
		} else {
			item = s.(*avro.ArraySchema).Items()
		}
		dst = append(dst, open)
		first := true
		for {
			n, err := d.long()
			if err != nil {
				return dst, err
			}
			if n == 0 {
				return append(dst, close), nil
			}
			if n < 0 {
				if n == math.MinInt64 {
					return dst, errors.New("a block count out of range")
				}
				n = -n
				if _, err := d.long(); err != nil { // the block's size in bytes
					return dst, err
				}
			}
			if n > int64(d.budget) {
				return dst, errors.New("the value holds too many items for its size")
			}
			for range n {
				if !first {
					dst = append(dst, ',')
				}
				first = false
				if isMap {
					kn, err := d.long()
					if err != nil {
						return dst, err
					}
					k, err := d.take(kn)
					if err != nil {
						return dst, err
					}
					dst = record.AppendJSONString(dst, string(k))
					dst = append(dst, ':')
				}
				if dst, err = d.value(dst, item, depth+1); err != nil {
					return dst, err
				}
			}
		}
	case avro.Record, avro.Error:
		dst = append(dst, '{')
		for i, f := range s.(*avro.RecordSchema).Fields() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = record.AppendJSONString(dst, f.Name())
			dst = append(dst, ':')
			var err error
			if dst, err = d.value(dst, f.Type(), depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case avro.Union:
		n, err := d.long()
		if err != nil {
			return dst, err
		}
		types := s.(*avro.UnionSchema).Types()
		if n < 0 || n >= int64(len(types)) {
			return dst, errors.New("a union index out of range")
		}
		t := types[n]
		if t.Type() == avro.Null {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '{')
		dst = record.AppendJSONString(dst, branchName(t))
		dst = append(dst, ':')
		if dst, err = d.value(dst, t, depth+1); err != nil {
			return dst, err
		}
		return append(dst, '}'), nil
	}
	return dst, fmt.Errorf("unsupported Avro type %s", s.Type())
}
