package v3

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/httpapi"
)

// produceRecord is one record of a v3 produce request (reference §4.3).
type produceRecord struct {
	PartitionID *int32          `json:"partition_id,omitempty"`
	Headers     []produceHeader `json:"headers,omitempty"`
	Key         *produceData    `json:"key,omitempty"`
	Value       *produceData    `json:"value,omitempty"`
	// Timestamp is ISO-8601 (RFC 3339); default: the gateway's now.
	Timestamp *string `json:"timestamp,omitempty"`
}

type produceHeader struct {
	Name string `json:"name"`
	// Value is base64; null is a header without a value.
	Value *string `json:"value"`
}

// produceData is a key or value. Without a Schema Registry, type is
// required and the schema fields must be absent.
type produceData struct {
	// Type is BINARY (data is base64), JSON (data is any JSON value,
	// stored as its compact serialization) or STRING (data is a JSON
	// string, stored as UTF-8).
	Type                string          `json:"type,omitempty"`
	Data                json.RawMessage `json:"data,omitempty"`
	Subject             *string         `json:"subject,omitempty"`
	SubjectNameStrategy *string         `json:"subject_name_strategy,omitempty"`
	SchemaID            *int            `json:"schema_id,omitempty"`
	SchemaVersion       *int            `json:"schema_version,omitempty"`
	Schema              *string         `json:"schema,omitempty"`
}

// dataInfo is the key or value part of a receipt.
type dataInfo struct {
	Type string `json:"type"`
	Size int    `json:"size"`
}

// ptr is the receipt field: nil when the record had no typed key/value.
func (d dataInfo) ptr() *dataInfo {
	if d.Type == "" {
		return nil
	}
	return &d
}

// decodedRecord is a validated record ready to produce.
type decodedRecord struct {
	partition  *int32
	key, value []byte
	keyInfo    dataInfo // Type "" when the record had no key
	valueInfo  dataInfo
	headers    []kgo.RecordHeader
	timestamp  time.Time
}

// errMalformed marks a record whose JSON is broken: the stream cannot go
// on after it.
type errMalformed struct{ he *httpapi.Error }

func (e errMalformed) Error() string { return e.he.Error() }
func (e errMalformed) Unwrap() error { return e.he }

// decode parses and validates one record: the fast path for the usual
// shapes, decodeRecord for the rest and for every error.
func decode(raw []byte) (decodedRecord, error) {
	if d, ok := decodeFast(raw); ok {
		return d, nil
	}
	return decodeRecord(raw)
}

// decodeRecord parses and validates one record. A syntax error is
// errMalformed; anything else wrong is a catalog error for this record
// only.
func decodeRecord(raw []byte) (decodedRecord, error) {
	var d decodedRecord
	var pr produceRecord
	if err := json.Unmarshal(raw, &pr); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "record"
			}
			return d, httpapi.ErrBadRequest.Msg("Bad Request: %s has the wrong type: expected %s, got JSON %s.", field, jsonKind(te.Type.String()), te.Value).Wrap(err)
		}
		return d, errMalformed{httpapi.JSONError(err)}
	}
	if pr.PartitionID != nil && *pr.PartitionID < 0 {
		return d, httpapi.ErrPartitionNotFound.Msg("Partition %d not found: partition_id must not be negative.", *pr.PartitionID)
	}
	d.partition = pr.PartitionID
	var err error
	if d.key, d.keyInfo, err = decodeData(pr.Key, "key"); err != nil {
		return d, err
	}
	if d.value, d.valueInfo, err = decodeData(pr.Value, "value"); err != nil {
		return d, err
	}
	for i, h := range pr.Headers {
		if h.Name == "" {
			return d, httpapi.ErrBadRequest.Msg("Bad Request: headers[%d].name is required.", i)
		}
		hd := kgo.RecordHeader{Key: h.Name}
		if h.Value != nil {
			b, err := decodeBase64(*h.Value)
			if err != nil {
				return d, httpapi.ErrBadRequest.Msg("Bad Request: headers[%d].value is not a valid base64 string.", i)
			}
			hd.Value = b
		}
		d.headers = append(d.headers, hd)
	}
	if pr.Timestamp != nil {
		t, err := time.Parse(time.RFC3339Nano, *pr.Timestamp)
		if err != nil {
			return d, httpapi.ErrBadRequest.Msg("Bad Request: timestamp must be an ISO-8601 date-time such as 2024-01-02T03:04:05.678Z, got %q.", truncate(*pr.Timestamp, 64))
		}
		d.timestamp = t
	}
	return d, nil
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "*v3."), strings.HasPrefix(goType, "v3."), strings.HasPrefix(goType, "map["):
		return "an object"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "*int"):
		return "an integer"
	case goType == "string", goType == "*string":
		return "a string"
	}
	return goType
}

