package v2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/guard"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
	"github.com/kgate/kgate/internal/schemareg"
)

// partitionOffset is one record's entry in a ProduceResponse: where it
// was written, or (err set) why not.
type partitionOffset struct {
	partition int32
	offset    int64
	err       *httpapi.Error
}

// produceBuffers is what a produce request needs besides its body, kept
// from one request to the next (producePool): the decoded records, the
// Kafka records, their results and the answer.
type produceBuffers struct {
	batch   record.V2Batch
	krecs   []kgo.Record
	ptrs    []*kgo.Record
	results []kafka.Result
	offsets []partitionOffset
	answer  []byte
}

var producePool = sync.Pool{New: func() any { return new(produceBuffers) }}

// maxPooledProduce keeps the buffers of unusually large requests out of
// the pool, so that one such request does not hold its memory for long.
const maxPooledProduce = 1 << 20

func getProduceBuffers() *produceBuffers { return producePool.Get().(*produceBuffers) }

// release returns pb to the pool once nothing uses what it holds.
func (pb *produceBuffers) release() {
	// No references into the request (franz-go set each record's
	// context) or to errors outlive it.
	clear(pb.krecs)
	clear(pb.results)
	clear(pb.offsets)
	size := pb.batch.Footprint() + cap(pb.krecs)*int(unsafe.Sizeof(kgo.Record{})) + cap(pb.ptrs)*int(unsafe.Sizeof((*kgo.Record)(nil))) +
		cap(pb.results)*int(unsafe.Sizeof(kafka.Result{})) + cap(pb.offsets)*int(unsafe.Sizeof(partitionOffset{})) + cap(pb.answer)
	if size <= maxPooledProduce {
		producePool.Put(pb)
	}
}

// decodeProduce decodes and validates a whole produce body into b with
// the record codec (any invalid record rejects the request, so nothing
// is written); more than max records are refused (413).
func decodeProduce(b *record.V2Batch, f record.Name, body []byte, max int, res record.Resolver) error {
	if err := b.Decode(body, f, res, max); err != nil {
		return recordError(err)
	}
	return nil
}

// What a request's records cost in memory besides their bytes (taken
// as twice the body's size: decoded, and encoded for Kafka), measured
// (docs/benchmarks.md, worstbodies): decodeCost while the body is decoded
// (the codec's index of the records; the built-in formats, decoded in one
// pass, need only the records, 136 bytes each), recordCost from then on
// (the decoded record, the Kafka record, its result and its part of the
// answer; these come from producePool, so a steady load holds them once
// per request in flight, not once per request).
const (
	decodeCost = 256
	recordCost = 640
	// minRecordBytes is the shortest record a body can hold: "{}," .
	minRecordBytes = 3
)

// recordError maps a codec error onto v2's wire: JSON syntax and base64
// are 400 as Confluent's are, values of the wrong shape or type 422 (as
// Jackson's mapping errors), a negative partition 40402.
func recordError(err error) error {
	var e *record.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Kind {
	case record.KindSyntax, record.KindTruncated:
		return httpapi.ErrBadRequest.Msg("%s", e.Message()).Wrap(err)
	case record.KindBase64:
		return httpapi.ErrBadRequest.Msg("Bad Request: %s", e.Message()).Wrap(err)
	case record.KindPartition:
		return httpapi.ErrPartitionNotFound.Msg("%s", e.Message()).Wrap(err)
	case record.KindNeedsRegistry:
		return httpapi.ErrNoSchemaRegistry.Msg("Payload error. Schema Registry must be configured when using schemas. %s", e.Message()).Wrap(err)
	case record.KindUnavailable:
		return httpapi.ErrSchemaStore.Msg("%s Nothing was written; retry later.", e.Message()).Wrap(err)
	case record.KindEmpty:
		return httpapi.ErrUnprocessable.Msg("%s", e.Message()).Wrap(err)
	case record.KindTooLarge:
		return httpapi.ErrTooLarge.Msg("%s Nothing was written.", e.Message()).Wrap(err)
	}
	return httpapi.ErrUnprocessable.Msg("%s", e.Message()).Wrap(err)
}

// producer produces a v2 request's records.
type producer struct {
	kc         *kafka.Client
	m          metricsSink
	maxRecords int
	schemas    *schemareg.Formats // nil: no registry
	audit      *audit.Log         // nil: no audit trail
}

// auditSchema records a schema a produce registered, as the registry's
// own routes do.
func (p producer) auditSchema(r *http.Request, s schemareg.Schema) {
	p.audit.Write(r.Context(), httpapi.ChangeRecord(r, audit.SchemaChange, auth.SubjectWrite, s.Subject,
		fmt.Sprintf("registered by a produce: version %d, id %d", s.Version, s.ID)))
}

