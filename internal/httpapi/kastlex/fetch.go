package kastlex

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/guard"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
)

// fetchOffers: JSON unless the client asks for the raw value.
var fetchOffers = []httpapi.Offer{{Type: mtJSON, QS: 1}, {Type: mtBinary, QS: 0.99}}

// message is one fetched message in KastleX's shape. Bytes that are not
// UTF-8 are base64 with *_encoding set (an extension: KastleX cannot show
// them at all).
type message struct {
	Value           *string            `json:"value"`
	ValueEncoding   string             `json:"value_encoding,omitempty"`
	TsType          string             `json:"ts_type"`
	Ts              int64              `json:"ts"`
	Offset          int64              `json:"offset"`
	Key             *string            `json:"key"`
	KeyEncoding     string             `json:"key_encoding,omitempty"`
	Headers         map[string]*string `json:"headers"`
	HeadersEncoding string             `json:"headers_encoding,omitempty"`
}

// v1Fetch is KastleX v1's JSON envelope.
type v1Fetch struct {
	Size         *int      `json:"size"`
	Messages     []message `json:"messages"`
	HighWmOffset int64     `json:"highWmOffset"`
	ErrorCode    string    `json:"error_code"`
}

func tsType(r *kgo.Record) string {
	if r.Attrs.TimestampType() == 1 {
		return "append"
	}
	return "create"
}

func toMessage(r *kgo.Record) message {
	m := message{TsType: tsType(r), Ts: r.Timestamp.UnixMilli(), Offset: r.Offset, Headers: map[string]*string{}}
	if r.Value != nil {
		s, ok := text(r.Value)
		m.Value = &s
		if !ok {
			m.ValueEncoding = "base64"
		}
	}
	if r.Key != nil {
		s, ok := text(r.Key)
		m.Key = &s
		if !ok {
			m.KeyEncoding = "base64"
		}
	}
	allText := true
	for _, h := range r.Headers {
		if h.Value != nil {
			if _, ok := text(h.Value); !ok {
				allText = false
			}
		}
	}
	for _, h := range r.Headers {
		if h.Value == nil {
			m.Headers[h.Key] = nil
			continue
		}
		var s string
		if allText {
			s = string(h.Value)
		} else {
			s = record.Base64(h.Value)
		}
		m.Headers[h.Key] = &s
	}
	if !allText {
		m.HeadersEncoding = "base64"
	}
	return m
}

// fetchParams are a fetch request's query options.
type fetchParams struct {
	maxWait  time.Duration
	minBytes int32
	maxBytes int32
}

func intParam(r *http.Request, name string, def, min, max int64) (int64, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return def, nil
	}
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil || n < min {
		return 0, httpapi.ErrBadRequest.Msg("Bad Request: %s must be an integer of at least %d.", name, min)
	}
	return minInt(n, max), nil
}

