package record

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// NoPartition is Record.Partition when the record names none (the
// producer's partitioner chooses).
const NoPartition int32 = -1

// Record is one record as a client sent it, decoded: ready to produce.
type Record struct {
	// Partition is the record's own partition, or NoPartition.
	Partition int32
	// Key and Value are the bytes to store; nil is a Kafka null.
	Key, Value []byte
	// KeyFormat and ValueFormat name the embedded format of a key or
	// value the record had (even a null one); "" when it had none.
	KeyFormat, ValueFormat Name
	Headers                []kgo.RecordHeader
	// Timestamp is the record's own time; zero means the gateway's now.
	Timestamp time.Time
}

// Size is what a record counts for in byte limits and metrics: its key and
// value bytes (as Confluent's proxy and Kafka's quotas count them, headers
// aside).
func (r *Record) Size() int { return len(r.Key) + len(r.Value) }

// arena hands out pieces of a few large allocations: the keys, values and
// header values of a request share them instead of one allocation each.
// Each piece is capped, so appending to one never overwrites another.
type arena struct {
	b []byte
	// chunk is the least size of a new allocation.
	chunk int
}

func (a *arena) grow(n int) {
	if cap(a.b)-len(a.b) < n {
		a.b = make([]byte, 0, max(n, a.chunk))
	}
}

// decode converts v with f into a piece of the arena.
func (a *arena) decode(f Format, v Value) ([]byte, error) {
	a.grow(f.MaxDecodedLen(v))
	start := len(a.b)
	var err error
	a.b, err = f.Decode(a.b, v)
	if err != nil {
		a.b = a.b[:start]
		return nil, err
	}
	if len(a.b) == start {
		return empty, nil // an empty value, not a null
	}
	return a.b[start:len(a.b):len(a.b)], nil
}

// empty is every empty piece: not nil (a null), and without room.
var empty = []byte{}

// copy returns a piece holding b.
func (a *arena) copy(b []byte) []byte {
	if len(b) == 0 {
		return empty
	}
	a.grow(len(b))
	start := len(a.b)
	a.b = append(a.b, b...)
	return a.b[start:len(a.b):len(a.b)]
}

// value makes the Value of raw, one valid JSON value that is not null.
func value(raw []byte, spaced bool) (Value, *Error) {
	v := Value{Raw: raw, Spaced: spaced}
	if raw[0] == '"' {
		l := lexer{b: raw}
		s, ok := l.str()
		if !ok {
			return v, l.err // cannot happen: raw was checked
		}
		v.Str, v.IsString = s, true
	}
	return v, nil
}

func isNull(raw []byte) bool { return len(raw) == 0 || string(raw) == "null" }

// span is a member's value as written, checked: its bytes and whether
// they hold whitespace.
type span struct {
	b      []byte
	spaced bool
	// plain: a string without escapes (its bytes are its value).
	plain bool
}

// readSpan reads the value at the lexer's offset into a span.
func (l *lexer) readSpan() (span, bool) {
	l.spaced, l.escaped = false, false
	start := l.i
	// Strings, the usual member value, skip the general walk.
	if l.peek() == '"' {
		if !l.skipString() {
			return span{}, false
		}
		return span{b: l.b[start:l.i], plain: !l.escaped}, true
	}
	if !l.skipValue() {
		return span{}, false
	}
	return span{b: l.b[start:l.i], spaced: l.spaced}, true
}

// value makes the Value of a span that is not null.
func (s span) value() Value {
	if s.plain {
		return Value{Raw: s.b, Str: s.b[1 : len(s.b)-1], IsString: true}
	}
	v, _ := value(s.b, s.spaced)
	return v
}

// decodePartition reads a partition: null or a non-negative int32.
func decodePartition(raw []byte, field string) (int32, *Error) {
	if isNull(raw) {
		return NoPartition, nil
	}
	p, ok := parseInt32(raw)
	if !ok {
		return 0, errorf(KindInvalid, field, "must be an integer")
	}
	if p < 0 {
		return 0, errorf(KindPartition, field, "must not be negative")
	}
	return p, nil
}

// decodeData converts a key or value with f; absent or null is a Kafka
// null.
func (a *arena) decodeData(f Format, s span, field string) ([]byte, *Error) {
	if isNull(s.b) {
		return nil, nil
	}
	b, err := a.decode(f, s.value())
	if err != nil {
		if de, ok := err.(*Error); ok {
			c := *de
			c.Field = field
			return nil, &c
		}
		return nil, errorf(KindInvalid, field, "%v", err)
	}
	return b, nil
}

