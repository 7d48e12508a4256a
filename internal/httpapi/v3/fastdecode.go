package v3

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// decodeFast decodes a well-formed record in one pass, without
// reflection. It handles the common shapes exactly as decodeRecord does
// and reports ok=false for anything else (escaped strings, unusual
// numbers, repeated or case-folded keys, schema fields, any error), which
// decodeRecord then handles, so that every result and every error
// message comes from one definition. FuzzFastDecode checks that both agree.
func decodeFast(raw []byte) (decodedRecord, bool) {
	l := lexer{b: raw}
	d, ok := l.record()
	return d, ok && l.end()
}

// decodeFastPrefix decodes the record at the start of b (after
// whitespace) and returns how many bytes it took; what follows it is not
// looked at. It is how the stream decodes records straight from its read
// buffer.
func decodeFastPrefix(b []byte) (decodedRecord, int, bool) {
	l := lexer{b: b}
	d, ok := l.record()
	return d, l.i, ok
}

// record reads one record object (after whitespace), stopping after its
// closing brace.
func (l *lexer) record() (decodedRecord, bool) {
	var d decodedRecord
	l.ws()
	if !l.eat('{') {
		return d, false
	}
	var seen uint8
	const (
		sPartition = 1 << iota
		sKey
		sValue
		sHeaders
		sTimestamp
	)
	l.ws()
	if l.eat('}') {
		return d, true
	}
	for {
		l.ws()
		key, ok := l.plainString()
		if !ok {
			return d, false
		}
		l.ws()
		if !l.eat(':') {
			return d, false
		}
		l.ws()
		var bit uint8
		switch string(key) {
		case "partition_id":
			bit = sPartition
			if l.null() {
				break
			}
			p, ok := l.int32()
			if !ok || p < 0 {
				return d, false
			}
			d.partition = &p
		case "key":
			bit = sKey
			if d.key, d.keyInfo, ok = l.data(); !ok {
				return d, false
			}
		case "value":
			bit = sValue
			if d.value, d.valueInfo, ok = l.data(); !ok {
				return d, false
			}
		case "headers":
			bit = sHeaders
			if d.headers, ok = l.headers(); !ok {
				return d, false
			}
		case "timestamp":
			bit = sTimestamp
			if l.null() {
				break
			}
			s, ok := l.plainString()
			if !ok {
				return d, false
			}
			t, err := time.Parse(time.RFC3339Nano, string(s))
			if err != nil {
				return d, false
			}
			d.timestamp = t
		default:
			if foldsToField(key, "partition_id", "key", "value", "headers", "timestamp") {
				return d, false // encoding/json matches keys case-insensitively
			}
			if !l.value() {
				return d, false
			}
		}
		if bit != 0 {
			if seen&bit != 0 {
				return d, false // a repeated key: encoding/json merges
			}
			seen |= bit
		}
		l.ws()
		if l.eat(',') {
			continue
		}
		if l.eat('}') {
			return d, true
		}
		return d, false
	}
}

func foldsToField(key []byte, fields ...string) bool {
	for _, f := range fields {
		if strings.EqualFold(string(key), f) {
			return true
		}
	}
	return false
}

// lexer reads JSON from b. Its methods report ok=false on anything they
// do not handle, leaving the record to encoding/json.
type lexer struct {
	b      []byte
	i      int
	spaced bool // ws skipped something (so a span needs compacting)
}

func (l *lexer) ws() {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\r', '\n':
			l.i++
			l.spaced = true
		default:
			return
		}
	}
}

func (l *lexer) eat(c byte) bool {
	if l.i < len(l.b) && l.b[l.i] == c {
		l.i++
		return true
	}
	return false
}

func (l *lexer) end() bool {
	l.ws()
	return l.i == len(l.b)
}

func (l *lexer) null() bool {
	if bytes.HasPrefix(l.b[l.i:], []byte("null")) {
		l.i += 4
		return true
	}
	return false
}

// plainByte marks the bytes a plain string run may hold: printable
// ASCII but the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialWord reports whether any of the eight bytes of x is below 0x20,
// a quote, a backslash or non-ASCII (the bit tricks are exact as a yes or
// no).
func specialWord(x uint64) bool {
	below := (x - lsb*0x20) &^ x & msb
	quote := (x ^ lsb*'"' - lsb) &^ (x ^ lsb*'"') & msb
	bslash := (x ^ lsb*'\\' - lsb) &^ (x ^ lsb*'\\') & msb
	return below|quote|bslash|x&msb != 0
}