func minInt(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func (a *api) fetchParams(r *http.Request) (fetchParams, error) {
	var p fetchParams
	wait, err := intParam(r, "max_wait_time", 1000, 0, 30000)
	if err != nil {
		return p, err
	}
	minB, err := intParam(r, "min_bytes", 1, 0, 1<<30)
	if err != nil {
		return p, err
	}
	maxB, err := intParam(r, "max_bytes", 104857600, 1, a.maxFetch)
	if err != nil {
		return p, err
	}
	return fetchParams{maxWait: time.Duration(wait) * time.Millisecond, minBytes: int32(minB), maxBytes: int32(minInt(maxB, 1<<31-1))}, nil
}

// fetch serves GET /api/v{1,2}/messages/{topic}/{partition}[/{offset}].
func (a *api) fetch(v2 bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ct := httpapi.Negotiate(r.Header.Get("Accept"), fetchOffers)
		if ct == "" {
			return httpapi.ErrNotAcceptable.Msg("HTTP 406 Not Acceptable: fetch answers %s or %s.", mtJSON, mtBinary)
		}
		topic, err := topicParam(r)
		if err != nil {
			return err
		}
		partition, err := partitionParam(r)
		if err != nil {
			return err
		}
		spec, err := parseOffset(r.PathValue("offset"))
		if err != nil {
			return httpapi.ErrBadRequest.Msg("Bad Request: %s, got %q.", err.Error(), truncate(r.PathValue("offset"), 32))
		}
		fp, err := a.fetchParams(r)
		if err != nil {
			return err
		}
		offset := spec.n
		if spec.kind != offsetExact {
			earliest, err := a.kc.ListOffset(r.Context(), topic, partition, kafka.OffsetEarliest)
			if err != nil {
				return kafkaError(err, topic)
			}
			latest, err := a.kc.ListOffset(r.Context(), topic, partition, kafka.OffsetLatest)
			if err != nil {
				return kafkaError(err, topic)
			}
			offset = spec.resolve(earliest, latest)
		}
		f, err := a.kc.FetchPartition(r.Context(), topic, partition, offset, kafka.FetchOptions{
			MaxWait: fp.maxWait, MinBytes: fp.minBytes, MaxBytes: fp.maxBytes,
		})
		if err != nil {
			return kafkaError(err, topic)
		}
		n := 0
		for _, rec := range f.Records {
			n += len(rec.Key) + len(rec.Value)
		}
		if ct == mtBinary && len(f.Records) > 0 {
			n = len(f.Records[0].Key) + len(f.Records[0].Value)
		}
		// What is returned is metered before it is: past the daily quota
		// the answer is 429 and nothing is returned. Its JSON rendering
		// takes memory from the budget too.
		if _, ex := ratelimit.TicketFrom(r.Context()).Charge(time.Now(), int64(n)); ex != nil {
			return guard.Exceeded(w.Header(), ex)
		}
		if err := httpapi.MemoryFrom(r.Context()).Take(r.Context(), 2*int64(n)+int64(len(f.Records))*256); err != nil {
			return err
		}
		if a.m != nil && len(f.Records) > 0 {
			a.m.RecordsConsumed.WithLabelValues("kastlex").Add(float64(len(f.Records)))
			a.m.BytesConsumed.WithLabelValues("kastlex").Add(float64(n))
		}
		h := w.Header()
		if ct == mtBinary {
			h.Set("Content-Type", mtBinary)
			h.Set("X-High-Wm-Offset", strconv.FormatInt(f.HighWatermark, 10))
			if len(f.Records) == 0 {
				w.WriteHeader(http.StatusOK)
				return nil
			}
			rec := f.Records[0]
			hs := toMessage(rec).Headers
			hb, _ := marshalNoEscape(hs)
			h.Set("X-Message-Headers", string(hb))
			h.Set("X-Message-Offset", strconv.FormatInt(rec.Offset, 10))
			h.Set("X-Message-Ts", strconv.FormatInt(rec.Timestamp.UnixMilli(), 10))
			h.Set("X-Message-Ts-Type", ":"+tsType(rec)) // KastleX writes the Elixir atom
			h.Set("Content-Length", strconv.Itoa(len(rec.Value)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(rec.Value)
			return nil
		}
		msgs := make([]message, 0, len(f.Records))
		for _, rec := range f.Records {
			msgs = append(msgs, toMessage(rec))
		}
		if v2 {
			h.Set("X-High-Wm-Offset", strconv.FormatInt(f.HighWatermark, 10))
			return writeJSON(w, http.StatusOK, msgs)
		}
		return writeJSON(w, http.StatusOK, v1Fetch{Messages: msgs, HighWmOffset: f.HighWatermark, ErrorCode: "no_error"})
	}
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// offsets serves GET /api/v1/offsets/{topic}/{partition}?at=...
func (a *api) offsets(w http.ResponseWriter, r *http.Request) error {
	topic, err := topicParam(r)
	if err != nil {
		return err
	}
	partition, err := partitionParam(r)
	if err != nil {
		return err
	}
	spec, ts, err := parseAt(r.URL.Query().Get("at"))
	if err != nil {
		return httpapi.ErrBadRequest.Msg("Bad Request: %s, got %q.", err.Error(), truncate(r.URL.Query().Get("at"), 32))
	}
	var off int64
	switch spec.kind {
	case offsetExact: // a timestamp
		off, err = a.kc.ListOffset(r.Context(), topic, partition, ts)
	case offsetEarliest:
		off, err = a.kc.ListOffset(r.Context(), topic, partition, kafka.OffsetEarliest)
	default:
		var earliest, latest int64
		if earliest, err = a.kc.ListOffset(r.Context(), topic, partition, kafka.OffsetEarliest); err == nil {
			if latest, err = a.kc.ListOffset(r.Context(), topic, partition, kafka.OffsetLatest); err == nil {
				off = spec.resolve(earliest, latest)
			}
		}
	}
	if err != nil {
		return kafkaError(err, topic)
	}
	return writeJSON(w, http.StatusOK, map[string]int64{"offset": off})
}
