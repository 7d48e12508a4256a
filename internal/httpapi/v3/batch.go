package v3

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/guard"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
)

// maxBatchEntries is api.v3.produce.batch.maximum.entries' default.
const maxBatchEntries = 10

type batchRequest struct {
	Entries []json.RawMessage `json:"entries"`
}

// batchEntry is a record with an id (reference §4.4).
type batchEntry struct {
	ID json.RawMessage `json:"id"`
}

type batchSuccess struct {
	ID          string    `json:"id"`
	ClusterID   string    `json:"cluster_id"`
	TopicName   string    `json:"topic_name"`
	PartitionID int32     `json:"partition_id"`
	Offset      int64     `json:"offset"`
	Timestamp   string    `json:"timestamp"`
	Key         *dataInfo `json:"key,omitempty"`
	Value       *dataInfo `json:"value,omitempty"`
}

type batchFailure struct {
	ID        string `json:"id"`
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

type batchResponse struct {
	Successes []batchSuccess `json:"successes"`
	Failures  []batchFailure `json:"failures"`
}

// produceBatch serves POST .../records:batch: up to ten records with ids,
// answered 207 with successes and failures.
func (a *api) produceBatch(w http.ResponseWriter, r *http.Request) error {
	if latin1, err := produceContent(r); err != nil {
		return err
	} else if latin1 {
		r.Body = io.NopCloser(record.Latin1Reader(r.Body))
	}
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	topic := r.PathValue("topic_name")
	live := auth.LiveFor(r.Context())
	changed := live.Changed()
	var req batchRequest
	if err := readBody(r, &req, emptyData); err != nil {
		if errors.Is(err, httpapi.ErrPayload) {
			return httpapi.ErrBatchInvalid.Msg("%s", emptyData)
		}
		return err
	}
	switch {
	case len(req.Entries) == 0:
		return httpapi.ErrBatchInvalid.Msg("Empty batch.")
	case len(req.Entries) > maxBatchEntries:
		return httpapi.ErrBatchInvalid.Msg("Too many entries in batch: at most %d.", maxBatchEntries)
	}
	ids := make([]string, len(req.Entries))
	seen := map[string]bool{}
	for i, raw := range req.Entries {
		var e batchEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return httpapi.ErrBatchInvalid.Msg("Batch entry %d is not a JSON object.", i)
		}
		var id string
		if err := json.Unmarshal(e.ID, &id); err != nil || id == "" || utf8.RuneCountInString(id) > 80 {
			return httpapi.ErrBatchInvalid.Msg("Batch entry identifier is not a valid string: entry %d needs an \"id\" of 1 to 80 characters.", i)
		}
		if seen[id] {
			return httpapi.ErrBatchInvalid.Msg("Batch entry IDs are not distinct: %q repeats.", truncate(id, 80))
		}
		seen[id] = true
		ids[i] = id
	}

	res := batchResponse{Successes: []batchSuccess{}, Failures: []batchFailure{}}
	fail := func(i int, he *httpapi.Error) {
		res.Failures = append(res.Failures, batchFailure{ID: ids[i], ErrorCode: he.Code, Message: he.Message})
	}
	target, terr := a.kc.Target(r.Context(), topic)
	type pending struct {
		i    int
		d    record.Record
		rec  *kgo.Record
		err  error
		size int
	}
	var ps []*pending
	schemas, audited, info := a.resolver(r, topic)
	defer audited()
	for i, raw := range req.Entries {
		d, err := record.DecodeV3(raw, schemas, topic)
		if err != nil {
			var e *record.Error
			if errors.As(err, &e) {
				fail(i, recordError(e))
			} else {
				fail(i, httpapi.Classify(context.Background(), err))
			}
			continue
		}
		if terr != nil {
			he := httpapi.FromKafka(terr)
			if errors.Is(terr, kafka.ErrUnknownTopic) {
				he = httpapi.ErrTopicNotFound.Msg("Topic %s not found.", truncate(topic, 255))
			}
			fail(i, he)
			continue
		}
		rec, err := target.Record(d.Partition, d.Key, d.Value, d.Headers, d.Timestamp)
		if err != nil {
			fail(i, httpapi.ErrPartitionNotFound.Msg("Partition %d not found: topic %s has %d partition(s).", d.Partition, topic, target.Partitions))
			continue
		}
		ps = append(ps, &pending{i: i, d: d, rec: rec, size: d.Size()})
	}
	// The body may have taken long: the principal must still stand.
	if he := guard.LiveRefusal(live.Still(r.Context(), changed, auth.Produce, topic)); he != nil {
		return he
	}
	// Each record is metered before it is produced: past the daily
	// quota it and the rest fail 429.
	ticket := ratelimit.TicketFrom(r.Context())
	kept := ps[:0]
	var quota *httpapi.Error
	for _, p := range ps {
		if quota == nil {
			if _, ex := ticket.Charge(time.Now(), int64(p.size)); ex != nil {
				quota = guard.Exceeded(w.Header(), ex)
			}
		}
		if quota != nil {
			fail(p.i, quota)
			continue
		}
		kept = append(kept, p)
	}
	ps = kept
	var wg sync.WaitGroup
	ctx := context.WithoutCancel(r.Context())
	for _, p := range ps {
		wg.Add(1)
		a.kc.Produce(ctx, p.rec, func(_ *kgo.Record, err error) {
			p.err = err
			wg.Done()
		})
	}
	wg.Wait()
	ok, bytes := 0, 0
	for _, p := range ps {
		if p.err != nil {
			fail(p.i, httpapi.FromKafka(p.err))
			continue
		}
		ok++
		bytes += p.size
		res.Successes = append(res.Successes, batchSuccess{
			ID: ids[p.i], ClusterID: l.cid, TopicName: topic, PartitionID: p.rec.Partition, Offset: p.rec.Offset,
			Timestamp: string(appendInstant(nil, p.rec.Timestamp)), Key: info(true, p.d.KeyFormat, p.d.Key).ptr(), Value: info(false, p.d.ValueFormat, p.d.Value).ptr(),
		})
	}
	if ok > 0 && a.m != nil {
		a.m.RecordsProduced.WithLabelValues("v3").Add(float64(ok))
		a.m.BytesProduced.WithLabelValues("v3").Add(float64(bytes))
	}
	sortFailures(res.Failures, ids)
	return writeJSON(w, http.StatusMultiStatus, res)
}

// sortFailures puts failures in entry order (decode failures come first
// otherwise).
func sortFailures(fs []batchFailure, ids []string) {
	pos := make(map[string]int, len(ids))
	for i, id := range ids {
		pos[id] = i
	}
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && pos[fs[j].ID] < pos[fs[j-1].ID]; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}
