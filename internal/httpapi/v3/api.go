// Package v3 serves Confluent's REST Proxy API v3 under /v3/clusters: the
// admin resources (clusters, brokers, configs, topics, partitions,
// replicas, consumer groups, ACLs) in Confluent's envelopes, and produce
// as a full-duplex stream of records and as a batch. See
// reference/confluent-rest.md §0, §3 and §4 for the contract it keeps.
package v3

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/ratelimit"
	"github.com/kgate/kgate/internal/record"
	"github.com/kgate/kgate/internal/schemareg"
)

// Deps are what the v3 API needs.
type Deps struct {
	Kafka   *kafka.Client
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// AdvertisedURL, if set, is the base of metadata.self and related
	// links; otherwise the request's scheme and Host are.
	AdvertisedURL string
	// MaxRecordBytes caps one record of the produce stream (the stream
	// itself is unbounded).
	MaxRecordBytes int64
	// ReadTimeout and WriteTimeout bound reading one record of a stream
	// and writing one receipt; the stream extends them per record.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// Draining is closed when the server starts shutting down: produce
	// streams stop reading, answer what they read and end cleanly.
	Draining <-chan struct{}
	// Visible reports whether the caller may see a topic's partitions
	// and offsets in a group's assignments and lags (its fetch,
	// show_topic or show_offsets rights); nil shows every topic.
	Visible func(ctx context.Context, topic string) bool
	// RecordTimeout bounds receiving one record of a stream, first byte
	// to last; StreamMaxDuration a stream's whole life (0: the defaults).
	RecordTimeout     time.Duration
	StreamMaxDuration time.Duration
	// MaxStreams and MaxStreamsPerPrincipal bound the produce streams
	// open at once on the node and per principal (0: the defaults), and
	// separately the push streams.
	MaxStreams, MaxStreamsPerPrincipal int
	// Schemas resolves the schema formats of produced records (nil: no
	// registry, they answer 42206); Audit records the schemas produces
	// register (nil: none).
	Schemas *schemareg.Formats
	Audit   *audit.Log
	// StreamHeartbeat is how long a push stream stays silent before it
	// sends a heartbeat (0: the default).
	StreamHeartbeat time.Duration
	// AllowedOrigins are http.allowed_origins: pages from these origins
	// may open WebSockets (kgate's own origin always may).
	AllowedOrigins []string
}

const mtJSON = "application/json"

// resolver returns the schema resolver of a request producing to topic
// (nil without a registry), done, which audits the schemas the request
// registered, and info, which makes a receipt's key or value part (with
// the subject, schema id and version of a schema format). A schema given
// in full is registered only if the caller may write its subject; an id
// or subject is used only if the caller may read it.
func (a *api) resolver(r *http.Request, topic string) (res record.Resolver, done func(), info func(key bool, f record.Name, b []byte) dataInfo) {
	plain := func(_ bool, f record.Name, b []byte) dataInfo { return infoOf(f, b) }
	if a.schemas == nil {
		return nil, func() {}, plain
	}
	ctx := r.Context()
	sres := a.schemas.NewResolver(ctx, topic, func(write bool, subject string) bool {
		if write {
			return auth.Allowed(ctx, auth.SubjectWrite, subject)
		}
		return auth.Allowed(ctx, auth.SubjectRead, subject)
	})
	done = func() {
		for _, s := range sres.Created() {
			a.audit.Write(ctx, httpapi.ChangeRecord(r, audit.SchemaChange, auth.SubjectWrite, s.Subject,
				fmt.Sprintf("registered by a produce: version %d, id %d", s.Version, s.ID)))
		}
	}
	info = func(key bool, f record.Name, b []byte) dataInfo {
		d := infoOf(f, b)
		if f.NeedsSchema() && len(b) >= 5 && b[0] == 0 {
			d.SchemaID = int(binary.BigEndian.Uint32(b[1:5]))
			d.Subject, d.SchemaVersion, _ = sres.Named(key, d.SchemaID)
		}
		return d
	}
	return sres, done, info
}

type api struct {
	kc     *kafka.Client
	m      *metrics.Metrics
	logger *slog.Logger
	advURL string

	maxRecord     int64
	readTimeout   time.Duration
	writeTimeout  time.Duration
	recordTimeout time.Duration
	maxDuration   time.Duration
	draining      <-chan struct{}
	visible       func(ctx context.Context, topic string) bool
	// streams bounds open produce streams; perPrincipal is each
	// principal's share.
	streams      *ratelimit.Slots
	perPrincipal int
	schemas      *schemareg.Formats
	audit        *audit.Log
	// pushSlots bounds open push streams (SSE, WebSocket), with the same
	// caps, apart from produce streams.
	pushSlots *ratelimit.Slots
	heartbeat time.Duration
	origins   []string // WebSocket Origin host patterns
	allowed   []string // http.allowed_origins, for CORS

	// The cluster id, from the broker; checked against every path.
	cidMu sync.Mutex
	cid   string
	cidAt time.Time
}

