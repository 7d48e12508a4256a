package v3

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/record"
)

// dataInfo is the key or value part of a receipt: for a schema format
// also the subject, schema id and version, as Confluent's.
type dataInfo struct {
	Type          string `json:"type"`
	Subject       string `json:"subject,omitempty"`
	SchemaID      int    `json:"schema_id,omitempty"`
	SchemaVersion int    `json:"schema_version,omitempty"`
	Size          int    `json:"size"`
}

// ptr is the receipt field: nil when the record had no typed key/value.
func (d dataInfo) ptr() *dataInfo {
	if d.Type == "" {
		return nil
	}
	return &d
}

// infoOf is the receipt part of a key or value in format f ("" when the
// record had none).
func infoOf(f record.Name, b []byte) dataInfo {
	return dataInfo{Type: string(f), Size: len(b)}
}

// recordError maps a codec error onto v3's wire: Confluent's v3 answers
// 400 "Bad Request: ..." for data it cannot use, 40402 for a negative
// partition, 42206 without a Schema Registry, 500/50001 when the Schema
// Registry could not answer, and 413 for a record over the cap (the
// stream ends there).
func recordError(e *record.Error) *httpapi.Error {
	switch e.Kind {
	case record.KindPartition:
		return httpapi.ErrPartitionNotFound.Msg("Partition not found: %s", e.Message()).Wrap(e)
	case record.KindNeedsRegistry:
		return httpapi.ErrNoSchemaRegistry.Msg("Payload error. Schema Registry must be configured when using schemas. %s", e.Message()).Wrap(e)
	case record.KindUnavailable:
		return httpapi.ErrSchemaStore.Msg("%s Retry later.", e.Message()).Wrap(e)
	case record.KindTooLarge:
		return httpapi.ErrTooLarge.Msg("%s; the stream ends here.", strings.TrimSuffix(e.Message(), ".")).Wrap(e)
	case record.KindSyntax, record.KindTruncated:
		return httpapi.ErrBadRequest.Msg("%s", e.Message()).Wrap(e)
	}
	return httpapi.ErrBadRequest.Msg("Bad Request: %s", e.Message()).Wrap(e)
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
		b = key.appendJSON(append(b, `,"key":`...))
	}
	if value.Type != "" {
		b = value.appendJSON(append(b, `,"value":`...))
	}
	return append(b, '}')
}

// appendJSON writes d as encoding/json would.
func (d dataInfo) appendJSON(b []byte) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, d.Type...)
	b = append(b, '"')
	if d.Subject != "" {
		sub, _ := json.Marshal(d.Subject)
		b = append(append(b, `,"subject":`...), sub...)
	}
	if d.SchemaID != 0 {
		b = strconv.AppendInt(append(b, `,"schema_id":`...), int64(d.SchemaID), 10)
	}
	if d.SchemaVersion != 0 {
		b = strconv.AppendInt(append(b, `,"schema_version":`...), int64(d.SchemaVersion), 10)
	}
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(d.Size), 10)
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
