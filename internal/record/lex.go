package record

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds how deeply JSON values may nest (encoding/json's and
// jsontext's own limit).
const maxDepth = 10000

// lexer reads RFC 8259 JSON from b: strings must be valid UTF-8 without
// raw control characters, numbers have JSON's grammar, and nesting is at
// most maxDepth deep. Its methods report false on malformed input and
// leave the reason in err (KindTruncated when b ended early). It never
// allocates for what it only checks; strings with escapes are unescaped
// into fresh memory.
type lexer struct {
	b   []byte
	i   int
	err *Error
	// spaced is set when skipping whitespace, escaped when a skipped
	// string holds an escape: a caller that clears them before a value
	// learns whether it needs compacting or unescaping.
	spaced, escaped bool
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

// peek returns the next byte, or 0 at the end of the input.
func (l *lexer) peek() byte {
	if l.i < len(l.b) {
		return l.b[l.i]
	}
	return 0
}

// fail records a syntax error at the current offset and returns false.
func (l *lexer) fail(format string, args ...any) bool {
	if l.err == nil {
		if l.i >= len(l.b) {
			l.err = &Error{Kind: KindTruncated, Offset: int64(l.i), Problem: "unexpected end of JSON input"}
		} else {
			l.err = errorf(KindSyntax, "", format, args...)
			l.err.Offset = int64(l.i)
		}
	}
	return false
}

// unexpected fails on the byte at the current offset.
func (l *lexer) unexpected(want string) bool {
	if l.i >= len(l.b) {
		return l.fail("")
	}
	return l.fail("invalid character %s, expecting %s", quoteChar(l.b[l.i]), want)
}

func quoteChar(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "0x" + strconv.FormatUint(uint64(c), 16)
}

// eat consumes c if it is next.
func (l *lexer) eat(c byte) bool {
	if l.i < len(l.b) && l.b[l.i] == c {
		l.i++
		return true
	}
	return false
}

// expect consumes c or fails.
func (l *lexer) expect(c byte, want string) bool {
	if l.eat(c) {
		return true
	}
	return l.unexpected(want)
}

// literal consumes true, false or null.
func (l *lexer) literal(word string) bool {
	for k := 0; k < len(word); k++ {
		if l.i >= len(l.b) {
			return l.fail("")
		}
		if l.b[l.i] != word[k] {
			return l.unexpected("a JSON value")
		}
		l.i++
	}
	return true
}

// null consumes null if it is next.
func (l *lexer) null() bool {
	if l.i+4 <= len(l.b) && string(l.b[l.i:l.i+4]) == "null" {
		l.i += 4
		return true
	}
	return false
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialWord reports whether any of the eight bytes of x is below 0x20,
// a quote, a backslash or non-ASCII (exact as a yes or no).
func specialWord(x uint64) bool {
	below := (x - lsb*0x20) &^ x & msb
	quote := (x ^ lsb*'"' - lsb) &^ (x ^ lsb*'"') & msb
	bslash := (x ^ lsb*'\\' - lsb) &^ (x ^ lsb*'\\') & msb
	return below|quote|bslash|x&msb != 0
}

// plainByte marks printable ASCII but the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string at the current offset and returns its value. A
// string without escapes is returned as a slice of the input (no copy);
// escapes are decoded into fresh memory, invalid surrogates becoming
// U+FFFD as encoding/json does.
func (l *lexer) str() ([]byte, bool) {
	if !l.expect('"', "a string") {
		return nil, false
	}
	start := l.i
	var out []byte // set once an escape is met
	for {
		for l.i+8 <= len(l.b) && !specialWord(binary.LittleEndian.Uint64(l.b[l.i:])) {
			l.i += 8
		}
		for l.i < len(l.b) && plainByte[l.b[l.i]] {
			l.i++
		}
		if l.i >= len(l.b) {
			return nil, l.fail("")
		}
		c := l.b[l.i]
		switch {
		case c == '"':
			l.i++
			if out == nil {
				return l.b[start : l.i-1], true
			}
			return append(out, l.b[start:l.i-1]...), true
		case c >= 0x80:
			r, n := utf8.DecodeRune(l.b[l.i:])
			if r == utf8.RuneError && n <= 1 {
				if !utf8.FullRune(l.b[l.i:]) {
					l.i = len(l.b)
					return nil, l.fail("")
				}
				return nil, l.fail("invalid UTF-8 in a string")
			}
			l.i += n
		case c == '\\':
			if out == nil {
				out = make([]byte, 0, len(l.b)-start)
			}
			out = append(out, l.b[start:l.i]...)
			var ok bool
			if out, ok = l.escape(out); !ok {
				return nil, false
			}
			start = l.i
		default:
			return nil, l.fail("invalid control character %s in a string", quoteChar(c))
		}
	}
}

// escape decodes the escape sequence at the current offset (a backslash)
// onto out.
func (l *lexer) escape(out []byte) ([]byte, bool) {
	l.i++ // the backslash
	if l.i >= len(l.b) {
		return out, l.fail("")
	}
	c := l.b[l.i]
	l.i++
	switch c {
	case '"', '\\', '/':
		return append(out, c), true
	case 'b':
		return append(out, '\b'), true
	case 'f':
		return append(out, '\f'), true
	case 'n':
		return append(out, '\n'), true
	case 'r':
		return append(out, '\r'), true
	case 't':
		return append(out, '\t'), true
	case 'u':
		r, ok := l.hex4()
		if !ok {
			return out, false
		}
		if utf16.IsSurrogate(r) {
			// A pair when a low surrogate follows; else U+FFFD.
			rest := l.b[l.i:]
			if len(rest) >= 6 && rest[0] == '\\' && rest[1] == 'u' {
				save := l.i
				l.i += 2
				r2, ok := l.hex4()
				if !ok {
					return out, false
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					return utf8.AppendRune(out, d), true
				}
				l.i = save
			} else if len(rest) < 6 && hexEscapePrefix(rest) {
				// The input ends where the low surrogate may be.
				l.i = len(l.b)
				return out, l.fail("")
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(out, r), true
	}
	l.i--
	return out, l.fail("invalid escape sequence \\%s in a string", string(rune(c)))
}

// hexEscapePrefix reports whether b is a proper prefix of a \uXXXX
// escape.
func hexEscapePrefix(b []byte) bool {
	const want = `\u`
	for k, c := range b {
		switch {
		case k < 2 && c != want[k]:
			return false
		case k >= 2 && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
			return false
		}
	}
	return true
}

func (l *lexer) hex4() (rune, bool) {
	var r rune
	for k := 0; k < 4; k++ {
		if l.i >= len(l.b) {
			return 0, l.fail("")
		}
		c := l.b[l.i]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, l.fail("invalid character %s in a \\u escape", quoteChar(c))
		}
		l.i++
	}
	return r, true
}

// skipString checks the string at the current offset without decoding it.
func (l *lexer) skipString() bool {
	l.i++ // the quote
	for {
		for l.i+8 <= len(l.b) && !specialWord(binary.LittleEndian.Uint64(l.b[l.i:])) {
			l.i += 8
		}
		for l.i < len(l.b) && plainByte[l.b[l.i]] {
			l.i++
		}
		if l.i >= len(l.b) {
			return l.fail("")
		}
		c := l.b[l.i]
		switch {
		case c == '"':
			l.i++
			return true
		case c >= 0x80:
			r, n := utf8.DecodeRune(l.b[l.i:])
			if r == utf8.RuneError && n <= 1 {
				if !utf8.FullRune(l.b[l.i:]) {
					l.i = len(l.b)
					return l.fail("")
				}
				return l.fail("invalid UTF-8 in a string")
			}
			l.i += n
		case c == '\\':
			l.escaped = true
			if _, ok := l.escape(nil); !ok {
				return false
			}
		default:
			return l.fail("invalid control character %s in a string", quoteChar(c))
		}
	}
}

// number checks the number at the current offset.
func (l *lexer) number() bool {
	l.eat('-')
	switch c := l.peek(); {
	case c == '0':
		l.i++
	case c >= '1' && c <= '9':
		l.digits()
	default:
		return l.unexpected("a digit")
	}
	if l.eat('.') {
		if !l.digits() {
			return l.unexpected("a digit after the decimal point")
		}
	}
	if c := l.peek(); c == 'e' || c == 'E' {
		l.i++
		if !l.eat('+') {
			l.eat('-')
		}
		if !l.digits() {
			return l.unexpected("a digit in the exponent")
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

// value checks one JSON value at the current offset (after whitespace)
// and returns its bytes.
func (l *lexer) value() ([]byte, bool) {
	l.ws()
	start := l.i
	if !l.skipValue() {
		return nil, false
	}
	return l.b[start:l.i], true
}

// skipValue checks one value at the current offset.
func (l *lexer) skipValue() bool {
	// open records the open containers, one bit each (1: an object),
	// beyond the first 64 in more.
	var open uint64
	var more []uint64
	depth := 0
	push := func(obj bool) bool {
		if depth == maxDepth {
			return l.fail("JSON nested deeper than %d levels", maxDepth)
		}
		if depth >= 64 {
			k := depth - 64
			if k/64 >= len(more) {
				more = append(more, 0)
			}
			more[k/64] &^= 1 << (k % 64)
			if obj {
				more[k/64] |= 1 << (k % 64)
			}
		} else {
			open &^= 1 << depth
			if obj {
				open |= 1 << depth
			}
		}
		depth++
		return true
	}
	top := func() bool { // the innermost container is an object
		k := depth - 1
		if k >= 64 {
			k -= 64
			return more[k/64]&(1<<(k%64)) != 0
		}
		return open&(1<<k) != 0
	}
	for {
		// A value.
		l.ws()
		switch c := l.peek(); {
		case c == '{':
			l.i++
			l.ws()
			if l.eat('}') {
				break
			}
			if !push(true) || !l.memberName() {
				return false
			}
			continue
		case c == '[':
			l.i++
			l.ws()
			if l.eat(']') {
				break
			}
			if !push(false) {
				return false
			}
			continue
		case c == '"':
			if !l.skipString() {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if !l.number() {
				return false
			}
		case c == 't':
			if !l.literal("true") {
				return false
			}
		case c == 'f':
			if !l.literal("false") {
				return false
			}
		case c == 'n':
			if !l.literal("null") {
				return false
			}
		default:
			return l.unexpected("a JSON value")
		}
		// After a value: close containers, or go on to the next element.
		for {
			if depth == 0 {
				return true
			}
			l.ws()
			obj := top()
			if l.eat(',') {
				l.ws()
				if obj && !l.memberName() {
					return false
				}
				break
			}
			closer, want := byte(']'), "',' or ']'"
			if obj {
				closer, want = '}', "',' or '}'"
			}
			if !l.expect(closer, want) {
				return false
			}
			depth--
		}
	}
}

// memberName checks a member name and its colon.
func (l *lexer) memberName() bool {
	if l.peek() != '"' {
		return l.unexpected("a string for an object member name")
	}
	if !l.skipString() {
		return false
	}
	l.ws()
	return l.expect(':', "':' after an object member name")
}

// name reads an object member name and its colon.
func (l *lexer) name() ([]byte, bool) {
	l.ws()
	if l.peek() != '"' {
		return nil, l.unexpected("a string for an object member name")
	}
	// Names are short and plain: take them as they are when they are.
	for k := l.i + 1; k < len(l.b); k++ {
		c := l.b[k]
		if c == '"' {
			n := l.b[l.i+1 : k]
			l.i = k + 1
			if l.i < len(l.b) && l.b[l.i] == ':' {
				l.i++
				return n, true
			}
			l.ws()
			return n, l.expect(':', "':' after an object member name")
		}
		if !plainByte[c] {
			break
		}
	}
	n, ok := l.str()
	if !ok {
		return nil, false
	}
	l.ws()
	return n, l.expect(':', "':' after an object member name")
}

// object walks the members of the object at the current offset (after
// whitespace), calling member after each name with the offset at the
// value; member must consume exactly the value. It fails on a syntax
// error, or when member returns false (having set err).
func (l *lexer) object(member func(name []byte) bool) bool {
	l.ws()
	if !l.expect('{', "'{'") {
		return false
	}
	l.ws()
	if l.eat('}') {
		return true
	}
	for {
		n, ok := l.name()
		if !ok {
			return false
		}
		l.ws()
		if !member(n) {
			return false
		}
		l.ws()
		if l.eat(',') {
			continue
		}
		return l.expect('}', "',' or '}'")
	}
}

// nextMember reads the next member name of the object being read (its
// '{' consumed): first says whether it is the first member. It returns
// more=false at the closing brace, and also on a syntax error, which it
// records in err: loops end with `return l.err == nil`.
func (l *lexer) nextMember(first bool) (name []byte, more bool) {
	l.ws()
	if !first {
		if !l.eat(',') {
			if !l.eat('}') {
				l.unexpected("',' or '}'")
			}
			return nil, false
		}
	} else if l.eat('}') {
		return nil, false
	}
	n, ok := l.name()
	if !ok {
		return nil, false
	}
	l.ws()
	return n, true
}

// compact appends v, a valid JSON value, without insignificant
// whitespace.
func compact(dst, v []byte) []byte {
	in := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if in {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, v[i])
			case '"':
				in = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
		case '"':
			in = true
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// parseInt32 reads an integer in int32 range written plainly (JSON's
// integer grammar: no fraction, exponent or leading zeros) from v.
func parseInt32(v []byte) (int32, bool) {
	d := v
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 10 || (len(d) > 1 && d[0] == '0') {
		return 0, false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}