func newAPI(d Deps) *api {
	a := &api{
		kc: d.Kafka, m: d.Metrics, logger: d.Logger, advURL: strings.TrimSuffix(d.AdvertisedURL, "/"),
		maxRecord:   d.MaxRecordBytes,
		readTimeout: d.ReadTimeout, writeTimeout: d.WriteTimeout, draining: d.Draining,
		visible: d.Visible,
		schemas: d.Schemas, audit: d.Audit,
		recordTimeout: d.RecordTimeout, maxDuration: d.StreamMaxDuration, perPrincipal: d.MaxStreamsPerPrincipal,
	}
	if a.visible == nil {
		a.visible = func(context.Context, string) bool { return true }
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	def := config.Default().HTTP // serve's defaults, written once
	if a.maxRecord <= 0 {
		a.maxRecord = int64(def.MaxBodyBytes)
	}
	if a.readTimeout <= 0 {
		a.readTimeout = def.ReadTimeout.D()
	}
	if a.writeTimeout <= 0 {
		a.writeTimeout = def.WriteTimeout.D()
	}
	if a.recordTimeout <= 0 {
		a.recordTimeout = def.RecordTimeout.D()
	}
	if a.maxDuration <= 0 {
		a.maxDuration = def.StreamMaxDuration.D()
	}
	if a.perPrincipal <= 0 {
		a.perPrincipal = def.MaxStreamsPerPrincipal
	}
	node := d.MaxStreams
	if node <= 0 {
		node = def.MaxStreams
	}
	a.streams = ratelimit.NewSlots("produce streams", node)
	a.pushSlots = ratelimit.NewSlots("push streams", node)
	a.heartbeat = d.StreamHeartbeat
	if a.heartbeat <= 0 {
		a.heartbeat = def.StreamHeartbeat.D()
	}
	a.origins = originPatterns(d.AllowedOrigins)
	a.allowed = d.AllowedOrigins
	return a
}

// clusterID returns the cluster's id, asking the broker at most every few
// seconds when a path names another one (so that a new id is seen).
func (a *api) clusterID(ctx context.Context, want string) (string, error) {
	a.cidMu.Lock()
	id, at := a.cid, a.cidAt
	a.cidMu.Unlock()
	if id != "" && (id == want || time.Since(at) < 5*time.Second) {
		return id, nil
	}
	ci, err := a.kc.Cluster(ctx)
	if err != nil {
		return "", err
	}
	a.cidMu.Lock()
	a.cid, a.cidAt = ci.ClusterID, time.Now()
	a.cidMu.Unlock()
	return ci.ClusterID, nil
}

// links builds a request's URLs and resource names.
type links struct {
	base string // scheme://host, no trailing slash
	cid  string
}

func (a *api) base(r *http.Request) string {
	if a.advURL != "" {
		return a.advURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// cluster checks the path's cluster_id against the broker's and returns
// the request's links. Any other id is 404, as on Confluent.
func (a *api) cluster(r *http.Request) (links, error) {
	want := r.PathValue("cluster_id")
	id, err := a.clusterID(r.Context(), want)
	if err != nil {
		return links{}, err
	}
	if want != id {
		return links{}, httpapi.ErrNotFound.Msg("Cluster %s cannot be found.", want)
	}
	return links{base: a.base(r), cid: id}, nil
}

// url is base/v3/clusters/<cid>/<segments...>, each segment escaped.
func (l links) url(segments ...string) string {
	var b strings.Builder
	b.WriteString(l.base)
	b.WriteString("/v3/clusters/")
	b.WriteString(url.PathEscape(l.cid))
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// crn is crn:///kafka=<cid>/<type>=<id>/...; an odd last component is
// written without "=" (as Confluent's lag-summary).
func (l links) crn(components ...string) string {
	var b strings.Builder
	b.WriteString("crn:///kafka=")
	b.WriteString(l.cid)
	for i := 0; i < len(components); i += 2 {
		b.WriteByte('/')
		b.WriteString(components[i])
		if i+1 < len(components) {
			b.WriteByte('=')
			b.WriteString(components[i+1])
		}
	}
	return b.String()
}

// Envelope parts (reference §4.1).
type meta struct {
	Self         string `json:"self"`
	ResourceName string `json:"resource_name,omitempty"`
}

type listMeta struct {
	Self string  `json:"self"`
	Next *string `json:"next"`
}

type rel struct {
	Related string `json:"related"`
}

type list[T any] struct {
	Kind     string   `json:"kind"`
	Metadata listMeta `json:"metadata"`
	Data     []T      `json:"data"`
}

func newList[T any](kind, self string, data []T) list[T] {
	if data == nil {
		data = []T{}
	}
	return list[T]{Kind: kind, Metadata: listMeta{Self: self}, Data: data}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	httpapi.WriteJSON(w, status, mtJSON, v)
	return nil
}

// jsonContent checks a request body's Content-Type: JSON, or none.
func jsonContent(r *http.Request) error {
	switch mt := httpapi.MediaType(r.Header.Get("Content-Type")); {
	case mt == "", mt == mtJSON, strings.HasSuffix(mt, "+json"):
		return nil
	default:
		return httpapi.ErrUnsupportedMediaType.Msg("HTTP 415 Unsupported Media Type: %q; send %s.", mt, mtJSON)
	}
}

// readBody reads a JSON request body into dst. An empty or null body is
// 422 with emptyMsg (Confluent's "Request body is empty..." wording).
func readBody(r *http.Request, dst any, emptyMsg string) error {
	if err := jsonContent(r); err != nil {
		return err
	}
	b, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return httpapi.ErrPayload.Msg("Payload error. %s", emptyMsg)
	}
	if t[0] != '{' {
		return httpapi.ErrBadRequest.Msg("The request body must be a JSON object.")
	}
	return httpapi.DecodeJSON(t, dst)
}

const emptyData = "Request body is empty. Data is required."

func itoa(i int) string { return strconv.Itoa(i) }
