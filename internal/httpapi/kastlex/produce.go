package kastlex

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
)

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// parseHeaders reads x-message-headers: a JSON object of header names to
// values. Strings are taken as they are, null is a header without a
// value, and other JSON values as their JSON text (KastleX turns them to
// text too). Order is kept.
func parseHeaders(vals []string) ([]kgo.RecordHeader, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	if len(vals) > 1 {
		return nil, httpapi.ErrBadRequest.Msg("Bad Request: send one x-message-headers header with a JSON object.")
	}
	raw := bytes.TrimSpace([]byte(vals[0]))
	if len(raw) == 0 || raw[0] != '{' {
		return nil, httpapi.ErrBadRequest.Msg("Bad Request: x-message-headers must be a JSON object of header names to values.")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, httpapi.ErrBadRequest.Msg("Bad Request: x-message-headers is not valid JSON.")
	}
	var out []kgo.RecordHeader
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, httpapi.ErrBadRequest.Msg("Bad Request: x-message-headers is not valid JSON.")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, httpapi.ErrBadRequest.Msg("Bad Request: x-message-headers is not valid JSON.")
		}
		h := kgo.RecordHeader{Key: kt.(string)}
		switch {
		case bytes.Equal(v, []byte("null")):
		case len(v) > 0 && v[0] == '"':
			var s string
			_ = json.Unmarshal(v, &s)
			h.Value = []byte(s)
		default:
			var buf bytes.Buffer
			_ = json.Compact(&buf, v)
			h.Value = buf.Bytes()
		}
		out = append(out, h)
	}
	if _, err := dec.Token(); err != nil {
		return nil, httpapi.ErrBadRequest.Msg("Bad Request: x-message-headers is not valid JSON.")
	}
	if dec.More() {
		return nil, httpapi.ErrBadRequest.Msg("Bad Request: x-message-headers has data after the object.")
	}
	return out, nil
}

// produce serves POST /api/v{1,2}/messages/{topic}[/{partition}]: the
// body is the value (any Content-Type; KastleX documents
// application/binary), ?key= the key, x-message-headers the headers.
// It answers 204 with x-kafka-partition and x-message-offset.
func (a *api) produce(withPartition bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		topic, err := topicParam(r)
		if err != nil {
			return err
		}
		var partition *int32
		if withPartition {
			p, err := partitionParam(r)
			if err != nil {
				return err
			}
			partition = &p
		}
		headers, err := parseHeaders(r.Header.Values("X-Message-Headers"))
		if err != nil {
			return err
		}
		var key []byte
		if q := r.URL.Query(); q.Has("key") {
			key = []byte(q.Get("key"))
		}
		value, err := httpapi.ReadBody(r)
		if err != nil {
			return err
		}
		if value == nil {
			value = []byte{}
		}
		target, err := a.kc.Target(r.Context(), topic)
		if err != nil {
			return kafkaError(err, topic)
		}
		rec, err := target.Record(partition, key, value, headers, time.Time{})
		if errors.Is(err, kafka.ErrUnknownPartition) {
			return httpapi.ErrPartitionNotFound.Msg("Partition %d not found: topic %s has %d partition(s).", *partition, topic, target.Partitions)
		} else if err != nil {
			return err
		}
		res := a.kc.ProduceSync(context.WithoutCancel(r.Context()), []*kgo.Record{rec})[0]
		if res.Err != nil {
			return kafkaError(res.Err, topic)
		}
		if a.m != nil {
			a.m.RecordsProduced.WithLabelValues("kastlex").Inc()
			a.m.BytesProduced.WithLabelValues("kastlex").Add(float64(len(key) + len(value)))
		}
		h := w.Header()
		h.Set("X-Kafka-Partition", strconv.Itoa(int(res.Partition)))
		h.Set("X-Message-Offset", strconv.FormatInt(res.Offset, 10))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
