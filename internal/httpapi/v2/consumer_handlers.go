package v2

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/record"
)

// consumerAPI serves the /consumers routes.
type consumerAPI struct {
	cs            *Consumers
	advertisedURL string
	authorize     Authorizer
	m             metricsSink
}

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
	o.owner = httpapi.Principal(r.Context())
	in, err := a.cs.create(group, o)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, mtV2, map[string]string{
		"instance_id": in.name,
		"base_uri":    a.baseURI(r, group, in.name),
	})
	return nil
}

// parseCreate validates every documented field of a create request; the
// body may be empty.
func (a consumerAPI) parseCreate(body []byte) (instanceOptions, error) {
	o := instanceOptions{
		format:         record.BinaryFormat,
		reset:          "latest",
		autoCommit:     true, // the Kafka consumer's default, as on Confluent
		minBytes:       a.cs.cfg.FetchMinBytes,
		requestTimeout: a.cs.cfg.RequestTimeout.D(),
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
	o.name = name
	if s, ok, err := str("format"); err != nil {
		return o, err
	} else if ok {
		fm, valid := parseFormat(s)
		if !valid {
			return o, httpapi.ErrUnprocessable.Msg("Invalid format type.")
		}
		f, ok := record.Builtin(fm)
		if !ok {
			return o, httpapi.ErrNoSchemaRegistry.Msg("Payload error. The %s format needs a Schema Registry and none is configured on this gateway; use binary or json.", fm.Lower())
		}
		o.format = f
	}
	if s, ok, err := str("auto.offset.reset"); err != nil {
		return o, err
	} else if ok {
		switch s {
		case "earliest", "latest", "none":
			o.reset = s
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
		o.autoCommit = b
	}
	if n, ok, err := num("fetch.min.bytes", "responseMinBytes"); err != nil {
		return o, err
	} else if ok {
		if n < -1 || n > 10000000 {
			return o, httpapi.ErrConsumerConfig.Msg("fetch.min.bytes must be between -1 and 10000000.")
		}
		o.minBytes = int(n)
	}
	if n, ok, err := num("consumer.request.timeout.ms", "requestWaitMs"); err != nil {
		return o, err
	} else if ok {
		if n < 0 || n > int64(time.Hour/time.Millisecond) {
			return o, httpapi.ErrConsumerConfig.Msg("consumer.request.timeout.ms must be between 0 and 3600000.")
		}
		o.requestTimeout = time.Duration(n) * time.Millisecond
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

// withInstance looks the instance up, holding it in use for fn.
func (a consumerAPI) withInstance(r *http.Request, fn func(*instance) error) error {
	in, err := a.cs.get(r.PathValue("group"), r.PathValue("instance"), httpapi.Principal(r.Context()))
	if err != nil {
		return err
	}
	defer in.release()
	return fn(in)
}

func (a consumerAPI) remove(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	if err := a.cs.remove(r.PathValue("group"), r.PathValue("instance"), httpapi.Principal(r.Context())); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type topicPartitionJSON struct {
	Topic     string `json:"topic"`
	Partition *int32 `json:"partition"`
}

func parsePartitions(list []topicPartitionJSON) ([]tp, error) {
	out := make([]tp, 0, len(list))
	for i, p := range list {
		if p.Topic == "" || p.Partition == nil {
			return nil, httpapi.ErrUnprocessable.Msg("partitions[%d] needs \"topic\" and \"partition\".", i)
		}
		if *p.Partition < 0 {
			return nil, httpapi.ErrPartitionNotFound
		}
		out = append(out, tp{p.Topic, *p.Partition})
	}
	return out, nil
}

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
			if err := a.authorize(r.Context(), auth.Fetch, t); err != nil {
				return err
			}
		}
	} else if err := a.authorize(r.Context(), auth.Fetch, "*"); err != nil {
		return err
	}
	return a.withInstance(r, func(in *instance) error {
		if err := in.subscribe(req.Topics, pattern); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (a consumerAPI) getSubscription(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	return a.withInstance(r, func(in *instance) error {
		httpapi.WriteJSON(w, http.StatusOK, mtV2, map[string][]string{"topics": in.subscription()})
		return nil
	})
}

func (a consumerAPI) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	return a.withInstance(r, func(in *instance) error {
		if err := in.unsubscribe(); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// partitionsBody decodes {"partitions":[...]} (required) and authorizes
// reading each topic.
func (a consumerAPI) partitionsBody(r *http.Request) ([]tp, error) {
	body, err := controlBody(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Partitions []topicPartitionJSON `json:"partitions"`
	}
	if err := requiredBody(body, &req); err != nil {
		return nil, err
	}
	parts, err := parsePartitions(req.Partitions)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if err := a.authorize(r.Context(), auth.Fetch, p.topic); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

func (a consumerAPI) assign(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	parts, err := a.partitionsBody(r)
	if err != nil {
		return err
	}
	return a.withInstance(r, func(in *instance) error {
		if err := in.assign(r.Context(), parts); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (a consumerAPI) getAssignments(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	return a.withInstance(r, func(in *instance) error {
		out := []topicPartitionJSON{}
		for _, p := range in.assignment() {
			out = append(out, topicPartitionJSON{Topic: p.topic, Partition: ptr(p.partition)})
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
	offsets := map[tp]int64{}
	for i, o := range req.Offsets {
		if o.Topic == "" || o.Partition == nil || o.Offset == nil || *o.Offset < 0 || *o.Partition < 0 {
			return httpapi.ErrUnprocessable.Msg("offsets[%d] needs \"topic\", \"partition\" and a non-negative \"offset\".", i)
		}
		offsets[tp{o.Topic, *o.Partition}] = *o.Offset
	}
	times := map[tp]time.Time{}
	for i, t := range req.Timestamps {
		ts, err := time.Parse(time.RFC3339Nano, t.Timestamp)
		if t.Topic == "" || t.Partition == nil || err != nil {
			return httpapi.ErrUnprocessable.Msg("timestamps[%d] needs \"topic\", \"partition\" and an ISO-8601 \"timestamp\".", i)
		}
		times[tp{t.Topic, *t.Partition}] = ts
	}
	return a.withInstance(r, func(in *instance) error {
		if err := in.seek(offsets); err != nil {
			return err
		}
		if len(times) > 0 {
			if err := in.seekTime(r.Context(), times); err != nil {
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
		parts, err := a.partitionsBody(r)
		if err != nil {
			return err
		}
		return a.withInstance(r, func(in *instance) error {
			if err := in.seekEdge(r.Context(), parts, start); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
	}
}

func (a consumerAPI) records(w http.ResponseWriter, r *http.Request) error {
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
	return a.withInstance(r, func(in *instance) error {
		if embeddedType(in.opts.format.Name()) != ct {
			return httpapi.ErrFormatMismatch
		}
		wait := in.opts.requestTimeout
		if timeout > 0 && time.Duration(timeout)*time.Millisecond < wait {
			wait = time.Duration(timeout) * time.Millisecond
		}
		// A long poll may outlast the server's write timeout: extend it.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 30*time.Second))
		limit := int64(a.cs.cfg.MaxBytes)
		if maxBytes > 0 && maxBytes < limit {
			limit = maxBytes
		}
		body, n, size, err := in.read(r.Context(), wait, limit)
		if err != nil {
			return err
		}
		if a.m != nil && n > 0 {
			a.m.consumed(n, size)
		}
		h := w.Header()
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
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

func (a consumerAPI) commit(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	body, err := controlBody(r)
	if err != nil {
		return err
	}
	var offsets map[tp]int64
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
			offsets = map[tp]int64{}
			for i, o := range req.Offsets {
				if o.Topic == "" || o.Partition == nil || o.Offset == nil || *o.Offset < 0 || *o.Partition < 0 {
					return httpapi.ErrUnprocessable.Msg("offsets[%d] needs \"topic\", \"partition\" and a non-negative \"offset\".", i)
				}
				// The client names the last record it processed; Kafka
				// stores the next one to read, as Confluent does.
				offsets[tp{o.Topic, *o.Partition}] = *o.Offset + 1
			}
		}
	}
	return a.withInstance(r, func(in *instance) error {
		if err := in.commit(r.Context(), offsets); err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, mtV2, []struct{}{})
		return nil
	})
}

func (a consumerAPI) getCommitted(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", mtV2)
	b, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	var parts []tp
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
	return a.withInstance(r, func(in *instance) error {
		offs, err := in.committed(r.Context(), parts)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, mtV2, map[string]any{"offsets": offs})
		return nil
	})
}
