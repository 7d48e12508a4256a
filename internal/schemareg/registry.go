// Package schemareg is kgate's schema registry: Confluent's Schema
// Registry model (subjects, versions, global ids, compatibility levels,
// modes, soft and hard deletes, references) kept in a compacted _schemas
// topic that every kgate replica replays and follows, so that all of them
// serve the same ids. Schemas are AVRO, JSON (JSON Schema) or PROTOBUF,
// each parsed and checked for compatibility by its own format (avro.go,
// jsonschema.go, protobuf.go).
//
// The HTTP API is internal/httpapi/schemareg; this package knows nothing
// of HTTP.
package schemareg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ktable"
)

// DefaultTopic is the topic schemas are kept in, Confluent's default.
const DefaultTopic = "_schemas"

// Schema is one version of a subject.
type Schema struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	Type       SchemaType  `json:"schemaType"`
	References []Reference `json:"references"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

// Options configure Open.
type Options struct {
	// Topic defaults to DefaultTopic.
	Topic  string
	Logger *slog.Logger
}

// Registry is the schema registry. Its methods are safe for concurrent
// use.
type Registry struct {
	table  *ktable.Table
	logger *slog.Logger

	// writeMu serializes this replica's writes (each one reads the state,
	// decides and writes).
	writeMu sync.Mutex

	// parsed caches parsed schemas by id (an id's text and references
	// never change).
	parsed sync.Map // int -> Parsed

	// mu guards the state below, folded from the topic by apply.
	mu       sync.RWMutex
	subjects map[string]map[int]*Schema
	ids      map[int]*Schema
	claims   map[int]string // id -> fingerprint of its first claim
	idOf     map[string]int // fingerprint -> lowest id it won
	maxID    int
	configs  map[string]Level // "" is the global level
	modes    map[string]Mode  // "" is the global mode
}

// Open creates the topic if missing (compacted, one partition), replays
// it and returns the registry; Run must then follow it.
func Open(ctx context.Context, kc *kafka.Client, o Options) (*Registry, error) {
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{logger: logger, subjects: map[string]map[int]*Schema{}, ids: map[int]*Schema{},
		claims: map[int]string{}, idOf: map[string]int{}, configs: map[string]Level{}, modes: map[string]Mode{}}
	t, err := ktable.Open(ctx, kc, ktable.Options{Topic: o.Topic, Apply: r.apply, Logger: logger,
		// Schemas are forever: a replica away for a week must still see
		// a hard delete.
		DeleteRetention: 7 * 24 * time.Hour})
	if err != nil {
		return nil, fmt.Errorf("opening the schema registry: %w", err)
	}
	r.table = t
	return r, nil
}

// Run follows the topic until ctx is done.
func (r *Registry) Run(ctx context.Context) error { return r.table.Run(ctx) }

// Topic returns the topic the registry is kept in.
func (r *Registry) Topic() string { return r.table.Topic() }

// begin takes the write lock and catches up with the topic, so that a
// write decides on what every replica wrote before it.
func (r *Registry) begin(ctx context.Context) (func(), error) {
	r.writeMu.Lock()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.table.CatchUp(cctx); err != nil {
		r.writeMu.Unlock()
		return nil, storeError(fmt.Errorf("catching up with the schemas topic: %w", err))
	}
	return r.writeMu.Unlock, nil
}

func (r *Registry) put(ctx context.Context, kvs ...ktable.KV) error {
	if err := r.table.Put(ctx, kvs...); err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return err
		}
		return storeError(err)
	}
	return nil
}

// ValidSubject reports whether s can name a subject: not empty, at most
// 255 bytes, no control characters.
func ValidSubject(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// Subjects returns the subjects with a live version (any version with
// deleted), sorted, those with prefix only.
func (r *Registry) Subjects(prefix string, deleted bool) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for s := range r.subjects {
		if strings.HasPrefix(s, prefix) && len(r.versionsOf(s, deleted)) > 0 {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Versions returns a subject's version numbers, ascending.
func (r *Registry) Versions(subject string, deleted bool) ([]int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	vs := r.versionsOf(subject, deleted)
	if len(vs) == 0 {
		return nil, subjectNotFound(subject)
	}
	out := make([]int, len(vs))
	for i, s := range vs {
		out[i] = s.Version
	}
	return out, nil
}

// Latest stands for a subject's latest version.
const Latest = -1

// ParseVersion reads a version path segment: "latest", -1 (latest) or a
// positive number.
func ParseVersion(s string) (int, error) {
	if s == "latest" {
		return Latest, nil
	}
	n := 0
	for i, c := range s {
		if c == '-' && i == 0 && s == "-1" {
			return Latest, nil
		}
		if c < '0' || c > '9' || n > (1<<31-1)/10 {
			return 0, invalidVersion(s)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 1<<31-1 {
		return 0, invalidVersion(s)
	}
	return n, nil
}

func invalidVersion(s string) *Error {
	return errorf(CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
}

// Version returns one version of a subject (Latest: the latest).
func (r *Registry) Version(subject string, version int, deleted bool) (Schema, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, err := r.versionLocked(subject, version, deleted)
	if err != nil {
		return Schema{}, err
	}
	return *s, nil
}

func (r *Registry) versionLocked(subject string, version int, deleted bool) (*Schema, error) {
	vs := r.versionsOf(subject, deleted)
	if len(vs) == 0 {
		return nil, subjectNotFound(subject)
	}
	if version == Latest {
		return vs[len(vs)-1], nil
	}
	for _, s := range vs {
		if s.Version == version {
			return s, nil
		}
	}
	return nil, versionNotFound(version)
}

// ByID returns the schema with an id (the first subject-version holding
// it, soft-deleted ones included, as Confluent does).
func (r *Registry) ByID(id int) (Schema, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.ids[id]
	if s == nil {
		return Schema{}, errorf(CodeSchemaNotFound, "Schema %d not found", id)
	}
	return *s, nil
}

// SubjectVersion names one version of a subject.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Usages returns the subject-versions holding an id.
func (r *Registry) Usages(id int, deleted bool) ([]SubjectVersion, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.ids[id] == nil {
		return nil, errorf(CodeSchemaNotFound, "Schema %d not found", id)
	}
	var out []SubjectVersion
	for _, vs := range r.subjects {
		for _, s := range vs {
			if s.ID == id && (deleted || !s.Deleted) {
				out = append(out, SubjectVersion{s.Subject, s.Version})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// All returns every version of every subject (with prefix), the latest
// only with latestOnly.
func (r *Registry) All(prefix string, deleted, latestOnly bool) []Schema {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.subjects))
	for s := range r.subjects {
		if strings.HasPrefix(s, prefix) {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	var out []Schema
	for _, n := range names {
		vs := r.versionsOf(n, deleted)
		if latestOnly && len(vs) > 0 {
			vs = vs[len(vs)-1:]
		}
		for _, s := range vs {
			out = append(out, *s)
		}
	}
	return out
}

// ReferencedBy returns the ids of live schemas referencing a version.
func (r *Registry) ReferencedBy(subject string, version int) ([]int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, err := r.versionLocked(subject, version, false)
	if err != nil {
		return nil, err
	}
	return r.referrersLocked(s.Subject, s.Version), nil
}

func (r *Registry) referrersLocked(subject string, version int) []int {
	var out []int
	for _, vs := range r.subjects {
		for _, s := range vs {
			if s.Deleted {
				continue
			}
			for _, ref := range s.References {
				if ref.Subject == subject && ref.Version == version && !slices.Contains(out, s.ID) {
					out = append(out, s.ID)
				}
			}
		}
	}
	sort.Ints(out)
	return out
}

// Config returns a subject's level ("": the global one) and whether it
// is set; an unset global level is DefaultLevel.
func (r *Registry) Config(subject string) (Level, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l, ok := r.configs[subject]
	if !ok && subject == "" {
		return DefaultLevel, false
	}
	return l, ok
}

// level is the level in force for a subject; r.mu is held.
func (r *Registry) level(subject string) Level {
	if l, ok := r.configs[subject]; ok {
		return l
	}
	if l, ok := r.configs[""]; ok {
		return l
	}
	return DefaultLevel
}

// SetConfig sets a subject's level ("": the global one).
func (r *Registry) SetConfig(ctx context.Context, subject string, l Level) error {
	done, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	return r.put(ctx, ktable.KV{Key: settingKeyOf(keyConfig, subject), Value: mustJSON(configValue{l})})
}

// DeleteConfig removes a subject's level (the global one: back to
// DefaultLevel) and returns the level it had.
func (r *Registry) DeleteConfig(ctx context.Context, subject string) (Level, error) {
	done, err := r.begin(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	old, ok := r.Config(subject)
	if !ok && subject != "" {
		return "", errorf(CodeSubjectConfigNotFound, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	return old, r.put(ctx, ktable.KV{Key: settingKeyOf(keyConfig, subject)})
}

// Mode returns a subject's mode ("": the global one) and whether it is
// set; an unset global mode is ReadWrite.
func (r *Registry) Mode(subject string) (Mode, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.modes[subject]
	if !ok && subject == "" {
		return ReadWrite, false
	}
	return m, ok
}

func (r *Registry) mode(subject string) Mode {
	if m, ok := r.modes[subject]; ok {
		return m
	}
	if m, ok := r.modes[""]; ok {
		return m
	}
	return ReadWrite
}

// SetMode sets a subject's mode ("": the global one). IMPORT needs the
// subject (the registry) to hold no schema unless force.
func (r *Registry) SetMode(ctx context.Context, subject string, m Mode, force bool) error {
	done, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if m == Import && !force {
		r.mu.RLock()
		n := len(r.subjects)
		if subject != "" {
			n = len(r.subjects[subject])
		}
		r.mu.RUnlock()
		if n > 0 {
			return errorf(CodeOperationNotPermitted, "Cannot import since found existing subjects")
		}
	}
	return r.put(ctx, ktable.KV{Key: settingKeyOf(keyMode, subject), Value: mustJSON(modeValue{m})})
}

// DeleteMode removes a subject's mode and returns the mode it had.
func (r *Registry) DeleteMode(ctx context.Context, subject string) (Mode, error) {
	done, err := r.begin(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	old, ok := r.Mode(subject)
	if !ok && subject != "" {
		return "", errorf(CodeSubjectModeNotFound, "Subject '%s' does not have subject-level mode configured", subject)
	}
	return old, r.put(ctx, ktable.KV{Key: settingKeyOf(keyMode, subject)})
}

func (r *Registry) writable(subject string) error {
	r.mu.RLock()
	m := r.mode(subject)
	r.mu.RUnlock()
	if m == ReadOnly {
		return errorf(CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	return nil
}
