package schemareg

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/singleflight"
)

// RemoteOptions configure NewRemote.
type RemoteOptions struct {
	// URL is the registry's base URL (a path allowed), with no
	// credentials in it.
	URL string
	// Username and Password authenticate with HTTP Basic; Token, when
	// set instead, as a bearer token.
	Username, Password string
	Token              string
	// CAFile verifies an https registry (empty: the system's roots).
	CAFile string
	// Timeout bounds each request to the registry; 0 is 10 seconds.
	Timeout time.Duration
	Logger  *slog.Logger
}

// remoteTTL is how long answers that can change (the version of a
// subject holding a schema, a subject's latest version, the subjects
// holding an id) are reused. Schemas by id never change and are kept.
const remoteTTL = 30 * time.Second

// maxRemoteEntries bounds each cache of answers that are keyed by what
// clients send (subjects, schema texts); a full cache starts over.
const maxRemoteEntries = 4096

// Remote is an external Confluent-compatible schema registry
// (schema_registry.url) that the REST formats resolve and register
// schemas with: Remote.Formats is what Registry.Formats is for kgate's
// own. Parsed schemas are cached by id for good, registrations and
// version lookups for remoteTTL. Its methods are safe for concurrent use.
type Remote struct {
	cl      *sr.Client
	timeout time.Duration
	logger  *slog.Logger
	flight  singleflight.Group

	mu       sync.Mutex
	ids      map[int]remoteSchema
	regs     map[regKey]expiring[Schema]
	versions map[versionKey]expiring[Schema]
	usagesOf map[int]expiring[[]SubjectVersion]
}

type remoteSchema struct {
	typ    SchemaType
	parsed Parsed
}

type regKey struct {
	subject string
	typ     SchemaType
	schema  string
}

type versionKey struct {
	subject string
	version int
}

type expiring[T any] struct {
	v  T
	at time.Time
}

func (e expiring[T]) fresh() bool { return time.Since(e.at) < remoteTTL }

// cached returns m's fresh entry for k, under mu.
func cached[K comparable, T any](mu *sync.Mutex, m map[K]expiring[T], k K) (T, bool) {
	mu.Lock()
	e, ok := m[k]
	mu.Unlock()
	if ok && e.fresh() {
		return e.v, true
	}
	var zero T
	return zero, false
}

// cache keeps v for k in m, under mu; a full map is emptied first
// (maxRemoteEntries).
func cache[K comparable, T any](mu *sync.Mutex, m map[K]expiring[T], k K, v T) {
	mu.Lock()
	defer mu.Unlock()
	if len(m) >= maxRemoteEntries {
		clear(m)
	}
	m[k] = expiring[T]{v, time.Now()}
}

// NewRemote returns a client of the registry at o.URL. It does not
// contact the registry: a registry that is down at start is tried again
// by each request that needs it.
func NewRemote(o RemoteOptions) (*Remote, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the schema registry's CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the schema registry's CA file %s holds no PEM certificate", o.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	opts := []sr.ClientOpt{sr.URLs(o.URL), sr.UserAgent("kgate"), sr.HTTPClient(&http.Client{Transport: tr, Timeout: o.Timeout})}
	switch {
	case o.Token != "":
		opts = append(opts, sr.BearerToken(o.Token))
	case o.Username != "":
		opts = append(opts, sr.BasicAuth(o.Username, o.Password))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the schema registry client: %w", err)
	}
	return &Remote{cl: cl, timeout: o.Timeout, logger: logger, ids: map[int]remoteSchema{}, regs: map[regKey]expiring[Schema]{},
		versions: map[versionKey]expiring[Schema]{}, usagesOf: map[int]expiring[[]SubjectVersion]{}}, nil
}

// Formats returns the REST formats backed by the external registry.
func (r *Remote) Formats() *Formats { return &Formats{src: r} }

// fail turns a registry client's error into an *Error with the
// registry's code when the client's request was at fault (a subject or
// schema not found, an invalid or incompatible schema), and into an
// error wrapping ErrUnavailable otherwise: unreachable, 5xx, or kgate's
// own credentials refused. The second is logged here, where its cause
// (which names the registry's URL, never credentials) is known.
func (r *Remote) fail(op string, err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		c := re.ErrorCode
		if (c >= 40400 && c < 40500) || c == 409 || (c >= 42200 && c < 42300) {
			return &Error{Code: ErrorCode(c), Message: re.Message}
		}
	}
	r.logger.Warn("schema registry request failed", "op", op, "err", err)
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

func (r *Remote) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, r.timeout)
}

func isCode(err error, codes ...ErrorCode) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}

func srType(t SchemaType) sr.SchemaType {
	switch t {
	case JSON:
		return sr.TypeJSON
	case Protobuf:
		return sr.TypeProtobuf
	}
	return sr.TypeAvro
}

func fromSRType(t sr.SchemaType) SchemaType {
	switch t {
	case sr.TypeJSON:
		return JSON
	case sr.TypeProtobuf:
		return Protobuf
	}
	return Avro
}

func srRefs(refs []Reference) []sr.SchemaReference {
	var out []sr.SchemaReference
	for _, ref := range refs {
		out = append(out, sr.SchemaReference{Name: ref.Name, Subject: ref.Subject, Version: ref.Version})
	}
	return out
}

