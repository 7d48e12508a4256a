package v2

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/instances"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
	"github.com/kgate/kgate/internal/schemareg"
)

// consumerAPI serves the /consumers routes: it translates requests into
// calls on the instance registry and its answers (domain errors
// included, see instanceError) into the v2 wire.
type consumerAPI struct {
	reg           *instances.Registry
	schemas       *schemareg.Formats // nil: no registry (schema formats answer 42206)
	cfg           config.Consumers
	maxWait       time.Duration // the longest a read may wait
	advertisedURL string
	m             metricsSink
	// forward sends a request for an instance another replica holds
	// there and streams its answer back (nil: instances are not shared).
	forward Forwarder
}

// Forwarder sends r, whose body (already read) was body, to the replica
// at url on behalf of r's caller, and writes its answer to w.
type Forwarder func(w http.ResponseWriter, r *http.Request, url string, body []byte) error

// instanceNodeHeader names, on every answer about an instance, the
// replica that holds it (or held it, for a delete).
const instanceNodeHeader = "Kgate-Instance-Node"

// controlBody reads a consumer-control POST body after checking its
// Content-Type.
func controlBody(r *http.Request) ([]byte, error) {
	if !controlContentOK(r.Header.Get("Content-Type")) {
		b, err := httpapi.ReadBody(r)
		if err != nil {
			return nil, err
		}
		// curl -d without -H sends form encoding; with an empty body that
		// is harmless, anything else is the wrong type.
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, nil
		}
		return nil, httpapi.ErrUnsupportedMediaType.Msg("HTTP 415 Unsupported Media Type: %q; send %s.", httpapi.MediaType(r.Header.Get("Content-Type")), mtV2)
	}
	return httpapi.ReadBody(r)
}

// requiredBody decodes a body that must be present (null -> 422).
func requiredBody(b []byte, dst any) error {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return httpapi.ErrUnprocessable.Msg("Request body is empty. Data is required.")
	}
	if t[0] != '{' {
		return httpapi.ErrUnprocessable.Msg("The request body must be a JSON object.")
	}
	if err := json.Unmarshal(t, dst); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return httpapi.ErrUnprocessable.Msg("Invalid request body: %s.", strings.TrimPrefix(err.Error(), "json: ")).Wrap(err)
		}
		return httpapi.JSONError(err)
	}
	return nil
}

func (a consumerAPI) create(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	body, err := controlBody(r)
	if err != nil {
		return err
	}
	o, err := a.parseCreate(body)
	if err != nil {
		return err
	}
	group := r.PathValue("group")
	in, err := a.reg.Create(r.Context(), group, instances.OwnerFor(r.Context()), o)
	if err != nil {
		// A draining replica sends creates to another.
		return a.elsewhere(w, r, body, err)
	}
	a.served(w)
	httpapi.WriteJSON(w, http.StatusOK, mtV2, map[string]string{
		"instance_id": in.Name(),
		"base_uri":    a.baseURI(r, group, in.Name()),
	})
	return nil
}

