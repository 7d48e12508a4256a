package push

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"strconv"
	"strings"
)

// Position is where a stream stands in a topic: for each partition (the
// index), the offset of the next record to read. It travels to clients as
// a vector (Encode), the SSE event id and the WebSocket message id, and
// comes back as Last-Event-ID to resume.
type Position []int64

// Vector layout, before base64url (no padding):
//
//	version  1 byte (1)
//	topic    4 bytes, FNV-1a of the topic name: a vector of another topic is refused
//	n        uvarint, the partitions that follow (at most maxPartitions)
//	offsets  n uvarints, the next offset of partitions 0..n-1
//	check    4 bytes, CRC-32C of everything before: garbling is caught
//
// The vector is not secret and not signed: a client may already ask for
// any offset (the offsets parameter), so a forged vector gains nothing.
// It is checked so that a garbled or foreign one is refused with a clear
// error instead of silently reading from the wrong place.
const (
	vectorVersion = 1
	maxPartitions = 1 << 16
	// maxVectorLen bounds what Decode accepts before decoding (base64 of
	// the largest vector: header, maxPartitions 10-byte uvarints, check).
	maxVectorLen = (1+4+3+maxPartitions*10+4)*4/3 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrPosition is the class of every error about a client's position
// (a garbled vector, an offset past the end): the client's mistake.
var ErrPosition = errors.New("invalid stream position")

// PositionError says what is wrong with a position the client sent.
type PositionError struct {
	Problem string
}

func (e *PositionError) Error() string { return "invalid stream position: " + e.Problem }

// Unwrap makes errors.Is(err, ErrPosition) hold.
func (e *PositionError) Unwrap() error { return ErrPosition }

func positionErr(format string, args ...any) error {
	return &PositionError{Problem: fmt.Sprintf(format, args...)}
}

func topicHash(topic string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(topic))
	return h.Sum32()
}

// Encode returns p as a vector for topic.
func (p Position) Encode(topic string) string {
	return string(p.AppendEncode(nil, topic))
}

// AppendEncode appends p's vector for topic to dst (the hot path: one
// vector per record sent).
func (p Position) AppendEncode(dst []byte, topic string) []byte {
	var stack [64]byte
	raw := stack[:0]
	raw = append(raw, vectorVersion)
	raw = binary.BigEndian.AppendUint32(raw, topicHash(topic))
	raw = binary.AppendUvarint(raw, uint64(len(p)))
	for _, o := range p {
		raw = binary.AppendUvarint(raw, uint64(max(o, 0)))
	}
	raw = binary.BigEndian.AppendUint32(raw, crc32.Checksum(raw, castagnoli))
	return base64.RawURLEncoding.AppendEncode(dst, raw)
}

// DecodePosition parses a vector a client sent back for topic. Every
// error is a *PositionError.
func DecodePosition(vector, topic string) (Position, error) {
	if vector == "" {
		return nil, positionErr("empty position vector")
	}
	if len(vector) > maxVectorLen {
		return nil, positionErr("position vector too long (%d characters)", len(vector))
	}
	raw, err := base64.RawURLEncoding.DecodeString(vector)
	if err != nil {
		return nil, positionErr("the position vector is not base64url (a stream's event id, unchanged)")
	}
	if len(raw) < 1+4+1+4 {
		return nil, positionErr("the position vector is too short (truncated?)")
	}
	if raw[0] != vectorVersion {
		return nil, positionErr("unknown position vector version %d", raw[0])
	}
	body, check := raw[:len(raw)-4], binary.BigEndian.Uint32(raw[len(raw)-4:])
	if crc32.Checksum(body, castagnoli) != check {
		return nil, positionErr("the position vector's checksum does not match (garbled or edited)")
	}
	if binary.BigEndian.Uint32(body[1:5]) != topicHash(topic) {
		return nil, positionErr("the position vector is of another topic")
	}
	rest := body[5:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > maxPartitions {
		return nil, positionErr("bad partition count in the position vector")
	}
	rest = rest[k:]
	p := make(Position, 0, min(n, uint64(len(rest))))
	for i := uint64(0); i < n; i++ {
		o, k := binary.Uvarint(rest)
		if k <= 0 || o > 1<<62 {
			return nil, positionErr("bad offset of partition %d in the position vector", i)
		}
		p = append(p, int64(o))
		rest = rest[k:]
	}
	if len(rest) != 0 {
		return nil, positionErr("trailing bytes in the position vector")
	}
	return p, nil
}

// String is p for logs: "0:12,1:40".
func (p Position) String() string {
	var b strings.Builder
	for i, o := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(o, 10))
	}
	return b.String()
}