// decodeHeaders reads headers in either shape: an array of
// {"name": N, "value": base64 | null} (v3's, and Kafka's model: names may
// repeat, order is kept) or an object of names to values, where a string
// is the value's text, null no value, and any other JSON value its compact
// text (KastleX's x-message-headers). raw is one valid JSON value.
func (a *arena) decodeHeaders(raw []byte, field string) ([]kgo.RecordHeader, *Error) {
	if isNull(raw) {
		return nil, nil
	}
	l := lexer{b: raw}
	switch raw[0] {
	case '[':
		l.i++
		var out []kgo.RecordHeader
		l.ws()
		if l.eat(']') {
			return out, nil
		}
		for j := 0; ; j++ {
			l.ws()
			at := func() string { return field + "[" + strconv.Itoa(j) + "]" } // for errors only
			if l.peek() != '{' {
				return nil, errorf(KindInvalid, at(), "must be an object with \"name\" and \"value\"")
			}
			var name, val span
			haveName := false
			l.object(func(n []byte) bool {
				var ok bool
				switch string(n) {
				case "name":
					name, ok = l.readSpan()
					haveName = true
				case "value":
					val, ok = l.readSpan()
				default:
					_, ok = l.readSpan()
				}
				return ok
			})
			if !haveName || isNull(name.b) {
				return nil, errorf(KindInvalid, at()+".name", "is required")
			}
			if name.b[0] != '"' {
				return nil, errorf(KindInvalid, at()+".name", "must be a string")
			}
			nv, _ := value(name.b, false)
			if len(nv.Str) == 0 {
				return nil, errorf(KindInvalid, at()+".name", "is required")
			}
			h := kgo.RecordHeader{Key: string(nv.Str)}
			if !isNull(val.b) {
				vv, _ := value(val.b, false)
				if !vv.IsString {
					return nil, errorf(KindBase64, at()+".value", "is not a base64 string")
				}
				b, err := a.decode(BinaryFormat, vv)
				if err != nil {
					return nil, errorf(KindBase64, at()+".value", "is not a valid base64 string")
				}
				h.Value = b
			}
			out = append(out, h)
			l.ws()
			if l.eat(',') {
				continue
			}
			l.eat(']')
			return out, nil
		}
	case '{':
		var out []kgo.RecordHeader
		var bad *Error
		l.object(func(n []byte) bool {
			s, ok := l.readSpan()
			if !ok {
				return false
			}
			if len(n) == 0 && bad == nil {
				bad = errorf(KindInvalid, field, "must not have an empty header name")
			}
			h := kgo.RecordHeader{Key: string(n)}
			switch {
			case isNull(s.b):
			case s.b[0] == '"':
				v, _ := value(s.b, false)
				h.Value = a.copy(v.Str)
			default:
				a.grow(len(s.b))
				start := len(a.b)
				a.b = compact(a.b, s.b)
				h.Value = a.b[start:len(a.b):len(a.b)]
			}
			out = append(out, h)
			return true
		})
		if bad != nil {
			return nil, bad
		}
		return out, nil
	}
	return nil, errorf(KindInvalid, field, "must be an array of {\"name\",\"value\"} with base64 values, or an object of names to values")
}

// decodeTimestamp reads a record time: an RFC 3339 string, or (where
// millis is set: v2, whose records are Kafka's) epoch milliseconds. Times
// before 1970 cannot be stored in Kafka.
func decodeTimestamp(raw []byte, millis bool, field string) (time.Time, *Error) {
	if isNull(raw) {
		return time.Time{}, nil
	}
	bad := func() (time.Time, *Error) {
		if millis {
			return time.Time{}, errorf(KindInvalid, field, "must be epoch milliseconds or an RFC 3339 string such as 2024-01-02T03:04:05.678Z")
		}
		return time.Time{}, errorf(KindInvalid, field, "must be an ISO-8601 (RFC 3339) date-time string such as 2024-01-02T03:04:05.678Z")
	}
	var t time.Time
	switch {
	case raw[0] == '"':
		v, _ := value(raw, false)
		var err error
		if t, err = time.Parse(time.RFC3339Nano, string(v.Str)); err != nil {
			return bad()
		}
	case millis && isInteger(raw):
		ms, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return bad()
		}
		t = time.UnixMilli(ms)
	default:
		return bad()
	}
	if t.UnixMilli() < 0 {
		return time.Time{}, errorf(KindInvalid, field, "must not be before 1970-01-01T00:00:00Z")
	}
	return t, nil
}

// isInteger reports whether a JSON number is written as an integer.
func isInteger(raw []byte) bool {
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return len(raw) > 0 && raw[0] != '"'
}

// DecodeHeaders reads headers from a JSON text of their own (KastleX's
// x-message-headers), in either shape decodeHeaders takes.
func DecodeHeaders(text []byte) ([]kgo.RecordHeader, error) {
	l := lexer{b: text}
	raw, ok := l.value()
	if !ok {
		return nil, l.err
	}
	l.ws()
	if l.i != len(text) {
		l.unexpected("the end of the headers")
		return nil, l.err
	}
	a := arena{b: make([]byte, 0, len(text))}
	h, e := a.decodeHeaders(raw, "headers")
	if e != nil {
		return nil, e
	}
	return h, nil
}