// parseCreate validates every documented field of a create request; the
// body may be empty.
func (a consumerAPI) parseCreate(body []byte) (instances.Settings, error) {
	o := instances.Settings{
		Format:         record.BinaryFormat,
		Reset:          "latest",
		AutoCommit:     true, // the Kafka consumer's default, as on Confluent
		MinBytes:       a.cfg.FetchMinBytes,
		RequestTimeout: min(a.cfg.RequestTimeout.D(), a.maxWait),
	}
	t := bytes.TrimSpace(body)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return o, nil
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(t, &f); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return o, httpapi.ErrUnprocessable.Msg("The request body must be a JSON object.")
		}
		return o, httpapi.JSONError(err)
	}
	str := func(k string) (string, bool, error) {
		raw, ok := f[k]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, httpapi.ErrUnprocessable.Msg("%q must be a string.", k)
		}
		return s, true, nil
	}
	// Numbers may be sent as JSON numbers or strings (Jackson coerces).
	num := func(keys ...string) (int64, bool, error) {
		for _, k := range keys {
			raw, ok := f[k]
			if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
				continue
			}
			s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, false, httpapi.ErrUnprocessable.Msg("%q must be an integer.", k)
			}
			return n, true, nil
		}
		return 0, false, nil
	}
	name, ok, err := str("name")
	if err != nil {
		return o, err
	}
	if !ok {
		if name, _, err = str("id"); err != nil {
			return o, err
		}
	}
	if strings.ContainsAny(name, "/?#") || len(name) > 255 {
		return o, httpapi.ErrUnprocessable.Msg("Invalid consumer instance name: at most 255 characters, without '/', '?' or '#'.")
	}
	o.Name = name
	if s, ok, err := str("format"); err != nil {
		return o, err
	} else if ok {
		fm, valid := parseFormat(s)
		if !valid {
			return o, httpapi.ErrUnprocessable.Msg("Invalid format type.")
		}
		f, ok := record.Builtin(fm)
		if !ok && a.schemas != nil {
			f, ok = a.schemas.ReaderFormat(fm)
		}
		if !ok {
			return o, httpapi.ErrNoSchemaRegistry.Msg("Payload error. The %s format needs a Schema Registry and none is configured on this gateway; use binary or json.", fm.Lower())
		}
		o.Format = f
	}
	if s, ok, err := str("auto.offset.reset"); err != nil {
		return o, err
	} else if ok {
		switch s {
		case "earliest", "latest", "none":
			o.Reset = s
		default:
			return o, httpapi.ErrInvalidConsumerConf.Msg("Invalid consumer configuration: Invalid value %s for configuration auto.offset.reset: String must be one of: latest, earliest, none", s)
		}
	}
	if raw, ok := f["auto.commit.enable"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
		b, err := strconv.ParseBool(s)
		if err != nil {
			return o, httpapi.ErrInvalidConsumerConf.Msg("Invalid consumer configuration: Invalid value %s for configuration enable.auto.commit: Expected value to be either true or false", s)
		}
		o.AutoCommit = b
	}
	if n, ok, err := num("fetch.min.bytes", "responseMinBytes"); err != nil {
		return o, err
	} else if ok {
		if n < -1 || n > 10000000 {
			return o, httpapi.ErrConsumerConfig.Msg("fetch.min.bytes must be between -1 and 10000000.")
		}
		o.MinBytes = int(n)
	}
	if n, ok, err := num("consumer.request.timeout.ms", "requestWaitMs"); err != nil {
		return o, err
	} else if ok {
		// A read may not outlast the server's write timeout: the longest
		// wait is the server's to set (consumers.max_request_timeout).
		if maxMs := a.maxWait.Milliseconds(); n < 0 || n > maxMs {
			return o, httpapi.ErrConsumerConfig.Msg("consumer.request.timeout.ms must be between 0 and %d (this server's consumers.max_request_timeout).", maxMs)
		}
		o.RequestTimeout = time.Duration(n) * time.Millisecond
	}
	return o, nil
}

