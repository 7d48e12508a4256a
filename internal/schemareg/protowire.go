package schemareg

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Confluent's Protobuf wire format puts, between the schema id and the
// message, the path of message indexes to the record's message type in
// the schema: zigzag varints, a count then the indexes, with the first
// message ([0]) written as the single byte 0. kgate produces with the
// schema's first message, as Confluent's REST Proxy does.

// appendProtoJSON appends the message indexes and the Protobuf binary of
// data, the first message type in Protobuf's JSON mapping.
func (s *protoSchema) appendProtoJSON(dst, data []byte) ([]byte, error) {
	if s.file.Messages().Len() == 0 {
		return dst, errors.New("the schema has no message type")
	}
	m := dynamicpb.NewMessage(s.file.Messages().Get(0))
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, m); err != nil {
		return dst, errors.New("does not match the message type " + string(m.Descriptor().FullName()))
	}
	dst = append(dst, 0) // indexes [0]
	return proto.MarshalOptions{Deterministic: true}.MarshalAppend(dst, m)
}

// appendJSONFromProto reads the message indexes and the message of b and
// appends the message in Protobuf's JSON mapping.
func (s *protoSchema) appendJSONFromProto(dst, b []byte) ([]byte, error) {
	n, k := binary.Varint(b)
	if k <= 0 {
		return dst, errors.New("no message indexes")
	}
	b = b[k:]
	path := []int64{0}
	if n != 0 {
		if n < 0 || n > 64 {
			return dst, errors.New("message indexes out of range")
		}
		path = path[:0]
		for range n {
			i, k := binary.Varint(b)
			if k <= 0 {
				return dst, errors.New("message indexes cut short")
			}
			b = b[k:]
			path = append(path, i)
		}
	}
	var md protoreflect.MessageDescriptor
	ms := s.file.Messages()
	for _, i := range path {
		if i < 0 || i >= int64(ms.Len()) {
			return dst, fmt.Errorf("message index %d out of range", i)
		}
		md = ms.Get(int(i))
		ms = md.Messages()
	}
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(b, m); err != nil {
		return dst, errors.New("the message does not decode with " + string(md.FullName()))
	}
	out, err := protojson.Marshal(m)
	if err != nil {
		return dst, err
	}
	// protojson varies its whitespace on purpose; answers do not.
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, out); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}
