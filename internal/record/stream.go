package record

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// Stream decodes a v3 streaming produce body: concatenated JSON record
// objects, whitespace between them allowed and no separator required,
// each at most max bytes. A record that is whole in the reader's buffer
// is decoded straight from it; one that spans reads is gathered first. A
// Stream is not safe for concurrent use.
type Stream struct {
	r *bufio.Reader
	// A Stream made by NewGrowingStream moves from its small reader to
	// one of large bytes over src once its reads have filled half the
	// small one at a time (full), keeping what that had buffered; large
	// is 0 after.
	src   io.Reader
	large int
	full  bool
	max   int64
	res   Resolver
	topic string
	buf   []byte
	// started: the last Next read a byte of a record (a timeout then
	// came mid-record, not between records).
	started bool
}

// NewStream decodes records from r (whose buffer should hold several
// records: 64 KiB, say).
func NewStream(r *bufio.Reader, max int64, res Resolver, topic string) *Stream {
	return &Stream{r: r, max: max, res: res, topic: topic}
}

// NewGrowingStream decodes records from src through a reader of small
// bytes, moved to one of large bytes the first time it holds half of
// small or more: a stream that sends a record now and then (a device's)
// keeps a small buffer, one that sends as fast as it can gets the large
// one, which takes fewer reads. (Half, not all: a chunked body's reads
// come short of a full buffer by the chunks' framing.)
func NewGrowingStream(src io.Reader, small, large int, max int64, res Resolver, topic string) *Stream {
	return &Stream{r: bufio.NewReaderSize(src, small), src: src, large: large, max: max, res: res, topic: topic}
}

// grow moves to the large reader, the bytes the small one holds first.
func (s *Stream) grow() {
	src := s.src
	if rest, _ := s.r.Peek(s.r.Buffered()); len(rest) > 0 {
		src = io.MultiReader(bytes.NewReader(bytes.Clone(rest)), s.src)
	}
	s.r = bufio.NewReaderSize(src, s.large)
	s.large = 0
}

// Started reports whether the last call to Next read any byte of a record.
func (s *Stream) Started() bool { return s.started }

// Next returns the next record. It returns io.EOF at a clean end of the
// body (between records), an *Error whose Ends method is true when the
// rest cannot be read (not JSON, too large, the body ended inside a
// record), an *Error for this record alone (the stream goes on), or the
// body's read error.
func (s *Stream) Next() (Record, error) {
	s.started = false
	if s.full && s.large > 0 {
		s.grow()
	}
	var buf []byte
	for {
		buf, _ = s.r.Peek(s.r.Buffered())
		s.full = s.full || len(buf) >= s.r.Size()/2
		i := 0
		for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n') {
			i++
		}
		if i > 0 {
			_, _ = s.r.Discard(i)
			buf = buf[i:]
		}
		if len(buf) > 0 {
			break
		}
		if _, err := s.r.Peek(1); err != nil {
			return Record{}, err // io.EOF between records is the clean end
		}
	}
	s.started = true
	if buf[0] != '{' {
		return Record{}, &Error{Kind: KindSyntax, Problem: "expected a JSON object starting with '{', got " + quoteChar(buf[0])}
	}
	d, n, err := decodeV3Prefix(buf, s.res, s.topic)
	if KindOf(err) != KindTruncated {
		if int64(n) > s.max {
			return Record{}, s.tooLarge()
		}
		_, _ = s.r.Discard(n)
		return d, err
	}
	raw, err := s.gather()
	if err != nil {
		return Record{}, err
	}
	return DecodeV3(raw, s.res, s.topic)
}

func (s *Stream) tooLarge() *Error {
	return &Error{Kind: KindTooLarge, Problem: "record is larger than " + strconv.FormatInt(s.max, 10) + " bytes"}
}

// gather reads the next object (it starts with '{') into s.buf, checking
// structure only (braces, brackets, strings and escapes): DecodeV3 checks
// the rest.
func (s *Stream) gather() ([]byte, error) {
	s.buf = s.buf[:0]
	depth, inString, escaped, done := 0, false, false, false
	for !done {
		// Take runs of bytes at once from the reader's buffer.
		if _, err := s.r.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, &Error{Kind: KindTruncated, Offset: int64(len(s.buf)), Problem: "the body ended inside a record"}
			}
			return nil, err
		}
		chunk, _ := s.r.Peek(s.r.Buffered())
		s.full = s.full || len(chunk) >= s.r.Size()/2
		i := 0
		for i < len(chunk) && !done {
			c := chunk[i]
			i++
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
					i += nextQuoteOrBackslash(chunk[i:])
				}
			default:
				switch c {
				case '"':
					inString = true
				case '{', '[':
					depth++
				case '}', ']':
					depth--
					done = depth <= 0
				}
			}
		}
		if int64(len(s.buf)+i) > s.max {
			return nil, s.tooLarge()
		}
		s.buf = append(s.buf, chunk[:i]...)
		_, _ = s.r.Discard(i)
	}
	return s.buf, nil
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

// Latin1Reader reads ISO-8859-1 text from r as UTF-8 (v3 produce bodies
// may declare charset=ISO-8859-1).
func Latin1Reader(r io.Reader) io.Reader { return &latin1{r: r} }

type latin1 struct {
	r       io.Reader
	in      []byte
	pending []byte // encoded bytes that did not fit the caller's buffer
}

func (l *latin1) Read(p []byte) (int, error) {
	if len(l.pending) > 0 {
		n := copy(p, l.pending)
		l.pending = l.pending[n:]
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Each input byte becomes at most two output bytes.
	want := (len(p) + 1) / 2
	if cap(l.in) < want {
		l.in = make([]byte, want)
	}
	n, err := l.r.Read(l.in[:want])
	out := p[:0]
	for _, c := range l.in[:n] {
		if c < utf8.RuneSelf {
			out = append(out, c)
			continue
		}
		var enc [2]byte
		utf8.EncodeRune(enc[:], rune(c))
		if len(out)+2 <= len(p) {
			out = append(out, enc[:]...)
		} else {
			out = append(out, enc[0])
			l.pending = append(l.pending[:0], enc[1])
		}
	}
	return len(out), err
}