// baseURI follows Confluent's rules (§2.1): the advertised URL when one is
// configured, else the request's own scheme and Host. Segments are
// escaped, so unusual names still make a usable URL.
func (a consumerAPI) baseURI(r *http.Request, group, name string) string {
	base := strings.TrimSuffix(a.advertisedURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/consumers/" + url.PathEscape(group) + "/instances/" + url.PathEscape(name)
}

// withInstance looks the caller's instance up, holding it in use for fn,
// and maps what fn returns onto the wire. An instance another replica
// holds gets the request forwarded there, with body (what the handler
// read of the request's body).
func (a consumerAPI) withInstance(w http.ResponseWriter, r *http.Request, body []byte, fn func(*instances.Instance) error) error {
	in, err := a.reg.Acquire(r.Context(), r.PathValue("group"), r.PathValue("instance"), instances.OwnerFor(r.Context()))
	if err != nil {
		return a.elsewhere(w, r, body, err)
	}
	defer in.Release()
	a.served(w)
	err = fn(in)
	if errors.Is(err, instances.ErrNotFound) && in.HandedOver() {
		err = instances.ErrMoved
	}
	return instanceError(w, err)
}

// served names this replica as the one holding the instance.
func (a consumerAPI) served(w http.ResponseWriter) {
	if n := a.reg.Node(); n != "" {
		w.Header().Set(instanceNodeHeader, n)
	}
}

// elsewhere forwards the request when err says another replica holds
// the instance, and maps any other error onto the wire. A request that
// was itself forwarded is never forwarded again: the replicas' views of
// who holds the instance differ for a moment (it is moving), and the
// client retries.
func (a consumerAPI) elsewhere(w http.ResponseWriter, r *http.Request, body []byte, err error) error {
	var ee *instances.ElsewhereError
	if !errors.As(err, &ee) {
		return instanceError(w, err)
	}
	if p := auth.FromContext(r.Context()); a.forward == nil || (p != nil && p.Via != "") {
		w.Header().Set("Retry-After", "1")
		return httpapi.ErrMoving.Wrap(err)
	}
	return a.forward(w, r, ee.URL, body)
}

func (a consumerAPI) remove(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	if err := a.reg.Remove(r.Context(), r.PathValue("group"), r.PathValue("instance"), instances.OwnerFor(r.Context())); err != nil {
		return a.elsewhere(w, r, nil, err)
	}
	a.served(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type topicPartitionJSON struct {
	Topic     string `json:"topic"`
	Partition *int32 `json:"partition"`
}

func parsePartitions(list []topicPartitionJSON) ([]instances.Partition, error) {
	out := make([]instances.Partition, 0, len(list))
	for i, p := range list {
		if p.Topic == "" || p.Partition == nil {
			return nil, httpapi.ErrUnprocessable.Msg("partitions[%d] needs \"topic\" and \"partition\".", i)
		}
		if *p.Partition < 0 {
			return nil, httpapi.ErrPartitionNotFound
		}
		out = append(out, instances.Partition{Topic: p.Topic, Partition: *p.Partition})
	}
	return out, nil
}

// subscribe subscribes to topics, each of which the caller must be
// allowed to fetch, or to a pattern, which only ever matches topics the
// caller may fetch at each moment (never internal ones, for non-admins).
func (a consumerAPI) subscribe(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	body, err := controlBody(r)
	if err != nil {
		return err
	}
	var req struct {
		Topics       []string `json:"topics"`
		TopicPattern string   `json:"topic_pattern"`
	}
	if err := requiredBody(body, &req); err != nil {
		return err
	}
	if len(req.Topics) == 0 && req.TopicPattern == "" {
		return httpapi.ErrUnprocessable.Msg("A subscription needs \"topics\" or \"topic_pattern\".")
	}
	pattern := req.TopicPattern
	if len(req.Topics) > 0 {
		pattern = "" // topics win, as on Confluent
		for _, t := range req.Topics {
			if !kafka.ValidTopic(t) {
				return httpapi.ErrUnprocessable.Msg("Invalid topic name %q.", truncate(t, 300))
			}
		}
	} else if len(pattern) > maxPattern {
		return httpapi.ErrUnprocessable.Msg("Invalid topic_pattern: at most %d characters.", maxPattern)
	}
	return a.withInstance(w, r, body, func(in *instances.Instance) error {
		if err := in.Subscribe(r.Context(), req.Topics, pattern); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// maxPattern bounds a topic_pattern's length.
const maxPattern = 1000

func (a consumerAPI) getSubscription(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	return a.withInstance(w, r, nil, func(in *instances.Instance) error {
		httpapi.WriteJSON(w, http.StatusOK, mtV2, map[string][]string{"topics": in.Subscription()})
		return nil
	})
}

func (a consumerAPI) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	return a.withInstance(w, r, nil, func(in *instances.Instance) error {
		if err := in.Unsubscribe(r.Context()); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// partitionsBody decodes {"partitions":[...]} (required); it returns the
// body too.
func partitionsBody(r *http.Request) ([]instances.Partition, []byte, error) {
	body, err := controlBody(r)
	if err != nil {
		return nil, nil, err
	}
	var req struct {
		Partitions []topicPartitionJSON `json:"partitions"`
	}
	if err := requiredBody(body, &req); err != nil {
		return nil, nil, err
	}
	parts, err := parsePartitions(req.Partitions)
	return parts, body, err
}

func (a consumerAPI) assign(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	parts, body, err := partitionsBody(r)
	if err != nil {
		return err
	}
	return a.withInstance(w, r, body, func(in *instances.Instance) error {
		if err := in.Assign(r.Context(), parts); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (a consumerAPI) getAssignments(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	return a.withInstance(w, r, nil, func(in *instances.Instance) error {
		out := []topicPartitionJSON{}
		for _, p := range in.Assignment() {
			out = append(out, topicPartitionJSON{Topic: p.Topic, Partition: ptr(p.Partition)})
		}
		httpapi.WriteJSON(w, http.StatusOK, mtV2, map[string]any{"partitions": out})
		return nil
	})
}

func (a consumerAPI) seek(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	body, err := controlBody(r)
	if err != nil {
		return err
	}
	var req struct {
		Offsets []struct {
			Topic     string `json:"topic"`
			Partition *int32 `json:"partition"`
			Offset    *int64 `json:"offset"`
		} `json:"offsets"`
		Timestamps []struct {
			Topic     string `json:"topic"`
			Partition *int32 `json:"partition"`
			Timestamp string `json:"timestamp"`
		} `json:"timestamps"`
	}
	if err := requiredBody(body, &req); err != nil {
		return err
	}
	offsets := map[instances.Partition]int64{}
	for i, o := range req.Offsets {
		if o.Topic == "" || o.Partition == nil || o.Offset == nil || *o.Offset < 0 || *o.Partition < 0 {
			return httpapi.ErrUnprocessable.Msg("offsets[%d] needs \"topic\", \"partition\" and a non-negative \"offset\".", i)
		}
		offsets[instances.Partition{Topic: o.Topic, Partition: *o.Partition}] = *o.Offset
	}
	times := map[instances.Partition]time.Time{}
	for i, t := range req.Timestamps {
		ts, err := time.Parse(time.RFC3339Nano, t.Timestamp)
		if t.Topic == "" || t.Partition == nil || err != nil {
			return httpapi.ErrUnprocessable.Msg("timestamps[%d] needs \"topic\", \"partition\" and an ISO-8601 \"timestamp\".", i)
		}
		times[instances.Partition{Topic: t.Topic, Partition: *t.Partition}] = ts
	}
	return a.withInstance(w, r, body, func(in *instances.Instance) error {
		if err := in.Seek(offsets); err != nil {
			return err
		}
		if len(times) > 0 {
			if err := in.SeekTime(r.Context(), times); err != nil {
				return err
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (a consumerAPI) seekEdge(start bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", mtV2)
		parts, body, err := partitionsBody(r)
		if err != nil {
			return err
		}
		return a.withInstance(w, r, body, func(in *instances.Instance) error {
			if err := in.SeekEdge(r.Context(), parts, start); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
	}
}

// records is the long poll. Its wait is the instance's
// consumer.request.timeout.ms, shortened by ?timeout=, and never longer
// than the server allows (consumers.max_request_timeout, itself under
// http.write_timeout): a read ends in time to write its answer within the
// server's write deadline, which it never extends. Each record is
// authorized with the caller's rights of now and charged to its byte
// limits as it is taken.
func (a consumerAPI) records(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	ct := httpapi.Negotiate(r.Header.Get("Accept"), recordsOffers)
	if ct == "" {
		return httpapi.ErrNotAcceptable
	}
	if ct == mtV2 {
		ct = mtBinary // the bare v2 type means binary, as on Confluent
	}
	// Errors of this endpoint carry the negotiated embedded type.
	w.Header().Set("Content-Type", ct)
	q := r.URL.Query()
	timeout, err := queryInt(q, "timeout")
	if err != nil {
		return err
	}
	maxBytes, err := queryInt(q, "max_bytes")
	if err != nil {
		return err
	}
	return a.withInstance(w, r, nil, func(in *instances.Instance) error {
		if embeddedType(in.Settings().Format.Name()) != ct {
			return httpapi.ErrFormatMismatch
		}
		wait := in.Settings().RequestTimeout
		if timeout > 0 && time.Duration(timeout)*time.Millisecond < wait {
			wait = time.Duration(timeout) * time.Millisecond
		}
		wait = min(wait, a.maxWait)
		limit := int64(a.cfg.MaxBytes)
		if maxBytes > 0 && maxBytes < limit {
			limit = maxBytes
		}
		owner := instances.OwnerFor(r.Context())
		b, err := in.Read(r.Context(), instances.ReadRequest{Deadline: start.Add(wait), MaxBytes: limit,
			Live: owner.Live, Ticket: ratelimit.TicketFrom(r.Context())})
		if err != nil {
			return err
		}
		if a.m != nil && b.Records > 0 {
			a.m.consumed(b.Records, int(b.Bytes))
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b.Body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b.Body)
		return nil
	})
}

func queryInt(q url.Values, name string) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, httpapi.ErrBadRequest.Msg("Bad Request: query parameter %s must be an integer.", name)
	}
	return n, nil
}

// commit commits the offsets named (each on a topic the caller may
// fetch now: a forbidden topic is refused whether or not it exists), or
// without a body everything the instance returned.
func (a consumerAPI) commit(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	body, err := controlBody(r)
	if err != nil {
		return err
	}
	var offsets map[instances.Partition]int64
	if t := bytes.TrimSpace(body); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		var req struct {
			Offsets []struct {
				Topic     string `json:"topic"`
				Partition *int32 `json:"partition"`
				Offset    *int64 `json:"offset"`
			} `json:"offsets"`
		}
		if err := requiredBody(t, &req); err != nil {
			return err
		}
		if req.Offsets != nil {
			offsets = map[instances.Partition]int64{}
			for i, o := range req.Offsets {
				if o.Topic == "" || o.Partition == nil || o.Offset == nil || *o.Offset < 0 || *o.Partition < 0 {
					return httpapi.ErrUnprocessable.Msg("offsets[%d] needs \"topic\", \"partition\" and a non-negative \"offset\".", i)
				}
				// The client names the last record it processed; Kafka
				// stores the next one to read, as Confluent does.
				offsets[instances.Partition{Topic: o.Topic, Partition: *o.Partition}] = *o.Offset + 1
			}
		}
	}
	return a.withInstance(w, r, body, func(in *instances.Instance) error {
		if err := in.Commit(r.Context(), instances.OwnerFor(r.Context()).Live, offsets); err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, mtV2, []struct{}{})
		return nil
	})
}

// getCommitted answers the group's committed offsets: of the partitions
// named (each on a topic the caller may fetch now), or of every topic
// the caller may fetch now.
func (a consumerAPI) getCommitted(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	b, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	var parts []instances.Partition
	if t := bytes.TrimSpace(b); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		var req struct {
			Partitions []topicPartitionJSON `json:"partitions"`
		}
		if err := requiredBody(t, &req); err != nil {
			return err
		}
		if parts, err = parsePartitions(req.Partitions); err != nil {
			return err
		}
	}
	return a.withInstance(w, r, b, func(in *instances.Instance) error {
		offs, err := in.Committed(r.Context(), instances.OwnerFor(r.Context()).Live, parts)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, mtV2, map[string]any{"offsets": offs})
		return nil
	})
}
