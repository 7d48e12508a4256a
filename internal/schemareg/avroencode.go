package schemareg

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// The avro format's produce path: a value in Avro's JSON encoding is
// encoded to the Avro binary in one pass over its text, led by the schema
// compiled once into avroNodes (names, symbols, union branches and field
// defaults resolved ahead), with no intermediate Go values. Records whose
// fields arrive in schema order are written as they are read; a field
// out of order is remembered by its text's span and written in its place
// at the end of the record.

// avroNode is one compiled schema type.
type avroNode struct {
	typ avro.Type
	// name is a named type's full name, for messages.
	name string
	// fields of a record.
	fields []avroField
	// elem is an array's items or a map's values.
	elem *avroNode
	// symbols of an enum.
	symbols []string
	// size of a fixed.
	size int
	// branches of a union; null is the null branch's index (-1: none).
	branches []avroBranch
	null     int
}

type avroField struct {
	name string
	node *avroNode
	// def is the default's encoding; defErr why it has none that
	// encodes; hasDef whether the field has a default at all.
	def    []byte
	defErr error
	hasDef bool
}

type avroBranch struct {
	full, short string
	node        *avroNode
}

// compileAvro compiles s; named types are compiled once (so recursive
// types are finite).
func compileAvro(s avro.Schema, named map[string]*avroNode) *avroNode {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		if c := named[n.FullName()]; c != nil {
			return c
		}
	}
	c := &avroNode{typ: s.Type(), null: -1}
	if n, ok := s.(avro.NamedSchema); ok {
		c.name = n.FullName()
		named[c.name] = c
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		for _, f := range s.Fields() {
			af := avroField{name: f.Name(), node: compileAvro(f.Type(), named), hasDef: f.HasDefault()}
			if af.hasDef {
				af.def, af.defErr = marshalDefault(f)
			}
			c.fields = append(c.fields, af)
		}
	case *avro.ArraySchema:
		c.elem = compileAvro(s.Items(), named)
	case *avro.MapSchema:
		c.elem = compileAvro(s.Values(), named)
	case *avro.EnumSchema:
		c.symbols = s.Symbols()
	case *avro.FixedSchema:
		c.size = s.Size()
	case *avro.UnionSchema:
		for i, t := range s.Types() {
			if t.Type() == avro.Null {
				c.null = i
			}
			c.branches = append(c.branches, avroBranch{full: branchName(t), short: shortName(t), node: compileAvro(t, named)})
		}
	}
	return c
}

// avroPathError is where a value does not fit: the path is built while
// the encoder unwinds, innermost segment first.
type avroPathError struct {
	rev []string
	msg string
}

