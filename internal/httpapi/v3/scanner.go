package v3

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/kgate/kgate/internal/httpapi"
)

// recordScanner splits a request body into concatenated top-level JSON
// objects (whitespace between them allowed, no separator required), each
// at most max bytes. It checks structure only (braces, brackets, strings
// and escapes); decodeRecord checks the rest. It is not safe for
// concurrent use.
type recordScanner struct {
	r   *bufio.Reader
	max int64
	buf []byte
	// started reports whether the last call to next read any byte of a
	// record (so that a timeout mid-record can be told from an idle one).
	started bool
}

func newRecordScanner(r *bufio.Reader, max int64) *recordScanner {
	return &recordScanner{r: r, max: max}
}

// fastRecord decodes the next record straight from the read buffer when
// it is all there and takes the fast path: no scanning pass, no copy of
// the object. Otherwise it consumes nothing and next must be used.
func (s *recordScanner) fastRecord() (decodedRecord, bool) {
	buf, _ := s.r.Peek(s.r.Buffered())
	i := 0
	for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n') {
		i++
	}
	if i == len(buf) || buf[i] != '{' {
		return decodedRecord{}, false
	}
	d, n, ok := decodeFastPrefix(buf[i:])
	if !ok || int64(n) > s.max {
		return decodedRecord{}, false
	}
	_, _ = s.r.Discard(i + n)
	s.started = true
	return d, true
}

// errTooLarge is a record over the per-record cap; the stream ends.
type errTooLarge struct{ max int64 }

func (e errTooLarge) Error() string { return fmt.Sprintf("record larger than %d bytes", e.max) }

// next returns the next object. The slice is valid until the next call.
// It returns io.EOF at a clean end of the body, errMalformed for bytes
// that are not a JSON object (or end inside one), errTooLarge, or the
// body's read error.
func (s *recordScanner) next() ([]byte, error) {
	s.buf = s.buf[:0]
	s.started = false
	var c byte
	var err error
	for {
		if c, err = s.r.ReadByte(); err != nil {
			return nil, err // io.EOF between records is the clean end
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			break
		}
	}
	s.started = true
	if c != '{' {
		return nil, errMalformed{httpapi.ErrBadRequest.Msg("Bad Request: expected a JSON object starting with '{', got %q.", printable(c))}
	}
	s.buf = append(s.buf, c)
	depth, inString, escaped := 1, false, false
	for depth > 0 {
		// Copy runs of plain bytes at once from the reader's buffer.
		_, perr := s.r.Peek(1)
		if perr != nil {
			if errors.Is(perr, io.EOF) {
				return nil, errMalformed{httpapi.ErrBadRequest.Msg("Bad Request: unexpected end of input inside a JSON object.")}
			}
			return nil, perr
		}
		n := s.r.Buffered()
		if n == 0 {
			n = 1
		}
		chunk, _ := s.r.Peek(n)
		i := 0
		for ; i < len(chunk) && depth > 0; i++ {
			c := chunk[i]
			switch {
			case escaped:
				escaped = false
			case inString:
				switch c {
				case '\\':
					escaped = true
				case '"':
					inString = false
				default:
					// Jump to the next quote or backslash.
					i += nextQuoteOrBackslash(chunk[i+1:])
				}
			default:
				switch c {
				case '"':
					inString = true
				case '{', '[':
					depth++
				case '}', ']':
					depth--
				}
			}
		}
		if int64(len(s.buf)+i) > s.max {
			return nil, errTooLarge{s.max}
		}
		s.buf = append(s.buf, chunk[:i]...)
		_, _ = s.r.Discard(i)
	}
	return s.buf, nil
}

func printable(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("\\x%02x", c)
}

// nextQuoteOrBackslash returns the index in b of the first '"' or '\\',
// or len(b).
func nextQuoteOrBackslash(b []byte) int {
	q := bytes.IndexByte(b, '"')
	if q < 0 {
		q = len(b)
	}
	if bs := bytes.IndexByte(b[:q], '\\'); bs >= 0 {
		return bs
	}
	return q
}
