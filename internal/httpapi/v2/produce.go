package v2

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
)

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

var jsonNull = []byte("null")

var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewReader(nil)) }}

// decodeProduce parses and validates a whole produce body (reference §1.3)
// in one streaming pass: every record field is converted straight from the
// body, without reflection or copies of the raw JSON. The body must be
// syntactically valid as a whole (400 otherwise); any invalid record
// rejects the request, so nothing is written. Unknown fields (the schema
// fields of other formats among them) are ignored, as on Confluent.
func decodeProduce(f format, body []byte) ([]decodedRecord, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || bytes.Equal(body, jsonNull) {
		return nil, httpapi.ErrUnprocessable.Msg("Request body is empty. Data is required.")
	}
	if f.needsSchemaRegistry() {
		return nil, httpapi.ErrNoSchemaRegistry.Msg("Payload error. The %s format needs a Schema Registry and none is configured on this gateway; use %s or %s.", f, mtJSON, mtBinary)
	}
	dec := decoders.Get().(*jsontext.Decoder)
	dec.Reset(bytes.NewReader(body), jsontext.AllowDuplicateNames(true))
	defer func() {
		dec.Reset(bytes.NewReader(nil))
		decoders.Put(dec)
	}()
	p := produceParser{dec: dec, f: f, arena: make([]byte, 0, len(body))}
	recs, perr := p.parse()
	if perr != nil {
		return nil, perr
	}
	if p.invalid != nil {
		return nil, p.invalid
	}
	return recs, nil
}

// produceParser walks a produce body. The first semantic problem is kept
// in invalid while parsing goes on, so that a syntax error anywhere still
// wins with a 400.
type produceParser struct {
	dec     *jsontext.Decoder
	f       format
	invalid error
	arena   []byte
}

func (p *produceParser) fail(err error) {
	if p.invalid == nil {
		p.invalid = err
	}
}

func syntaxError(err error) error {
	return httpapi.ErrBadRequest.Msg("Unexpected JSON input: %s.", strings.TrimPrefix(err.Error(), "jsontext: ")).Wrap(err)
}

func (p *produceParser) parse() ([]decodedRecord, error) {
	dec := p.dec
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return nil, syntaxError(err)
		}
		return nil, httpapi.ErrUnprocessable.Msg("The request body must be a JSON object with a \"records\" array.")
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, syntaxError(err)
	}
	var out []decodedRecord
	for dec.PeekKind() != '}' {
		name, err := p.name()
		if err != nil {
			return nil, syntaxError(err)
		}
		if name != "records" {
			if err := dec.SkipValue(); err != nil {
				return nil, syntaxError(err)
			}
			continue
		}
		switch dec.PeekKind() {
		case 'n': // null: an empty list, as on Confluent
			if _, err := dec.ReadToken(); err != nil {
				return nil, syntaxError(err)
			}
			continue
		case '[':
		default:
			if err := dec.SkipValue(); err != nil {
				return nil, syntaxError(err)
			}
			p.fail(httpapi.ErrUnprocessable.Msg("\"records\" must be an array of records."))
			continue
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, syntaxError(err)
		}
		out = out[:0]
		for i := 0; dec.PeekKind() != ']'; i++ {
			if dec.PeekKind() != '{' {
				if err := dec.SkipValue(); err != nil {
					return nil, syntaxError(err)
				}
				p.fail(httpapi.ErrUnprocessable.Msg("records[%d] must be an object with \"key\" and/or \"value\".", i))
				continue
			}
			var d decodedRecord
			if err := p.record(i, &d); err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, syntaxError(err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, syntaxError(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the top-level value")
		}
		return nil, syntaxError(err)
	}
	return out, nil
}

// knownNames are the object names the parser looks for; returning these
// constants avoids allocating a string per name.
var knownNames = []string{"records", "key", "value", "partition", "headers", "timestamp"}

// name reads an object member name. Known names come back without an
// allocation; others (and escaped spellings) are unquoted.
func (p *produceParser) name() (string, error) {
	raw, err := p.dec.ReadValue()
	if err != nil {
		return "", err
	}
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
		inner := raw[1 : len(raw)-1]
		for _, k := range knownNames {
			if string(inner) == k {
				return k, nil
			}
		}
		return "", nil // unknown: ignored by the caller
	}
	u, err := jsontext.AppendUnquote(nil, raw)
	return string(u), err
}

