package v2

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
)

// produceRequest is the v2 produce body (reference §1.3). Schema fields are
// read only to reject schema formats clearly.
type produceRequest struct {
	Records       json.RawMessage `json:"records"`
	KeySchema     *string         `json:"key_schema"`
	KeySchemaID   *int            `json:"key_schema_id"`
	ValueSchema   *string         `json:"value_schema"`
	ValueSchemaID *int            `json:"value_schema_id"`
}

type produceRecord struct {
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Partition *int32          `json:"partition"`
	// Extensions (not in Confluent's v2): record headers and timestamp.
	Headers   json.RawMessage `json:"headers"`
	Timestamp json.RawMessage `json:"timestamp"`
}

// produceResponse is Confluent's ProduceResponse; v2 writes nulls.
type produceResponse struct {
	Offsets       []partitionOffset `json:"offsets"`
	KeySchemaID   *int              `json:"key_schema_id"`
	ValueSchemaID *int              `json:"value_schema_id"`
}

type partitionOffset struct {
	Partition *int32  `json:"partition"`
	Offset    *int64  `json:"offset"`
	ErrorCode *int    `json:"error_code"`
	Error     *string `json:"error"`
}

// decodedRecord is a validated record ready to produce.
type decodedRecord struct {
	key, value []byte
	partition  *int32
	headers    []kgo.RecordHeader
	timestamp  time.Time
}

// decodeProduce parses and validates a whole produce body. Any invalid
// record rejects the request: nothing is written.
func decodeProduce(f format, body []byte) ([]decodedRecord, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, httpapi.ErrUnprocessable.Msg("Request body is empty. Data is required.")
	}
	var req produceRequest
	if err := json.Unmarshal(body, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, httpapi.ErrUnprocessable.Msg("The request body must be a JSON object with a \"records\" array.").Wrap(err)
		}
		return nil, httpapi.JSONError(err)
	}
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return nil, httpapi.ErrUnprocessable.Msg("Request body is empty. Data is required.")
	}
	if f.needsSchemaRegistry() {
		return nil, httpapi.ErrNoSchemaRegistry.Msg("Payload error. The %s format needs a Schema Registry and none is configured on this gateway; use %s or %s.", f, mtJSON, mtBinary)
	}
	raw := bytes.TrimSpace(req.Records)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil // Confluent treats missing records as an empty list
	}
	if raw[0] != '[' {
		return nil, httpapi.ErrUnprocessable.Msg("\"records\" must be an array of records.")
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(raw, &recs); err != nil {
		return nil, httpapi.JSONError(err)
	}
	out := make([]decodedRecord, len(recs))
	for i, rr := range recs {
		if err := decodeRecord(f, i, rr, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decodeRecord(f format, i int, raw json.RawMessage, d *decodedRecord) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return httpapi.ErrUnprocessable.Msg("records[%d] must be an object with \"key\" and/or \"value\".", i)
	}
	var r produceRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return httpapi.ErrUnprocessable.Msg("records[%d].%s has the wrong type: expected %s.", i, te.Field, te.Type).Wrap(err)
		}
		return httpapi.JSONError(err)
	}
	var err error
	if d.key, err = embedded(f, r.Key, fmt.Sprintf("records[%d].key", i)); err != nil {
		return err
	}
	if d.value, err = embedded(f, r.Value, fmt.Sprintf("records[%d].value", i)); err != nil {
		return err
	}
	if r.Partition != nil && *r.Partition < 0 {
		return httpapi.ErrPartitionNotFound.Msg("records[%d].partition must not be negative.", i)
	}
	d.partition = r.Partition
	if d.headers, err = decodeHeaders(r.Headers, i); err != nil {
		return err
	}
	if d.timestamp, err = decodeTimestamp(r.Timestamp, i); err != nil {
		return err
	}
	return nil
}

// embedded converts a key or value from its embedded format to bytes:
// binary is a base64 string, json is any JSON value stored as its compact
// serialization (a JSON string keeps its quotes, as on Confluent). Absent
// or null is a Kafka null.
func embedded(f format, raw json.RawMessage, field string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch f {
	case fmtBinary:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, httpapi.ErrBadRequest.Msg("Bad Request: %s is not a base64 string.", field)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			// Be lenient about missing padding, strict about the alphabet.
			if b2, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
				return b2, nil
			}
			return nil, httpapi.ErrBadRequest.Msg("Bad Request: %s is not a valid base64 string.", field)
		}
		return b, nil
	default: // json
		var buf bytes.Buffer
		buf.Grow(len(raw))
		if err := json.Compact(&buf, raw); err != nil {
			return nil, httpapi.ErrBadRequest.Msg("Bad Request: %s is not valid JSON.", field)
		}
		return buf.Bytes(), nil
	}
}