func (e *avroPathError) Error() string {
	var b strings.Builder
	b.WriteString("$")
	for i := len(e.rev) - 1; i >= 0; i-- {
		b.WriteString(e.rev[i])
	}
	if e.msg != "" && e.msg[0] != ' ' {
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	return b.String()
}

func within(err error, segment string) error {
	if e, ok := err.(*avroPathError); ok {
		e.rev = append(e.rev, segment)
	}
	return err
}

func mismatch(want string) error { return &avroPathError{msg: "expected " + want} }

// avroEncoder is the state of one encoding; pooled.
type avroEncoder struct {
	data []byte
	pos  int
	// spans are the field texts of the records being encoded, a stack
	// of len(fields) entries per record level.
	spans []avroSpan
	// scratch holds an unescaped string.
	scratch []byte
}

type avroSpan struct {
	start, end int
	seen       bool
}

var avroEncoders = sync.Pool{New: func() any { return new(avroEncoder) }}

// encodeAvroJSON appends the Avro binary of data, one JSON value.
func encodeAvroJSON(dst []byte, n *avroNode, data []byte) ([]byte, error) {
	e := avroEncoders.Get().(*avroEncoder)
	e.data, e.pos, e.spans = data, 0, e.spans[:0]
	start := len(dst)
	out, err := e.value(dst, n, 0)
	if err == nil {
		e.ws()
		if e.pos != len(e.data) {
			err = e.syntax()
		}
	}
	e.data = nil
	if cap(e.scratch) <= 64<<10 {
		avroEncoders.Put(e)
	}
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

func (e *avroEncoder) syntax() error {
	return &avroPathError{msg: fmt.Sprintf(" is not valid JSON (offset %d)", e.pos)}
}

func (e *avroEncoder) ws() {
	for e.pos < len(e.data) {
		switch e.data[e.pos] {
		case ' ', '\t', '\n', '\r':
			e.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space (0 at the end).
func (e *avroEncoder) peek() byte {
	e.ws()
	if e.pos < len(e.data) {
		return e.data[e.pos]
	}
	return 0
}

func (e *avroEncoder) literal(word string) bool {
	if len(e.data)-e.pos >= len(word) && string(e.data[e.pos:e.pos+len(word)]) == word {
		e.pos += len(word)
		return true
	}
	return false
}

// str reads a string (the opening quote next) and returns its unescaped
// bytes, which stay valid until the next str; invalid UTF-8 becomes
// U+FFFD as in encoding/json.
func (e *avroEncoder) str() ([]byte, bool) {
	if e.pos >= len(e.data) || e.data[e.pos] != '"' {
		return nil, false
	}
	e.pos++
	start := e.pos
	ascii := true
	for e.pos < len(e.data) {
		c := e.data[e.pos]
		switch {
		case c == '"':
			s := e.data[start:e.pos]
			e.pos++
			if !ascii && !utf8.Valid(s) {
				e.scratch = appendValidUTF8(e.scratch[:0], s)
				return e.scratch, true
			}
			return s, true
		case c == '\\':
			e.scratch = append(e.scratch[:0], e.data[start:e.pos]...)
			return e.escaped()
		case c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
		e.pos++
	}
	return nil, false
}

// escaped continues a string with escapes into scratch.
func (e *avroEncoder) escaped() ([]byte, bool) {
	runStart := e.pos
	flush := func() {
		e.scratch = appendValidUTF8(e.scratch, e.data[runStart:e.pos])
	}
	for e.pos < len(e.data) {
		c := e.data[e.pos]
		switch {
		case c == '"':
			flush()
			e.pos++
			return e.scratch, true
		case c < 0x20:
			return nil, false
		case c != '\\':
			e.pos++
			continue
		}
		flush()
		if e.pos+1 >= len(e.data) {
			return nil, false
		}
		esc := e.data[e.pos+1]
		e.pos += 2
		switch esc {
		case '"', '\\', '/':
			e.scratch = append(e.scratch, esc)
		case 'b':
			e.scratch = append(e.scratch, '\b')
		case 'f':
			e.scratch = append(e.scratch, '\f')
		case 'n':
			e.scratch = append(e.scratch, '\n')
		case 'r':
			e.scratch = append(e.scratch, '\r')
		case 't':
			e.scratch = append(e.scratch, '\t')
		case 'u':
			r, ok := e.hex4()
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if e.pos+1 < len(e.data) && e.data[e.pos] == '\\' && e.data[e.pos+1] == 'u' {
					save := e.pos
					e.pos += 2
					if r2, ok = e.hex4(); !ok {
						return nil, false
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r, r2 = d, -1
					} else {
						// Not a pair: the first is replaced, the second
						// read again on its own.
						e.pos, r2 = save, -1
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			e.scratch = utf8.AppendRune(e.scratch, r)
		default:
			return nil, false
		}
		runStart = e.pos
	}
	return nil, false
}

func (e *avroEncoder) hex4() (rune, bool) {
	if len(e.data)-e.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range e.data[e.pos : e.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	e.pos += 4
	return r, true
}

func appendValidUTF8(dst, s []byte) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return dst
}

// number reads a JSON number and returns its text and whether it is an
// integer (no fraction, no exponent).
func (e *avroEncoder) number() (text []byte, integer, ok bool) {
	start := e.pos
	if e.pos < len(e.data) && e.data[e.pos] == '-' {
		e.pos++
	}
	switch {
	case e.pos < len(e.data) && e.data[e.pos] == '0':
		e.pos++
	case e.pos < len(e.data) && e.data[e.pos] >= '1' && e.data[e.pos] <= '9':
		e.digits()
	default:
		return nil, false, false
	}
	integer = true
	if e.pos < len(e.data) && e.data[e.pos] == '.' {
		e.pos++
		if !e.digits() {
			return nil, false, false
		}
		integer = false
	}
	if e.pos < len(e.data) && (e.data[e.pos] == 'e' || e.data[e.pos] == 'E') {
		e.pos++
		if e.pos < len(e.data) && (e.data[e.pos] == '+' || e.data[e.pos] == '-') {
			e.pos++
		}
		if !e.digits() {
			return nil, false, false
		}
		integer = false
	}
	return e.data[start:e.pos], integer, true
}

func (e *avroEncoder) digits() bool {
	start := e.pos
	for e.pos < len(e.data) && e.data[e.pos] >= '0' && e.data[e.pos] <= '9' {
		e.pos++
	}
	return e.pos > start
}

// skip passes over one value (for a record field out of order).
func (e *avroEncoder) skip(depth int) error {
	if depth > maxAvroDepth {
		return &avroPathError{msg: fmt.Sprintf(" nests deeper than %d", maxAvroDepth)}
	}
	switch e.peek() {
	case '"':
		if _, ok := e.str(); !ok {
			return e.syntax()
		}
	case '{':
		e.pos++
		if e.peek() == '}' {
			e.pos++
			return nil
		}
		for {
			if e.peek() != '"' {
				return e.syntax()
			}
			if _, ok := e.str(); !ok || e.peek() != ':' {
				return e.syntax()
			}
			e.pos++
			if err := e.skip(depth + 1); err != nil {
				return err
			}
			switch e.peek() {
			case ',':
				e.pos++
			case '}':
				e.pos++
				return nil
			default:
				return e.syntax()
			}
		}
	case '[':
		e.pos++
		if e.peek() == ']' {
			e.pos++
			return nil
		}
		for {
			if err := e.skip(depth + 1); err != nil {
				return err
			}
			switch e.peek() {
			case ',':
				e.pos++
			case ']':
				e.pos++
				return nil
			default:
				return e.syntax()
			}
		}
	case 't':
		if !e.literal("true") {
			return e.syntax()
		}
	case 'f':
		if !e.literal("false") {
			return e.syntax()
		}
	case 'n':
		if !e.literal("null") {
			return e.syntax()
		}
	default:
		if _, _, ok := e.number(); !ok {
			return e.syntax()
		}
	}
	return nil
}

// kindOfNext names the JSON type of the next value, for messages.
func (e *avroEncoder) isNull() bool {
	if e.peek() == 'n' && e.literal("null") {
		return true
	}
	return false
}

// value encodes the next value as n.
func (e *avroEncoder) value(dst []byte, n *avroNode, depth int) ([]byte, error) {
	if depth > maxAvroDepth {
		return dst, &avroPathError{msg: fmt.Sprintf(" nests deeper than %d", maxAvroDepth)}
	}
	c := e.peek()
	switch n.typ {
	case avro.Null:
		if !e.isNull() {
			return dst, mismatch("null")
		}
		return dst, nil
	case avro.Boolean:
		switch {
		case c == 't' && e.literal("true"):
			return append(dst, 1), nil
		case c == 'f' && e.literal("false"):
			return append(dst, 0), nil
		}
		return dst, mismatch("a boolean")
	case avro.Int, avro.Long:
		if c != '-' && (c < '0' || c > '9') {
			return dst, mismatch("an integer")
		}
		text, integer, ok := e.number()
		if !ok {
			return dst, e.syntax()
		}
		bits := 64
		if n.typ == avro.Int {
			bits = 32
		}
		i, ok := parseInt(text, bits)
		if !integer || !ok {
			return dst, mismatch(fmt.Sprintf("a %d-bit integer", bits))
		}
		return binary.AppendVarint(dst, i), nil
	case avro.Float, avro.Double:
		if c != '-' && (c < '0' || c > '9') {
			return dst, mismatch("a number")
		}
		text, _, ok := e.number()
		if !ok {
			return dst, e.syntax()
		}
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil {
			return dst, mismatch("a number")
		}
		if n.typ == avro.Float {
			return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(f))), nil
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
	case avro.String:
		if c != '"' {
			return dst, mismatch("a string")
		}
		s, ok := e.str()
		if !ok {
			return dst, e.syntax()
		}
		dst = binary.AppendVarint(dst, int64(len(s)))
		return append(dst, s...), nil
	case avro.Bytes, avro.Fixed:
		if c != '"' {
			return dst, mismatch("bytes as a string")
		}
		s, ok := e.str()
		if !ok {
			return dst, e.syntax()
		}
		if n.typ == avro.Bytes {
			dst = binary.AppendVarint(dst, int64(latin1Len(s)))
		}
		start := len(dst)
		for len(s) > 0 {
			r, size := utf8.DecodeRune(s)
			if r > 0xff || (r == utf8.RuneError && size == 1) {
				return dst, &avroPathError{msg: "bytes hold code points 0 to 255 only"}
			}
			dst = append(dst, byte(r))
			s = s[size:]
		}
		if n.typ == avro.Fixed && len(dst)-start != n.size {
			return dst, mismatch(fmt.Sprintf("%d bytes", n.size))
		}
		return dst, nil
	case avro.Enum:
		if c != '"' {
			return dst, mismatch("an enum symbol")
		}
		s, ok := e.str()
		if !ok {
			return dst, e.syntax()
		}
		for i, sym := range n.symbols {
			if sym == string(s) {
				return binary.AppendVarint(dst, int64(i)), nil
			}
		}
		return dst, mismatch("a symbol of " + n.name)
	case avro.Array:
		if c != '[' {
			return dst, mismatch("an array")
		}
		return e.array(dst, n, depth)
	case avro.Map:
		if c != '{' {
			return dst, mismatch("an object")
		}
		return e.mapValue(dst, n, depth)
	case avro.Record, avro.Error:
		if c != '{' {
			return dst, mismatch("an object (record " + n.name + ")")
		}
		return e.record(dst, n, depth)
	case avro.Union:
		if c == 'n' && e.isNull() {
			if n.null < 0 {
				return dst, mismatch("a union branch (the union has no null)")
			}
			return binary.AppendVarint(dst, int64(n.null)), nil
		}
		return e.union(dst, n, depth)
	}
	return dst, &avroPathError{msg: fmt.Sprintf("unsupported Avro type %s", n.typ)}
}

// latin1Len is the number of code points of s (the byte count it
// encodes to when each is at most 255).
func latin1Len(s []byte) int { return utf8.RuneCount(s) }

// parseInt reads a decimal integer of bits bits.
func parseInt(text []byte, bits int) (int64, bool) {
	neg := len(text) > 0 && text[0] == '-'
	if neg {
		text = text[1:]
	}
	if len(text) == 0 || len(text) > 20 {
		return 0, false
	}
	limit := uint64(1)<<(bits-1) - 1
	if neg {
		limit++
	}
	var u uint64
	for _, c := range text {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (limit-uint64(c-'0'))/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// insertCount writes an array's or map's item count before its items
// (written from start), and the terminating 0.
func insertCount(dst []byte, start, count int) []byte {
	if count == 0 {
		return append(dst, 0)
	}
	var buf [binary.MaxVarintLen64]byte
	cn := binary.PutVarint(buf[:], int64(count))
	dst = append(dst, buf[:cn]...)
	copy(dst[start+cn:], dst[start:len(dst)-cn])
	copy(dst[start:], buf[:cn])
	return append(dst, 0)
}

func (e *avroEncoder) array(dst []byte, n *avroNode, depth int) ([]byte, error) {
	e.pos++ // [
	start, count := len(dst), 0
	if e.peek() == ']' {
		e.pos++
		return append(dst, 0), nil
	}
	for {
		var err error
		if dst, err = e.value(dst, n.elem, depth+1); err != nil {
			return dst, within(err, "["+strconv.Itoa(count)+"]")
		}
		count++
		switch e.peek() {
		case ',':
			e.pos++
		case ']':
			e.pos++
			return insertCount(dst, start, count), nil
		default:
			return dst, e.syntax()
		}
	}
}

func (e *avroEncoder) mapValue(dst []byte, n *avroNode, depth int) ([]byte, error) {
	e.pos++ // {
	start, count := len(dst), 0
	if e.peek() == '}' {
		e.pos++
		return append(dst, 0), nil
	}
	for {
		if e.peek() != '"' {
			return dst, e.syntax()
		}
		k, ok := e.str()
		if !ok || e.peek() != ':' {
			return dst, e.syntax()
		}
		e.pos++
		dst = binary.AppendVarint(dst, int64(len(k)))
		dst = append(dst, k...)
		var err error
		// The path never names a key: data is not quoted in errors.
		if dst, err = e.value(dst, n.elem, depth+1); err != nil {
			return dst, within(err, "{}")
		}
		count++
		switch e.peek() {
		case ',':
			e.pos++
		case '}':
			e.pos++
			return insertCount(dst, start, count), nil
		default:
			return dst, e.syntax()
		}
	}
}

func (n *avroNode) field(name []byte) int {
	for i := range n.fields {
		if n.fields[i].name == string(name) {
			return i
		}
	}
	return -1
}

// record writes the fields in schema order: those read in order at
// once, the others from their spans at the end, and the defaults of
// missing ones.
func (e *avroEncoder) record(dst []byte, n *avroNode, depth int) ([]byte, error) {
	e.pos++ // {
	base := len(e.spans)
	for range n.fields {
		e.spans = append(e.spans, avroSpan{})
	}
	defer func() { e.spans = e.spans[:base] }()
	next := 0         // fields [0, next) are written
	deferred := false // a field came out of order: the rest wait
	if e.peek() == '}' {
		e.pos++
	} else {
		for {
			if e.peek() != '"' {
				return dst, e.syntax()
			}
			name, ok := e.str()
			if !ok || e.peek() != ':' {
				return dst, e.syntax()
			}
			e.pos++
			i := n.field(name)
			if i < 0 {
				return dst, &avroPathError{msg: "a field that record " + n.name + " does not have"}
			}
			if e.spans[base+i].seen {
				return dst, &avroPathError{rev: []string{"." + n.fields[i].name}, msg: "given twice"}
			}
			e.spans[base+i].seen = true
			if i == next && !deferred {
				var err error
				if dst, err = e.value(dst, n.fields[i].node, depth+1); err != nil {
					return dst, within(err, "."+n.fields[i].name)
				}
				next++
			} else {
				deferred = true
				e.ws()
				start := e.pos
				if err := e.skip(depth + 1); err != nil {
					return dst, within(err, "."+n.fields[i].name)
				}
				e.spans[base+i].start, e.spans[base+i].end = start, e.pos
			}
			switch e.peek() {
			case ',':
				e.pos++
				continue
			case '}':
				e.pos++
			default:
				return dst, e.syntax()
			}
			break
		}
	}
	end := e.pos
	for i := next; i < len(n.fields); i++ {
		f := &n.fields[i]
		sp := e.spans[base+i]
		if !sp.seen {
			if !f.hasDef {
				return dst, &avroPathError{rev: []string{"." + f.name}, msg: "missing, and the field has no default"}
			}
			if f.defErr != nil {
				return dst, &avroPathError{rev: []string{"." + f.name}, msg: "default: " + f.defErr.Error()}
			}
			dst = append(dst, f.def...)
			continue
		}
		e.pos = sp.start
		var err error
		if dst, err = e.value(dst, f.node, depth+1); err != nil {
			return dst, within(err, "."+f.name)
		}
	}
	e.pos = end
	return dst, nil
}

func (e *avroEncoder) union(dst []byte, n *avroNode, depth int) ([]byte, error) {
	const shape = `a union as {"type": value}`
	if e.peek() != '{' {
		return dst, mismatch(shape)
	}
	e.pos++
	if e.peek() != '"' {
		return dst, mismatch(shape)
	}
	name, ok := e.str()
	if !ok || e.peek() != ':' {
		return dst, e.syntax()
	}
	e.pos++
	bi := -1
	for i, b := range n.branches {
		if b.full == string(name) || b.short == string(name) {
			bi = i
			break
		}
	}
	if bi < 0 {
		return dst, &avroPathError{msg: "names no branch of the union"}
	}
	b := n.branches[bi]
	dst = binary.AppendVarint(dst, int64(bi))
	dst, err := e.value(dst, b.node, depth+1)
	if err != nil {
		return dst, within(err, "."+b.full)
	}
	if e.peek() != '}' {
		return dst, mismatch(shape)
	}
	e.pos++
	return dst, nil
}
