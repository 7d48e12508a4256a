package kvs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// EventType is the kind of a PutMedia acknowledgement event.
type EventType string

// The acknowledgement events KVS sends on a PutMedia response.
const (
	// EventBuffering: the first byte of a fragment has arrived.
	EventBuffering EventType = "BUFFERING"
	// EventReceived: the whole fragment has arrived.
	EventReceived EventType = "RECEIVED"
	// EventPersisted: the fragment is stored (streams with retention > 0).
	EventPersisted EventType = "PERSISTED"
	// EventError: the fragment (or the connection) failed; see ErrorID.
	EventError EventType = "ERROR"
	// EventIdle: a keep-alive while no data arrives.
	EventIdle EventType = "IDLE"
)

// Ack is one acknowledgement event of a PutMedia response.
type Ack struct {
	EventType EventType
	// FragmentTimecode is the timecode of the fragment's Cluster, in
	// milliseconds (TimecodeScale 1 ms). HasTimecode is false for events
	// without one (IDLE).
	FragmentTimecode int64
	HasTimecode      bool
	// FragmentNumber is the service's 158-bit fragment number, kept as a
	// string.
	FragmentNumber string
	// ErrorID is set on ERROR events (4000-4012, 4500-4506, 5000, 5001).
	ErrorID int
	// ErrorCode is the textual error some documents mention; optional.
	ErrorCode string
}

// ErrInvalidAck reports an acknowledgement that is not a JSON object with a
// known shape.
var ErrInvalidAck = errors.New("invalid acknowledgement event")

// maxAckBytes bounds one event; real events are about 150 bytes.
const maxAckBytes = 16 << 10

// flexString accepts a JSON string or number (FragmentNumber is documented as
// a string but is a number in spirit).
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*s = flexString(n)
	return nil
}

// flexInt accepts a JSON integer or a string holding one.
type flexInt struct {
	v   int64
	set bool
}

func (n *flexInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer")
	}
	n.v, n.set = v, true
	return nil
}

type wireAck struct {
	EventType        string     `json:"EventType"`
	FragmentTimecode flexInt    `json:"FragmentTimecode"`
	FragmentNumber   flexString `json:"FragmentNumber"`
	ErrorID          flexInt    `json:"ErrorId"`
	ErrorCode        flexString `json:"ErrorCode"`
}

// ParseAck decodes one acknowledgement event. Unknown fields are ignored;
// an unknown event type is returned as is, so callers can log and skip it.
func ParseAck(b []byte) (Ack, error) {
	var w wireAck
	if err := json.Unmarshal(b, &w); err != nil {
		return Ack{}, fmt.Errorf("%w: %v", ErrInvalidAck, err)
	}
	if w.EventType == "" {
		return Ack{}, fmt.Errorf("%w: no EventType", ErrInvalidAck)
	}
	a := Ack{
		EventType:        EventType(w.EventType),
		FragmentTimecode: w.FragmentTimecode.v,
		HasTimecode:      w.FragmentTimecode.set,
		FragmentNumber:   string(w.FragmentNumber),
		ErrorID:          int(w.ErrorID.v),
		ErrorCode:        string(w.ErrorCode),
	}
	if a.EventType == EventError && !w.ErrorID.set && a.ErrorCode == "" {
		return Ack{}, fmt.Errorf("%w: ERROR event without ErrorId", ErrInvalidAck)
	}
	return a, nil
}

// AckScanner reads the acknowledgement events of a PutMedia response: JSON
// objects, usually separated by newlines, possibly split across reads or
// run together. It is not safe for concurrent use.
type AckScanner struct {
	r   *bufio.Reader
	buf bytes.Buffer
	ack Ack
	err error
}

// NewAckScanner returns a scanner over r.
func NewAckScanner(r io.Reader) *AckScanner {
	return &AckScanner{r: bufio.NewReaderSize(r, 4096)}
}

// Scan advances to the next event. It returns false at the end of the
// stream or on an error, which Err reports (nil at a clean end).
func (s *AckScanner) Scan() bool {
	if s.err != nil {
		return false
	}
	obj, err := s.next()
	if err != nil {
		s.err = err
		return false
	}
	a, err := ParseAck(obj)
	if err != nil {
		s.err = err
		return false
	}
	s.ack = a
	return true
}

// Ack returns the event Scan found.
func (s *AckScanner) Ack() Ack { return s.ack }

// Err returns the error that stopped the scanner; io.EOF is reported as nil.
func (s *AckScanner) Err() error {
	if errors.Is(s.err, io.EOF) {
		return nil
	}
	return s.err
}

// next returns the bytes of the next top-level JSON object, tracking
// strings and escapes so that braces inside them do not count.
func (s *AckScanner) next() ([]byte, error) {
	s.buf.Reset()
	// Skip whitespace up to the opening brace.
skip:
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			s.buf.WriteByte(c)
			break skip
		default:
			return nil, fmt.Errorf("%w: unexpected byte %q between events", ErrInvalidAck, c)
		}
	}
	depth, inString, escaped := 1, false, false
	for depth > 0 {
		c, err := s.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: stream ended inside an event", ErrInvalidAck)
			}
			return nil, err
		}
		if s.buf.Len() >= maxAckBytes {
			return nil, fmt.Errorf("%w: event longer than %d bytes", ErrInvalidAck, maxAckBytes)
		}
		s.buf.WriteByte(c)
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{':
			depth++
		case c == '}':
			depth--
		}
	}
	return s.buf.Bytes(), nil
}

// errorNames describes the ErrorId values of PutMedia ERROR events.
var errorNames = map[int]string{
	4000: "error reading the data stream",
	4001: "fragment larger than 50 MB",
	4002: "fragment longer than the maximum duration",
	4003: "connection longer than the maximum duration",
	4004: "fragment timecode lower than the previous one",
	4005: "more than one track in the fragment (deprecated)",
	4006: "invalid Matroska data",
	4007: "invalid producer timestamp",
	4008: "stream no longer exists (deleted)",
	4009: "fragment metadata limit reached",
	4010: "track number mismatch between the header and the blocks",
	4011: "fragment misses frames for a track",
	4012: "more tracks than allowed",
	4500: "KMS key access denied",
	4501: "KMS key disabled",
	4502: "KMS key validation error",
	4503: "KMS key unavailable",
	4504: "KMS key invalid usage",
	4505: "KMS key invalid state",
	4506: "KMS key not found",
	5000: "internal service error",
	5001: "service failed to persist the fragment",
}

// ErrorName describes a PutMedia ErrorId.
func ErrorName(id int) string {
	if s, ok := errorNames[id]; ok {
		return s
	}
	return "unknown error"
}

// errorLabel is the metrics label for an ErrorId: known ids as themselves,
// anything else as "other", so the label set stays bounded.
func errorLabel(id int) string {
	if _, ok := errorNames[id]; ok {
		return strconv.Itoa(id)
	}
	return "other"
}