// plainString reads a string without escapes whose bytes are valid
// UTF-8: its raw bytes are then its value.
func (l *lexer) plainString() ([]byte, bool) {
	if !l.eat('"') {
		return nil, false
	}
	start := l.i
	ascii := true
	for {
		// Eight bytes at a time while none is special, then one by one.
		for l.i+8 <= len(l.b) && !specialWord(binary.LittleEndian.Uint64(l.b[l.i:])) {
			l.i += 8
		}
		for l.i < len(l.b) && plainByte[l.b[l.i]] {
			l.i++
		}
		if l.i >= len(l.b) {
			return nil, false
		}
		c := l.b[l.i]
		switch {
		case c == '"':
			s := l.b[start:l.i]
			l.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c >= 0x80:
			ascii = false
			l.i++
		default: // a backslash or a control character
			return nil, false
		}
	}
}

// int32 reads an integer in int32 range written plainly (no fraction or
// exponent).
func (l *lexer) int32() (int32, bool) {
	neg := l.eat('-')
	start := l.i
	var n int64
	for l.i < len(l.b) && l.b[l.i] >= '0' && l.b[l.i] <= '9' {
		n = n*10 + int64(l.b[l.i]-'0')
		if n > 1<<31 {
			return 0, false
		}
		l.i++
	}
	digits := l.i - start
	if digits == 0 || (digits > 1 && l.b[start] == '0') {
		return 0, false
	}
	if l.i < len(l.b) && (l.b[l.i] == '.' || l.b[l.i] == 'e' || l.b[l.i] == 'E') {
		return 0, false
	}
	if neg {
		n = -n
	}
	if n > 1<<31-1 || n < -(1<<31) {
		return 0, false
	}
	return int32(n), true
}