// decodeHeaders accepts v3's shape, [{"name":"n","value":"<base64>"|null}],
// or an object of string values {"n":"text"}.
func decodeHeaders(raw json.RawMessage, i int) ([]kgo.RecordHeader, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch raw[0] {
	case '[':
		var hs []struct {
			Name  *string `json:"name"`
			Value *string `json:"value"`
		}
		if err := json.Unmarshal(raw, &hs); err != nil {
			return nil, httpapi.ErrUnprocessable.Msg("records[%d].headers must be an array of {\"name\",\"value\"} with base64 values, or an object of strings.", i)
		}
		out := make([]kgo.RecordHeader, 0, len(hs))
		for j, h := range hs {
			if h.Name == nil || *h.Name == "" {
				return nil, httpapi.ErrUnprocessable.Msg("records[%d].headers[%d].name is required.", i, j)
			}
			var v []byte
			if h.Value != nil {
				b, err := base64.StdEncoding.DecodeString(*h.Value)
				if err != nil {
					return nil, httpapi.ErrBadRequest.Msg("Bad Request: records[%d].headers[%d].value is not a valid base64 string.", i, j)
				}
				v = b
			}
			out = append(out, kgo.RecordHeader{Key: *h.Name, Value: v})
		}
		return out, nil
	case '{':
		// Keep the order the client wrote.
		dec := json.NewDecoder(bytes.NewReader(raw))
		_, _ = dec.Token()
		var out []kgo.RecordHeader
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, httpapi.JSONError(err)
			}
			var v *string
			if err := dec.Decode(&v); err != nil {
				return nil, httpapi.ErrUnprocessable.Msg("records[%d].headers values must be strings or null.", i)
			}
			h := kgo.RecordHeader{Key: kt.(string)}
			if v != nil {
				h.Value = []byte(*v)
			}
			out = append(out, h)
		}
		return out, nil
	}
	return nil, httpapi.ErrUnprocessable.Msg("records[%d].headers must be an array or an object.", i)
}

// decodeTimestamp accepts epoch milliseconds or an RFC 3339 string.
func decodeTimestamp(raw json.RawMessage, i int) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return time.Time{}, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t, nil
			}
		}
	} else if ms, err := strconv.ParseInt(string(raw), 10, 64); err == nil && ms >= 0 {
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, httpapi.ErrUnprocessable.Msg("records[%d].timestamp must be epoch milliseconds or an RFC 3339 string.", i)
}

// producer produces a v2 request's records.
type producer struct {
	kc *kafka.Client
	m  metricsSink
}

// metricsSink is the part of metrics the produce path records.
type metricsSink interface {
	produced(records, bytes int)
	consumed(records, bytes int)
}

// produce handles POST /topics/{topic} and /topics/{topic}/partitions/{p}.
func (p producer) produce(w http.ResponseWriter, r *http.Request, topic string, pathPartition *int32) error {
	w.Header().Set("Content-Type", mtV2)
	f, err := produceFormat(r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	recs, err := decodeProduce(f, body)
	if err != nil {
		return err
	}
	if !kafka.ValidTopic(topic) {
		return httpapi.ErrKafkaBadRequest.Msg("Invalid topic name %q: names are 1 to 249 characters of [a-zA-Z0-9._-].", truncate(topic, 300))
	}
	if len(recs) == 0 {
		writeProduce(w, http.StatusOK, nil)
		return nil
	}
	n, err := p.kc.EnsureTopic(r.Context(), topic)
	if err != nil {
		he := httpapi.FromKafka(err)
		if errors.Is(err, kafka.ErrUnknownTopic) {
			// At once, per record (Confluent makes clients wait for
			// max.block.ms). The HTTP status says so too, so that agents
			// that only look at the status (fluent-bit) do not drop data.
			writeProduce(w, he.Status, allFailed(len(recs), he))
			return nil
		}
		return he
	}
	part := p.kc.Partitioner(n)
	krecs := make([]*kgo.Record, len(recs))
	size := 0
	for i, d := range recs {
		pt := pathPartition
		if d.partition != nil { // the record's field wins, as on Confluent
			pt = d.partition
		}
		var partition int32
		if pt != nil {
			if *pt >= n {
				// Nothing is written: the whole request is rejected.
				he := httpapi.ErrPartitionNotFound.Msg("Partition %d not found: topic %q has %d partition(s).", *pt, topic, n)
				writeProduce(w, he.Status, allFailed(len(recs), he))
				return nil
			}
			partition = *pt
		} else {
			partition = part.For(d.key)
		}
		krecs[i] = &kgo.Record{Topic: topic, Partition: partition, Key: d.key, Value: d.value, Headers: d.headers, Timestamp: d.timestamp}
		size += len(d.key) + len(d.value)
	}
	ctx := context.WithoutCancel(r.Context()) // a client leaving must not half-cancel a request
	results := p.kc.ProduceSync(ctx, krecs)
	status := http.StatusOK
	offsets := make([]partitionOffset, len(results))
	ok := 0
	for i, res := range results {
		if res.Err == nil {
			offsets[i] = partitionOffset{Partition: ptr(res.Partition), Offset: ptr(res.Offset)}
			ok++
			continue
		}
		he := httpapi.FromKafka(res.Err)
		offsets[i] = partitionOffset{ErrorCode: ptr(he.Code), Error: ptr(he.Message)}
		switch he.Code {
		case 40101:
			status = http.StatusUnauthorized
		case 40301:
			if status != http.StatusUnauthorized {
				status = http.StatusForbidden
			}
		}
	}
	if ok > 0 && p.m != nil {
		p.m.produced(ok, size)
	}
	writeProduce(w, status, offsets)
	return nil
}

func allFailed(n int, he *httpapi.Error) []partitionOffset {
	out := make([]partitionOffset, n)
	for i := range out {
		out[i] = partitionOffset{ErrorCode: ptr(he.Code), Error: ptr(he.Message)}
	}
	return out
}

func writeProduce(w http.ResponseWriter, status int, offsets []partitionOffset) {
	if offsets == nil {
		offsets = []partitionOffset{}
	}
	httpapi.WriteJSON(w, status, mtV2, produceResponse{Offsets: offsets})
}

func ptr[T any](v T) *T { return &v }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