// alloc returns n bytes carved from the request's arena: all keys and
// values of a request share a few large allocations instead of one each.
// Each piece is capped so that later pieces never overwrite it.
func (p *produceParser) alloc(n int) []byte {
	if cap(p.arena)-len(p.arena) < n {
		p.arena = make([]byte, 0, max(n, 64<<10))
	}
	start := len(p.arena)
	p.arena = p.arena[:start+n]
	return p.arena[start : start+n : start+n]
}

// record converts one record object; syntax errors are returned, semantic
// ones recorded with fail.
func (p *produceParser) record(i int, d *decodedRecord) error {
	dec := p.dec
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err)
	}
	for dec.PeekKind() != '}' {
		field, err := p.name()
		if err != nil {
			return syntaxError(err)
		}
		v, err := dec.ReadValue() // valid until the next read
		if err != nil {
			return syntaxError(err)
		}
		var ferr error
		switch field {
		case "key":
			d.key, ferr = p.embedded(v, i, "key")
		case "value":
			d.value, ferr = p.embedded(v, i, "value")
		case "partition":
			d.partition, ferr = decodePartition(v, i)
		case "headers":
			d.headers, ferr = decodeHeaders(json.RawMessage(v), i)
		case "timestamp":
			d.timestamp, ferr = decodeTimestamp(json.RawMessage(v), i)
		}
		if ferr != nil {
			p.fail(ferr)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err)
	}
	return nil
}

func decodePartition(v jsontext.Value, i int) (*int32, error) {
	if v.Kind() == 'n' {
		return nil, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 32)
	if v.Kind() != '0' || err != nil {
		return nil, httpapi.ErrUnprocessable.Msg("records[%d].partition must be an integer.", i)
	}
	if n < 0 {
		return nil, httpapi.ErrPartitionNotFound.Msg("records[%d].partition must not be negative.", i)
	}
	pt := int32(n)
	return &pt, nil
}

// embedded converts a key or value from its embedded format to fresh
// bytes: binary is a base64 string, json is any JSON value stored as its
// compact serialization (a JSON string keeps its quotes, as on Confluent).
// Absent or null is a Kafka null. v is syntactically valid.
func (p *produceParser) embedded(v jsontext.Value, i int, field string) ([]byte, error) {
	if len(v) == 0 || v.Kind() == 'n' {
		return nil, nil
	}
	if p.f == fmtBinary {
		if v.Kind() != '"' {
			return nil, httpapi.ErrBadRequest.Msg("Bad Request: records[%d].%s is not a base64 string.", i, field)
		}
		s := v[1 : len(v)-1]
		if bytes.IndexByte(s, '\\') >= 0 { // escaped: unquote first
			u, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				return nil, httpapi.ErrBadRequest.Msg("Bad Request: records[%d].%s is not a base64 string.", i, field)
			}
			s = u
		}
		out := p.alloc(base64.RawStdEncoding.DecodedLen(len(s)) + 3) // room for unpadded input
		n, err := base64.StdEncoding.Decode(out, s)
		if err != nil {
			// Be lenient about missing padding, strict about the alphabet.
			if n, err = base64.RawStdEncoding.Decode(out, s); err != nil {
				return nil, httpapi.ErrBadRequest.Msg("Bad Request: records[%d].%s is not a valid base64 string.", i, field)
			}
		}
		return out[:n:n], nil
	}
	out := jsontext.Value(p.alloc(len(v)))
	copy(out, v)
	if bytes.ContainsAny(out, " \t\r\n") {
		if err := out.Compact(); err != nil {
			return nil, httpapi.ErrBadRequest.Msg("Bad Request: records[%d].%s is not valid JSON.", i, field)
		}
	}
	return out, nil
}