// value skips exactly one JSON value, validating it as encoding/json
// does, and reports ok=false for anything invalid or nested deeper than
// 64 levels.
func (l *lexer) value() bool {
	var stack [64]byte // '{' or '[' per open container
	depth := 0
	for {
		// A value.
		l.ws()
		if l.i >= len(l.b) {
			return false
		}
		switch c := l.b[l.i]; {
		case c == '{' || c == '[':
			if depth == len(stack) {
				return false
			}
			l.i++
			l.ws()
			if l.i < len(l.b) && l.b[l.i] == closer(c) {
				l.i++
				break // an empty container is a complete value
			}
			stack[depth] = c
			depth++
			if c == '{' && !l.objKey() {
				return false
			}
			continue
		case c == '"':
			if !l.anyString() {
				return false
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if !l.number() {
				return false
			}
		case c == 't':
			if !bytes.HasPrefix(l.b[l.i:], []byte("true")) {
				return false
			}
			l.i += 4
		case c == 'f':
			if !bytes.HasPrefix(l.b[l.i:], []byte("false")) {
				return false
			}
			l.i += 5
		case c == 'n':
			if !l.null() {
				return false
			}
		default:
			return false
		}
		// After a value: close containers, or go on to the next element.
		for {
			if depth == 0 {
				return true
			}
			l.ws()
			if l.i >= len(l.b) {
				return false
			}
			c := l.b[l.i]
			if c == ',' {
				l.i++
				if stack[depth-1] == '{' && !l.objKey() {
					return false
				}
				break
			}
			if c != closer(stack[depth-1]) {
				return false
			}
			l.i++
			depth--
		}
	}
}

func closer(open byte) byte {
	if open == '{' {
		return '}'
	}
	return ']'
}

func (l *lexer) objKey() bool {
	l.ws()
	if !l.anyString() {
		return false
	}
	l.ws()
	return l.eat(':')
}

// anyString skips a string, escapes included, as encoding/json accepts it.
func (l *lexer) anyString() bool {
	if !l.eat('"') {
		return false
	}
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch {
		case c == '"':
			l.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			l.i++
			if l.i >= len(l.b) {
				return false
			}
			switch l.b[l.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				l.i++
			case 'u':
				if l.i+4 >= len(l.b) {
					return false
				}
				for _, h := range l.b[l.i+1 : l.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				l.i += 5
			default:
				return false
			}
		default:
			l.i++
		}
	}
	return false
}

func (l *lexer) number() bool {
	l.eat('-')
	if l.i >= len(l.b) {
		return false
	}
	if l.b[l.i] == '0' {
		l.i++
	} else if !l.digits() {
		return false
	}
	if l.eat('.') && !l.digits() {
		return false
	}
	if l.i < len(l.b) && (l.b[l.i] == 'e' || l.b[l.i] == 'E') {
		l.i++
		if !l.eat('+') {
			l.eat('-')
		}
		if !l.digits() {
			return false
		}
	}
	return true
}

func (l *lexer) digits() bool {
	start := l.i
	for l.i < len(l.b) && l.b[l.i] >= '0' && l.b[l.i] <= '9' {
		l.i++
	}
	return l.i > start
}

// data reads a key or value object: {"type": T, "data": D} in any order,
// T BINARY, JSON or STRING, nothing else (schema fields go the slow way).
func (l *lexer) data() ([]byte, dataInfo, bool) {
	if l.null() {
		return nil, dataInfo{}, true
	}
	if !l.eat('{') {
		return nil, dataInfo{}, false
	}
	var typ, span, str []byte
	haveData, compact := false, false
	l.ws()
	if !l.eat('}') {
		for {
			l.ws()
			k, ok := l.plainString()
			if !ok {
				return nil, dataInfo{}, false
			}
			l.ws()
			if !l.eat(':') {
				return nil, dataInfo{}, false
			}
			l.ws()
			switch string(k) {
			case "type":
				if typ != nil {
					return nil, dataInfo{}, false
				}
				if typ, ok = l.plainString(); !ok {
					return nil, dataInfo{}, false
				}
			case "data":
				if haveData {
					return nil, dataInfo{}, false
				}
				haveData = true
				start := l.i
				if l.i < len(l.b) && l.b[l.i] == '"' {
					// The usual data: a string, read once.
					if str, ok = l.plainString(); !ok {
						return nil, dataInfo{}, false
					}
					span, compact = l.b[start:l.i], true
					break
				}
				l.spaced = false
				if !l.value() {
					return nil, dataInfo{}, false
				}
				span, compact = l.b[start:l.i], !l.spaced
			default:
				return nil, dataInfo{}, false
			}
			l.ws()
			if l.eat(',') {
				continue
			}
			if l.eat('}') {
				break
			}
			return nil, dataInfo{}, false
		}
	}
	var t string
	switch {
	case bytesEqualFold(typ, "BINARY"):
		t = "BINARY"
	case bytesEqualFold(typ, "STRING"):
		t = "STRING"
	case bytesEqualFold(typ, "JSON"):
		t = "JSON"
	default:
		return nil, dataInfo{}, false
	}
	info := dataInfo{Type: t}
	if !haveData || bytes.Equal(span, []byte("null")) {
		return nil, info, true
	}
	var out []byte
	switch t {
	case "BINARY", "STRING":
		s := str
		if s == nil {
			return nil, dataInfo{}, false // not a string: the slow path explains
		}
		if t == "STRING" {
			out = append([]byte{}, s...)
			break
		}
		out = make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(out, s)
		if err != nil {
			return nil, dataInfo{}, false
		}
		out = out[:n]
	case "JSON":
		// The stored form is the compact one (as the slow path's).
		if compact {
			out = append([]byte{}, span...)
			break
		}
		var buf bytes.Buffer
		buf.Grow(len(span))
		if err := json.Compact(&buf, span); err != nil {
			return nil, dataInfo{}, false
		}
		out = buf.Bytes()
	}
	info.Size = len(out)
	return out, info, true
}

func bytesEqualFold(b []byte, s string) bool {
	return len(b) == len(s) && strings.EqualFold(string(b), s)
}

// headers reads [{"name": N, "value": V|null}, ...] with plain strings.
func (l *lexer) headers() ([]kgo.RecordHeader, bool) {
	if l.null() {
		return nil, true
	}
	if !l.eat('[') {
		return nil, false
	}
	var out []kgo.RecordHeader
	l.ws()
	if l.eat(']') {
		return out, true
	}
	for {
		l.ws()
		if !l.eat('{') {
			return nil, false
		}
		var name, value []byte
		haveName, haveValue, nullValue := false, false, false
		l.ws()
		if !l.eat('}') {
			for {
				l.ws()
				k, ok := l.plainString()
				if !ok {
					return nil, false
				}
				l.ws()
				if !l.eat(':') {
					return nil, false
				}
				l.ws()
				switch string(k) {
				case "name":
					if haveName {
						return nil, false
					}
					haveName = true
					if name, ok = l.plainString(); !ok {
						return nil, false
					}
				case "value":
					if haveValue {
						return nil, false
					}
					haveValue = true
					if l.null() {
						nullValue = true
						break
					}
					if value, ok = l.plainString(); !ok {
						return nil, false
					}
				default:
					return nil, false
				}
				l.ws()
				if l.eat(',') {
					continue
				}
				if l.eat('}') {
					break
				}
				return nil, false
			}
		}
		if len(name) == 0 {
			return nil, false
		}
		h := kgo.RecordHeader{Key: string(name)}
		if haveValue && !nullValue {
			v := make([]byte, base64.StdEncoding.DecodedLen(len(value)))
			n, err := base64.StdEncoding.Decode(v, value)
			if err != nil {
				return nil, false
			}
			h.Value = v[:n]
		}
		out = append(out, h)
		l.ws()
		if l.eat(',') {
			continue
		}
		if l.eat(']') {
			return out, true
		}
		return nil, false
	}
}