// schemaIDs are the key_schema_id and value_schema_id of an answer.
type schemaIDs struct{ key, value int }

// resolver returns the schema resolver of a request producing to topic
// in format f: nil without a registry and for formats without schemas. A
// schema given in full is registered only if the caller may write its
// subject; an id is used only if the caller may read a subject holding
// it.
func (p producer) resolver(r *http.Request, f record.Name, topic string) *schemareg.Resolver {
	if p.schemas == nil || !f.NeedsSchema() {
		return nil
	}
	ctx := r.Context()
	return p.schemas.NewResolver(ctx, topic, func(write bool, subject string) bool {
		if write {
			return auth.Allowed(ctx, auth.SubjectWrite, subject)
		}
		return auth.Allowed(ctx, auth.SubjectRead, subject)
	})
}

// defaultMaxRecords is http.max_records_per_request's default.
var defaultMaxRecords = config.Default().HTTP.MaxRecordsPerRequest

func (p producer) max() int {
	if p.maxRecords > 0 {
		return p.maxRecords
	}
	return defaultMaxRecords
}

// metricsSink is the part of metrics the produce path records.
type metricsSink interface {
	produced(records, bytes int)
	consumed(records, bytes int)
}

// produce handles POST /topics/{topic} and /topics/{topic}/partitions/{p}.
func (p producer) produce(w http.ResponseWriter, r *http.Request, topic string, pathPartition int32) error {
	w.Header()["Content-Type"] = v2ContentType
	f, err := produceFormat(r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	// The principal's standing from now: a body that takes long to
	// arrive is produced only if the principal still may then.
	live := auth.LiveFor(r.Context())
	changed := live.Changed()
	body, pooled, err := httpapi.ReadBodyPooled(r)
	if err != nil {
		return err
	}
	// Memory: the decoder's index while decoding, then the records.
	mem := httpapi.MemoryFrom(r.Context())
	max := p.max()
	est := int64(min(len(body)/minRecordBytes+1, max+1)) * decodeCost
	if err := mem.Take(r.Context(), est); err != nil {
		pooled.Release()
		return err
	}
	// Decoded records own their bytes: the body goes back to the pool.
	pb := getProduceBuffers()
	defer pb.release() // once the answer is written
	var ids schemaIDs
	var res record.Resolver // an untyped nil without a registry
	sres := p.resolver(r, f, topic)
	if sres != nil {
		res = sres
	}
	err = decodeProduce(&pb.batch, f, body, max, res)
	pooled.Release()
	if sres != nil {
		ids.key, ids.value = sres.IDs()
		for _, s := range sres.Created() {
			p.auditSchema(r, s)
		}
	}
	mem.Give(est)
	if err != nil {
		return err
	}
	recs := pb.batch.Records
	// The records, their bytes (about the body's size) and the
	// producer's copy of them on the wire.
	if err := mem.Take(r.Context(), int64(len(recs))*recordCost+2*int64(len(body))); err != nil {
		return err
	}
	// The body may have taken long: the principal must still stand.
	if he := guard.LiveRefusal(live.Still(r.Context(), changed, auth.Produce, topic)); he != nil {
		return he
	}
	if !kafka.ValidTopic(topic) {
		return httpapi.ErrKafkaBadRequest.Msg("Invalid topic name %q: names are 1 to 249 characters of [a-zA-Z0-9._-].", truncate(topic, 300))
	}
	if len(recs) == 0 {
		pb.writeProduce(w, http.StatusOK, nil, ids)
		return nil
	}
	target, err := p.kc.Target(r.Context(), topic)
	if err != nil {
		he := httpapi.FromKafka(err)
		if errors.Is(err, kafka.ErrUnknownTopic) {
			// At once, per record (Confluent makes clients wait for
			// max.block.ms). The HTTP status says so too, so that agents
			// that only look at the status (fluent-bit) do not drop data.
			pb.writeProduce(w, he.Status, pb.allFailed(len(recs), he), ids)
			return nil
		}
		return he
	}
	if pathPartition != record.NoPartition && pathPartition >= target.Partitions {
		// Confluent's documented answer: the error body, nothing written.
		return httpapi.ErrPartitionNotFound.Wrap(fmt.Errorf("topic %q has %d partition(s), not %d", topic, target.Partitions, pathPartition))
	}
	n := len(recs)
	pb.krecs = slices.Grow(pb.krecs[:0], n)[:n]
	pb.ptrs = slices.Grow(pb.ptrs[:0], n)[:n]
	size := 0
	for i := range recs {
		d := &recs[i]
		pt := pathPartition
		if d.Partition != record.NoPartition { // the record's field wins, as on Confluent
			pt = d.Partition
		}
		if err := target.Fill(&pb.krecs[i], pt, d.Key, d.Value, d.Headers, d.Timestamp); err != nil {
			// Nothing is written: the whole request is rejected, and
			// the status says so (see the unknown topic above).
			he := httpapi.ErrPartitionNotFound.Msg("records[%d] names partition %d: topic %q has %d partition(s); nothing of this request was written.", i, pt, topic, target.Partitions)
			pb.writeProduce(w, he.Status, pb.allFailed(n, he), ids)
			return nil
		}
		pb.ptrs[i] = &pb.krecs[i]
		size += d.Size()
	}
	// Metered before anything is written: a request past the daily quota
	// writes nothing (a byte rate is paid back by the next request).
	if _, ex := ratelimit.TicketFrom(r.Context()).Charge(time.Now(), int64(size)); ex != nil {
		return guard.Exceeded(w.Header(), ex)
	}
	ctx := context.WithoutCancel(r.Context()) // a client leaving must not half-cancel a request
	pb.results = p.kc.ProduceSyncInto(ctx, pb.ptrs, pb.results)
	status := http.StatusOK
	offsets := slices.Grow(pb.offsets[:0], n)[:n]
	pb.offsets = offsets
	ok := 0
	for i, res := range pb.results {
		if res.Err == nil {
			offsets[i] = partitionOffset{partition: res.Partition, offset: res.Offset}
			ok++
			continue
		}
		he := httpapi.FromKafka(res.Err)
		offsets[i] = partitionOffset{err: he}
		switch {
		case errors.Is(he, httpapi.ErrUnauthenticated):
			status = http.StatusUnauthorized
		case errors.Is(he, httpapi.ErrForbidden):
			if status != http.StatusUnauthorized {
				status = http.StatusForbidden
			}
		}
	}
	if ok > 0 && p.m != nil {
		p.m.produced(ok, size)
	}
	pb.writeProduce(w, status, offsets, ids)
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
	// No resolver: a refused caller registers nothing.
	pb := getProduceBuffers()
	defer pb.release()
	if decodeProduce(&pb.batch, f, body, p.max(), nil) != nil {
		return he
	}
	pb.writeProduce(w, he.Status, pb.allFailed(len(pb.batch.Records), he), schemaIDs{})
	return nil
}

// allFailed returns n entries failed with he, in pb's memory.
func (pb *produceBuffers) allFailed(n int, he *httpapi.Error) []partitionOffset {
	pb.offsets = slices.Grow(pb.offsets[:0], n)[:n]
	for i := range pb.offsets {
		pb.offsets[i] = partitionOffset{err: he}
	}
	return pb.offsets
}

// v2ContentType is the Content-Type header value of produce answers,
// shared by them all (Header.Set allocates a value per call); its
// capacity of one makes an Add copy it, not write into it.
var v2ContentType = []string{mtV2}[:1:1]

// writeProduce writes a ProduceResponse, encoded in pb's memory. It is
// hand-encoded (the hot path of every produce); TestWriteProduceMatchesJSON
// pins it to encoding/json.
func (pb *produceBuffers) writeProduce(w http.ResponseWriter, status int, offsets []partitionOffset, ids schemaIDs) {
	pb.answer = appendProduceResponse(pb.answer[:0], offsets, ids)
	h := w.Header()
	h["Content-Type"] = v2ContentType
	h.Set("Content-Length", strconv.Itoa(len(pb.answer)))
	w.WriteHeader(status)
	_, _ = w.Write(pb.answer)
}

func appendProduceResponse(b []byte, offsets []partitionOffset, ids schemaIDs) []byte {
	b = slices.Grow(b, 64+len(offsets)*64)
	b = append(b, `{"offsets":[`...)
	for i, o := range offsets {
		if i > 0 {
			b = append(b, ',')
		}
		if o.err == nil {
			b = append(b, `{"partition":`...)
			b = strconv.AppendInt(b, int64(o.partition), 10)
			b = append(b, `,"offset":`...)
			b = strconv.AppendInt(b, o.offset, 10)
			b = append(b, `,"error_code":null,"error":null}`...)
			continue
		}
		b = append(b, `{"partition":null,"offset":null,"error_code":`...)
		b = strconv.AppendInt(b, int64(o.err.Code), 10)
		b = append(b, `,"error":`...)
		q, _ := json.Marshal(o.err.Message) // rare: errors only
		b = append(b, q...)
		b = append(b, '}')
	}
	b = append(b, `],"key_schema_id":`...)
	b = appendID(b, ids.key)
	b = append(b, `,"value_schema_id":`...)
	b = appendID(b, ids.value)
	return append(b, '}')
}

// appendID appends a schema id, null for none.
func appendID(b []byte, id int) []byte {
	if id == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(id), 10)
}

func ptr[T any](v T) *T { return &v }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