// decodeData converts a key or value to bytes. Absent or null data is a
// Kafka null.
func decodeData(pd *produceData, field string) ([]byte, dataInfo, error) {
	if pd == nil {
		return nil, dataInfo{}, nil
	}
	typ := strings.ToUpper(pd.Type)
	schema := pd.Subject != nil || pd.SubjectNameStrategy != nil || pd.SchemaID != nil || pd.SchemaVersion != nil || pd.Schema != nil
	switch typ {
	case "":
		// Confluent looks the schema up in its registry; there is none.
		return nil, dataInfo{}, httpapi.ErrNoSchemaRegistry.Msg("Payload error. Schema Registry must be configured when using schemas: %s.type is required (BINARY, JSON or STRING).", field)
	case "AVRO", "JSONSCHEMA", "PROTOBUF":
		return nil, dataInfo{}, httpapi.ErrNoSchemaRegistry.Msg("Payload error. Schema Registry must be configured when using schemas: %s.type %s needs one; use BINARY, JSON or STRING.", field, typ)
	case "BINARY", "JSON", "STRING":
	default:
		return nil, dataInfo{}, httpapi.ErrBadRequest.Msg("Bad Request: %s.type must be BINARY, JSON or STRING, got %q.", field, truncate(pd.Type, 32))
	}
	if schema {
		return nil, dataInfo{}, httpapi.ErrBadRequest.Msg("Bad Request: %s of type %s cannot have subject, subject_name_strategy, schema_id, schema_version or schema.", field, typ)
	}
	info := dataInfo{Type: typ}
	raw := bytes.TrimSpace(pd.Data)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, info, nil
	}
	var b []byte
	switch typ {
	case "BINARY":
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return nil, dataInfo{}, httpapi.ErrBadRequest.Msg("Bad Request: %s.data=%s is not a base64 string.", field, truncate(string(raw), 64))
		}
		var err error
		if b, err = decodeBase64(s); err != nil {
			return nil, dataInfo{}, httpapi.ErrBadRequest.Msg("Bad Request: %s.data=%s is not a valid base64 string.", field, truncate(s, 64))
		}
	case "STRING":
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return nil, dataInfo{}, httpapi.ErrBadRequest.Msg("Bad Request: %s.data must be a JSON string for type STRING.", field)
		}
		b = []byte(s)
	case "JSON":
		var buf bytes.Buffer
		buf.Grow(len(raw))
		if err := json.Compact(&buf, raw); err != nil {
			return nil, dataInfo{}, httpapi.ErrBadRequest.Msg("Bad Request: %s.data is not valid JSON.", field)
		}
		b = buf.Bytes()
	}
	info.Size = len(b)
	return b, info, nil
}

// decodeBase64 is strict about the alphabet and lenient about padding.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		return b, nil
	}
	if b2, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
		return b2, nil
	}
	return nil, err
}

// appendInstant writes t as Java's Instant.toString does for millisecond
// times: UTC, "Z", and a fraction only when it is not zero.
func appendInstant(b []byte, t time.Time) []byte {
	t = t.UTC()
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if ms := t.Nanosecond() / int(time.Millisecond); ms != 0 {
		b = append(b, '.')
		if ms < 100 {
			b = append(b, '0')
		}
		if ms < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, int64(ms), 10)
	}
	return append(b, 'Z')
}

// receiptWriter renders receipts for one topic; success receipts are
// built by hand (they are the hot path), errors with encoding/json. It is
// safe for concurrent use.
type receiptWriter struct {
	prefix []byte // {"error_code":200,"cluster_id":"..","topic_name":"..","partition_id":
	// seconds caches the last formatted second ("2006-01-02T15:04:05"):
	// receipts close in time share it.
	seconds atomic.Pointer[formattedSecond]
}

type formattedSecond struct {
	unix int64
	text []byte
}

// appendTimestamp is appendInstant with the second's text cached.
func (rw *receiptWriter) appendTimestamp(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	fs := rw.seconds.Load()
	if fs == nil || fs.unix != sec {
		fs = &formattedSecond{unix: sec, text: time.Unix(sec, 0).UTC().AppendFormat(nil, "2006-01-02T15:04:05")}
		rw.seconds.Store(fs)
	}
	b = append(b, fs.text...)
	if frac != 0 {
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	}
	return append(b, 'Z')
}

func newReceiptWriter(clusterID, topic string) *receiptWriter {
	cid, _ := json.Marshal(clusterID)
	tn, _ := json.Marshal(topic)
	p := []byte(`{"error_code":200,"cluster_id":`)
	p = append(p, cid...)
	p = append(p, `,"topic_name":`...)
	p = append(p, tn...)
	p = append(p, `,"partition_id":`...)
	return &receiptWriter{prefix: p}
}

func (rw *receiptWriter) success(b []byte, partition int32, offset int64, ts time.Time, key, value dataInfo) []byte {
	b = append(b, rw.prefix...)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, offset, 10)
	b = append(b, `,"timestamp":"`...)
	b = rw.appendTimestamp(b, ts)
	b = append(b, '"')
	if key.Type != "" {
		b = append(b, `,"key":{"type":"`...)
		b = append(b, key.Type...)
		b = append(b, `","size":`...)
		b = strconv.AppendInt(b, int64(key.Size), 10)
		b = append(b, '}')
	}
	if value.Type != "" {
		b = append(b, `,"value":{"type":"`...)
		b = append(b, value.Type...)
		b = append(b, `","size":`...)
		b = strconv.AppendInt(b, int64(value.Size), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// streamError is the error object of a stream: {"error_code","message"}.
// A 422 with a specific code reads as Confluent writes it inside a stream:
// error_code 422 and "Error: 42206 : <message>".
func streamError(b []byte, he *httpapi.Error) []byte {
	code, msg := he.Code, he.Message
	if he.Status == 422 && he.Code != 422 {
		code, msg = 422, "Error: "+strconv.Itoa(he.Code)+" : "+he.Message
	}
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	m, _ := json.Marshal(struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}{code, msg})
	return append(b, m...)
}