// decodeHeaders accepts v3's shape, [{"name":"n","value":"<base64>"|null}],
// or an object of string values {"n":"text"}.
func decodeHeaders(raw json.RawMessage, i int) ([]kgo.RecordHeader, error) {
	if len(raw) == 0 || bytes.Equal(raw, jsonNull) {
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
	if len(raw) == 0 || bytes.Equal(raw, jsonNull) {
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
	body, release, err := httpapi.ReadBodyPooled(r)
	if err != nil {
		return err
	}
	// Decoded records own their bytes: the body goes back to the pool.
	recs, err := decodeProduce(f, body)
	release()
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
	target, err := p.kc.Target(r.Context(), topic)
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
	krecs := make([]*kgo.Record, len(recs))
	backing := make([]kgo.Record, len(recs)) // one allocation for all records
	size := 0
	for i, d := range recs {
		pt := pathPartition
		if d.partition != nil { // the record's field wins, as on Confluent
			pt = d.partition
		}
		if err := target.Fill(&backing[i], pt, d.key, d.value, d.headers, d.timestamp); err != nil {
			// Nothing is written: the whole request is rejected.
			he := httpapi.ErrPartitionNotFound.Msg("Partition %d not found: topic %q has %d partition(s).", *pt, topic, target.Partitions)
			writeProduce(w, he.Status, allFailed(len(recs), he))
			return nil
		}
		krecs[i] = &backing[i]
		size += len(d.key) + len(d.value)
	}
	ctx := context.WithoutCancel(r.Context()) // a client leaving must not half-cancel a request
	results := p.kc.ProduceSync(ctx, krecs)
	status := http.StatusOK
	offsets := make([]partitionOffset, len(results))
	parts := make([]int32, len(results))
	offs := make([]int64, len(results))
	ok := 0
	for i, res := range results {
		if res.Err == nil {
			parts[i], offs[i] = res.Partition, res.Offset
			offsets[i] = partitionOffset{Partition: &parts[i], Offset: &offs[i]}
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

// forbidden answers a produce the caller may not make the way Confluent's
// proxy does when Kafka refuses it: HTTP 403 with the ProduceResponse
// carrying 40301 for every record. A body that cannot be read as a produce
// request (or is larger than 1 MiB: the refusal must stay cheap) gets the
// plain 403.
func (p producer) forbidden(w http.ResponseWriter, r *http.Request, he *httpapi.Error) error {
	w.Header().Set("Content-Type", mtV2)
	f, err := produceFormat(r.Header.Get("Content-Type"))
	if err != nil || r.Body == nil {
		return he
	}
	const limit = 1 << 20
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil || len(body) > limit {
		return he
	}
	recs, err := decodeProduce(f, body)
	if err != nil {
		return he
	}
	writeProduce(w, he.Status, allFailed(len(recs), he))
	return nil
}

func allFailed(n int, he *httpapi.Error) []partitionOffset {
	out := make([]partitionOffset, n)
	for i := range out {
		out[i] = partitionOffset{ErrorCode: ptr(he.Code), Error: ptr(he.Message)}
	}
	return out
}

// writeProduce writes a ProduceResponse. It is hand-encoded (the hot path
// of every produce); TestWriteProduceMatchesJSON pins it to encoding/json.
func writeProduce(w http.ResponseWriter, status int, offsets []partitionOffset) {
	b := make([]byte, 0, 64+len(offsets)*64)
	b = appendProduceResponse(b, offsets)
	h := w.Header()
	h.Set("Content-Type", mtV2)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func appendProduceResponse(b []byte, offsets []partitionOffset) []byte {
	b = append(b, `{"offsets":[`...)
	for i, o := range offsets {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"partition":`...)
		if o.Partition != nil {
			b = strconv.AppendInt(b, int64(*o.Partition), 10)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"offset":`...)
		if o.Offset != nil {
			b = strconv.AppendInt(b, *o.Offset, 10)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"error_code":`...)
		if o.ErrorCode != nil {
			b = strconv.AppendInt(b, int64(*o.ErrorCode), 10)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"error":`...)
		if o.Error != nil {
			q, _ := json.Marshal(*o.Error) // rare: errors only
			b = append(b, q...)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, '}')
	}
	return append(b, `],"key_schema_id":null,"value_schema_id":null}`...)
}

func ptr[T any](v T) *T { return &v }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
