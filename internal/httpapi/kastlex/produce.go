package kastlex

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/guard"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
)

// parseHeaders reads x-message-headers: a JSON object of header names to
// values, decoded by the record codec (strings are taken as they are,
// null is a header without a value, other JSON values are their JSON
// text, as KastleX turns them to text; order is kept).
func parseHeaders(vals []string) ([]kgo.RecordHeader, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	if len(vals) > 1 {
		return nil, httpapi.ErrBadRequest.Msg("Bad Request: send one x-message-headers header with a JSON object.")
	}
	hs, err := record.DecodeHeaders([]byte(vals[0]))
	if err != nil {
		var e *record.Error
		if errors.As(err, &e) && (e.Kind == record.KindSyntax || e.Kind == record.KindTruncated) {
			return nil, httpapi.ErrBadRequest.Msg("Bad Request: x-message-headers is not valid JSON: %s", e.Message()).Wrap(err)
		}
		return nil, httpapi.ErrBadRequest.Msg("Bad Request: x-message-%s", err.Error()).Wrap(err)
	}
	return hs, nil
}

// requireNonSimpleType refuses the content types a browser sends
// cross-site without asking (no CORS preflight): a page elsewhere could
// otherwise make a browser with cached Basic credentials produce. A
// missing Content-Type is refused too (a body without a type is as
// simple).
func requireNonSimpleType(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil, mt == "text/plain", mt == "application/x-www-form-urlencoded", mt == "multipart/form-data":
		return httpapi.ErrUnsupportedMediaType.Msg("Send the value with Content-Type: application/binary " +
			"(form, multipart and text/plain bodies, which browsers send across sites without asking, are refused).")
	}
	return nil
}

// produce serves POST /api/v{1,2}/messages/{topic}[/{partition}]: the
// body is the value (Content-Type application/binary, as KastleX
// documents, or any other but the simple ones; see
// requireNonSimpleType), ?key= the key, x-message-headers the headers.
// It answers 204 with x-kafka-partition and x-message-offset.
func (a *api) produce(withPartition bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := requireNonSimpleType(r); err != nil {
			return err
		}
		topic, err := topicParam(r)
		if err != nil {
			return err
		}
		partition := record.NoPartition
		if withPartition {
			p, err := partitionParam(r)
			if err != nil {
				return err
			}
			partition = p
		}
		headers, err := parseHeaders(r.Header.Values("X-Message-Headers"))
		if err != nil {
			return err
		}
		live := auth.LiveFor(r.Context())
		changed := live.Changed()
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
		// The body may have taken long: the principal must still stand.
		if he := guard.LiveRefusal(live.Still(r.Context(), changed, auth.Produce, topic)); he != nil {
			return he
		}
		target, err := a.kc.Target(r.Context(), topic)
		if err != nil {
			return kafkaError(err, topic)
		}
		rec, err := target.Record(partition, key, value, headers, time.Time{})
		if errors.Is(err, kafka.ErrUnknownPartition) {
			return httpapi.ErrPartitionNotFound.Msg("Partition %d not found: topic %s has %d partition(s).", partition, topic, target.Partitions)
		} else if err != nil {
			return err
		}
		// The producer's copy of the value on the wire.
		if err := httpapi.MemoryFrom(r.Context()).Take(r.Context(), int64(len(key)+len(value))); err != nil {
			return err
		}
		// Metered before it is written: past the daily quota, nothing is.
		if _, ex := ratelimit.TicketFrom(r.Context()).Charge(time.Now(), int64(len(key)+len(value))); ex != nil {
			return guard.Exceeded(w.Header(), ex)
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