// register finds the version of subject holding the schema, or
// registers it there.
func (r *Remote) register(ctx context.Context, subject string, reg Registration) (Schema, bool, error) {
	typ, ok := ParseType(reg.Type)
	if !ok {
		return Schema{}, false, errorf(CodeInvalidSchema, "Invalid schema type %q", reg.Type)
	}
	k := regKey{subject, typ, reg.Schema}
	if s, ok := cached(&r.mu, r.regs, k); ok {
		return s, false, nil
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	want := sr.Schema{Schema: reg.Schema, Type: srType(typ), References: srRefs(reg.References)}
	created := false
	found, err := r.cl.LookupSchema(ctx, subject, want)
	if err != nil {
		if err = r.fail("looking up a schema", err); !isCode(err, CodeSubjectNotFound, CodeSchemaNotFound) {
			return Schema{}, false, err
		}
		id, err := r.cl.RegisterSchema(ctx, subject, want, -1, -1)
		if err != nil {
			return Schema{}, false, r.fail("registering a schema", err)
		}
		created = true
		// The version, for the audit trail; the id is what matters.
		found = sr.SubjectSchema{ID: id}
		if again, err := r.cl.LookupSchema(ctx, subject, want); err == nil && again.ID == id {
			found = again
		}
	}
	s := Schema{Subject: subject, Version: found.Version, ID: found.ID, Type: typ, References: reg.References, Schema: reg.Schema}
	cache(&r.mu, r.regs, k, s)
	return s, created, nil
}

func (r *Remote) usages(ctx context.Context, id int) ([]SubjectVersion, error) {
	if v, ok := cached(&r.mu, r.usagesOf, id); ok {
		return v, nil
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	got, err := r.cl.SchemaVersionsByID(sr.WithParams(ctx, sr.ShowDeleted), id)
	if err != nil {
		return nil, r.fail("listing a schema's versions", err)
	}
	out := make([]SubjectVersion, len(got))
	for i, sv := range got {
		out[i] = SubjectVersion{Subject: sv.Subject, Version: sv.Version}
	}
	cache(&r.mu, r.usagesOf, id, out)
	return out, nil
}

func (r *Remote) version(ctx context.Context, subject string, version int) (Schema, error) {
	k := versionKey{subject, version}
	if s, ok := cached(&r.mu, r.versions, k); ok {
		return s, nil
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	got, err := r.cl.SchemaByVersion(ctx, subject, version)
	if err != nil {
		return Schema{}, r.fail("reading a subject version", err)
	}
	s := Schema{Subject: got.Subject, Version: got.Version, ID: got.ID, Type: fromSRType(got.Type), Schema: got.Schema.Schema}
	cache(&r.mu, r.versions, k, s)
	return s, nil
}

// schemaByID returns an id's schema, fetched once with what it
// references and parsed; concurrent first uses of an id share one fetch.
func (r *Remote) schemaByID(ctx context.Context, id int) (SchemaType, Parsed, error) {
	r.mu.Lock()
	s, ok := r.ids[id]
	r.mu.Unlock()
	if ok {
		return s.typ, s.parsed, nil
	}
	// The fetch is shared: one caller going away must not fail the
	// others.
	v, err, _ := r.flight.Do(strconv.Itoa(id), func() (any, error) {
		fctx, cancel := r.ctx(context.WithoutCancel(ctx))
		defer cancel()
		got, err := r.cl.SchemaByID(fctx, id)
		if err != nil {
			return nil, r.fail("reading a schema by id", err)
		}
		typ := fromSRType(got.Type)
		refs, err := r.references(fctx, got.References, 0, map[versionKey]bool{})
		if err != nil {
			return nil, err
		}
		p, err := Parse(Source{Type: typ, Schema: got.Schema, Refs: refs})
		if err != nil {
			return nil, fmt.Errorf("schema id %d, which kgate cannot parse: %s", id, oneLine(err.Error()))
		}
		s := remoteSchema{typ, p}
		r.mu.Lock()
		r.ids[id] = s
		r.mu.Unlock()
		return s, nil
	})
	if err != nil {
		return "", nil, err
	}
	s = v.(remoteSchema)
	return s.typ, s.parsed, nil
}

// references fetches the texts a schema references, dependencies first.
func (r *Remote) references(ctx context.Context, refs []sr.SchemaReference, depth int, seen map[versionKey]bool) ([]NamedSchema, error) {
	if depth > maxRefDepth {
		return nil, fmt.Errorf("schema references nest deeper than %d", maxRefDepth)
	}
	var out []NamedSchema
	for _, ref := range refs {
		k := versionKey{ref.Subject, ref.Version}
		if seen[k] {
			continue
		}
		seen[k] = true
		got, err := r.cl.SchemaByVersion(ctx, ref.Subject, ref.Version)
		if err != nil {
			return nil, r.fail("reading a referenced schema", err)
		}
		deps, err := r.references(ctx, got.References, depth+1, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, deps...)
		out = append(out, NamedSchema{Name: ref.Name, Schema: got.Schema.Schema})
	}
	return out, nil
}
