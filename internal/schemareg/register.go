package schemareg

import (
	"context"
	"fmt"
	"strings"

	"github.com/kgate/kgate/internal/ktable"
)

// Registration is a schema to register, look up or check.
type Registration struct {
	Schema     string
	Type       string // "" is AVRO
	References []Reference
	// Normalize stores and compares the schema's normalized text.
	Normalize bool
	// ID and Version, in IMPORT mode, are the id and version to register
	// under (0: allocate).
	ID, Version int
}

// maxRefDepth bounds reference chains.
const maxRefDepth = 32

// prepared is a parsed registration.
type prepared struct {
	typ    SchemaType
	parsed Parsed
	text   string
	fp     string
	refs   []Reference
}

func (r *Registry) prepare(reg Registration) (*prepared, error) {
	typ, ok := ParseType(reg.Type)
	if !ok {
		return nil, errorf(CodeInvalidSchema, "Invalid schema type %q", reg.Type)
	}
	if strings.TrimSpace(reg.Schema) == "" {
		return nil, errorf(CodeInvalidSchema, "Empty schema")
	}
	refs := reg.References
	if refs == nil {
		refs = []Reference{}
	}
	r.mu.RLock()
	named, err := r.resolveRefs(refs, 0, map[SubjectVersion]bool{})
	r.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	p, err := Parse(Source{Type: typ, Schema: reg.Schema, Refs: named})
	if err != nil {
		return nil, &Error{Code: CodeInvalidSchema, Message: fmt.Sprintf("Invalid schema: %s", oneLine(err.Error())), Cause: err}
	}
	// The canonical form identifies the schema either way (for AVRO and
	// JSON it is the normalized text).
	text, canonical := reg.Schema, p.Canonical()
	if reg.Normalize {
		text = p.Normalized()
	}
	return &prepared{typ: typ, parsed: p, text: text, fp: fingerprint(typ, canonical, refs), refs: refs}, nil
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 1000 {
		s = s[:1000] + "..."
	}
	return s
}

// resolveRefs returns the referenced texts, dependencies first; r.mu is
// held.
func (r *Registry) resolveRefs(refs []Reference, depth int, seen map[SubjectVersion]bool) ([]NamedSchema, error) {
	if depth > maxRefDepth {
		return nil, errorf(CodeInvalidSchema, "Invalid schema: references nest deeper than %d", maxRefDepth)
	}
	var out []NamedSchema
	for _, ref := range refs {
		if ref.Name == "" || ref.Subject == "" {
			return nil, errorf(CodeInvalidSchema, "Invalid schema: a reference needs a name and a subject")
		}
		s, err := r.versionLocked(ref.Subject, ref.Version, false)
		if ref.Version == 0 || err != nil {
			return nil, errorf(CodeInvalidSchema, "Invalid schema: reference %q to subject %q version %d not found", ref.Name, ref.Subject, ref.Version)
		}
		sv := SubjectVersion{s.Subject, s.Version}
		if seen[sv] {
			continue
		}
		seen[sv] = true
		deps, err := r.resolveRefs(s.References, depth+1, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, deps...)
		out = append(out, NamedSchema{Name: ref.Name, Schema: s.Schema})
	}
	return out, nil
}

// parsedOf returns a stored schema parsed; r.mu is held.
func (r *Registry) parsedOf(s *Schema) (Parsed, error) {
	if p, ok := r.parsed.Load(s.ID); ok {
		return p.(Parsed), nil
	}
	named, err := r.resolveRefs(s.References, 0, map[SubjectVersion]bool{})
	if err != nil {
		return nil, err
	}
	p, err := Parse(Source{Type: s.Type, Schema: s.Schema, Refs: named})
	if err != nil {
		return nil, fmt.Errorf("stored schema %d no longer parses: %w", s.ID, err)
	}
	r.parsed.Store(s.ID, p)
	return p, nil
}

func (r *Registry) fingerprintOf(s *Schema) string {
	p, err := r.parsedOf(s)
	if err != nil {
		return ""
	}
	return fingerprint(s.Type, p.Canonical(), nonNil(s.References))
}

func nonNil(refs []Reference) []Reference {
	if refs == nil {
		return []Reference{}
	}
	return refs
}

// findLocked returns the version of subject holding the prepared schema;
// r.mu is held.
func (r *Registry) findLocked(subject string, p *prepared, deleted bool) *Schema {
	vs := r.versionsOf(subject, deleted)
	for i := len(vs) - 1; i >= 0; i-- {
		s := vs[i]
		if s.Type == p.typ && r.fingerprintOf(s) == p.fp {
			return s
		}
	}
	return nil
}

// Lookup finds the version of a subject that holds a schema.
func (r *Registry) Lookup(subject string, reg Registration, deleted bool) (Schema, error) {
	p, err := r.prepare(reg)
	if err != nil {
		if e, ok := err.(*Error); ok && e.Code == CodeInvalidSchema && !r.exists(subject, deleted) {
			return Schema{}, subjectNotFound(subject)
		}
		return Schema{}, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.versionsOf(subject, deleted)) == 0 {
		return Schema{}, subjectNotFound(subject)
	}
	if s := r.findLocked(subject, p, deleted); s != nil {
		return *s, nil
	}
	return Schema{}, errorf(CodeSchemaNotFound, "Schema not found")
}

func (r *Registry) exists(subject string, deleted bool) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.versionsOf(subject, deleted)) > 0
}

// check returns why p may not follow the given versions at level.
func (r *Registry) check(level Level, p *prepared, against []*Schema) ([]string, error) {
	if level == None || len(against) == 0 {
		return nil, nil
	}
	if !level.transitive() {
		against = against[len(against)-1:]
	}
	var msgs []string
	olds := make([]Parsed, 0, len(against))
	versions := make([]int, 0, len(against))
	for _, old := range against {
		if old.Type != p.typ {
			msgs = append(msgs, fmt.Sprintf("version %d: the schema type changed from %s to %s", old.Version, old.Type, p.typ))
			continue
		}
		op, err := r.parsedOf(old)
		if err != nil {
			return nil, storeError(err)
		}
		olds = append(olds, op)
		versions = append(versions, old.Version)
	}
	for i, op := range olds {
		for _, m := range Check(level, p.parsed, op) {
			msgs = append(msgs, fmt.Sprintf("version %d: %s", versions[i], m))
		}
	}
	return msgs, nil
}

// Check returns why a new schema may not follow an old one at level
// (transitivity is the caller's: it calls Check for each old schema the
// level names); none when it may.
func Check(level Level, newer, older Parsed) []string {
	var msgs []string
	if level.backward() {
		for _, m := range newer.CanRead(older) {
			msgs = append(msgs, "the new schema cannot read data written with the old one (BACKWARD): "+m)
		}
	}
	if level.forward() {
		for _, m := range older.CanRead(newer) {
			msgs = append(msgs, "the old schema cannot read data written with the new one (FORWARD): "+m)
		}
	}
	return msgs
}

// Compatibility checks a schema against one version of a subject (Latest:
// the latest) or, with version 0, against the versions its level names.
// It returns the reasons it is incompatible, none when it is compatible.
func (r *Registry) Compatibility(subject string, version int, reg Registration) ([]string, error) {
	p, err := r.prepare(reg)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	level := r.level(subject)
	var against []*Schema
	if version == 0 {
		against = r.versionsOf(subject, false)
	} else {
		s, err := r.versionLocked(subject, version, false)
		if err != nil {
			return nil, err
		}
		against = []*Schema{s}
	}
	return r.check(level, p, against)
}

// Register registers a schema under a subject and returns the version
// holding it and whether it is new: the existing one when the subject
// already has the schema, else a new version, refused (CodeIncompatible)
// when it breaks the subject's compatibility level. The same schema gets
// the same id in every subject.
func (r *Registry) Register(ctx context.Context, subject string, reg Registration) (Schema, bool, error) {
	s, err := r.registerVersion(ctx, subject, reg)
	if err != nil {
		return Schema{}, false, err
	}
	return s.Schema, s.created, nil
}

type registered struct {
	Schema
	created bool
}

func (r *Registry) registerVersion(ctx context.Context, subject string, reg Registration) (registered, error) {
	p, err := r.prepare(reg)
	if err != nil {
		return registered{}, err
	}
	done, err := r.begin(ctx)
	if err != nil {
		return registered{}, err
	}
	defer done()
	if err := r.writable(subject); err != nil {
		return registered{}, err
	}
	r.mu.RLock()
	importing := r.mode(subject) == Import
	r.mu.RUnlock()
	if (reg.ID != 0 || reg.Version != 0) && !importing {
		return registered{}, errorf(CodeOperationNotPermitted, "Registering a schema with an id or a version is only permitted in IMPORT mode")
	}
	// Another replica may win the version this one picks; then it tries
	// again on what it has read since.
	for range 5 {
		r.mu.RLock()
		if s := r.findLocked(subject, p, false); s != nil && (reg.ID == 0 || reg.ID == s.ID) {
			r.mu.RUnlock()
			return registered{Schema: *s}, nil
		}
		live := r.versionsOf(subject, false)
		all := r.versionsOf(subject, true)
		level := r.level(subject)
		id, known := r.idOf[p.fp]
		r.mu.RUnlock()
		if !importing {
			msgs, err := r.check(level, p, live)
			if err != nil {
				return registered{}, err
			}
			if len(msgs) > 0 {
				return registered{}, errorf(CodeIncompatible, "Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]", subject, strings.Join(msgs, "; "))
			}
		}
		switch {
		case reg.ID != 0:
			if err := r.claimExact(ctx, reg.ID, p.fp); err != nil {
				return registered{}, err
			}
			id = reg.ID
		case !known:
			if id, err = r.claim(ctx, p.fp); err != nil {
				return registered{}, err
			}
		}
		version := 1
		if len(all) > 0 {
			version = all[len(all)-1].Version + 1
		}
		if reg.Version != 0 {
			version = reg.Version
			r.mu.RLock()
			cur := r.subjects[subject][version]
			r.mu.RUnlock()
			if cur != nil {
				return registered{}, errorf(CodeOperationNotPermitted, "Version %d of subject %s exists already", version, subject)
			}
		}
		s := Schema{Subject: subject, Version: version, ID: id, Type: p.typ, References: p.refs, Schema: p.text}
		key := schemaKeyOf(subject, version)
		if err := r.put(ctx, ktable.KV{Key: key, Value: mustJSON(s)}); err != nil {
			return registered{}, err
		}
		r.mu.RLock()
		won := r.subjects[subject][version]
		r.mu.RUnlock()
		if won != nil && won.ID == id {
			r.logger.Info("schema registered", "subject", subject, "version", version, "id", id, "schema_type", p.typ)
			return registered{Schema: s, created: true}, nil
		}
		if won != nil {
			// Lost the version: rewrite the winner's record so that
			// compaction keeps it, then try again.
			if err := r.put(ctx, ktable.KV{Key: key, Value: mustJSON(*won)}); err != nil {
				return registered{}, err
			}
		}
	}
	return registered{}, storeError(fmt.Errorf("registering under %q: lost the race for a version five times", subject))
}

// claim wins an id for a fingerprint (or learns the one it already has).
func (r *Registry) claim(ctx context.Context, fp string) (int, error) {
	for range 100 {
		r.mu.RLock()
		id, known := r.idOf[fp]
		next := r.maxID + 1
		r.mu.RUnlock()
		if known {
			return id, nil
		}
		if err := r.put(ctx, ktable.KV{Key: claimKeyOf(next, fp), Value: mustJSON(claimValue{next, fp})}); err != nil {
			return 0, err
		}
	}
	return 0, storeError(fmt.Errorf("no schema id won after 100 claims"))
}

// claimExact claims a given id (IMPORT mode).
func (r *Registry) claimExact(ctx context.Context, id int, fp string) error {
	r.mu.RLock()
	owner, taken := r.claims[id]
	r.mu.RUnlock()
	if !taken {
		if err := r.put(ctx, ktable.KV{Key: claimKeyOf(id, fp), Value: mustJSON(claimValue{id, fp})}); err != nil {
			return err
		}
		r.mu.RLock()
		owner = r.claims[id]
		r.mu.RUnlock()
	}
	if owner != fp {
		return errorf(CodeOperationNotPermitted, "Overwrite new schema with id %d is not permitted: the id holds another schema", id)
	}
	return nil
}

// DeleteVersion soft-deletes a version (permanent: removes a
// soft-deleted one) and returns its number.
func (r *Registry) DeleteVersion(ctx context.Context, subject string, version int, permanent bool) (int, error) {
	done, err := r.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	if err := r.writable(subject); err != nil {
		return 0, err
	}
	r.mu.RLock()
	s, err := r.versionLocked(subject, version, permanent)
	if err != nil && !permanent && version != Latest {
		if cur := r.subjects[subject][version]; cur != nil && cur.Deleted {
			err = errorf(CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, version)
		}
	}
	var refs []int
	if err == nil {
		refs = r.referrersLocked(s.Subject, s.Version)
	}
	r.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	if len(refs) > 0 {
		return 0, errorf(CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}: ids %v", subject, s.Version, refs)
	}
	if permanent {
		if !s.Deleted {
			return 0, errorf(CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, s.Version)
		}
		return s.Version, r.put(ctx, ktable.KV{Key: schemaKeyOf(subject, s.Version)})
	}
	d := *s
	d.Deleted = true
	return s.Version, r.put(ctx, ktable.KV{Key: schemaKeyOf(subject, s.Version), Value: mustJSON(d)})
}

// DeleteSubject soft-deletes every version of a subject (permanent:
// removes a soft-deleted subject with its config and mode) and returns
// the versions deleted.
func (r *Registry) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	done, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := r.writable(subject); err != nil {
		return nil, err
	}
	r.mu.RLock()
	all := r.versionsOf(subject, true)
	live := r.versionsOf(subject, false)
	var refs []int
	for _, s := range live {
		refs = append(refs, r.referrersLocked(s.Subject, s.Version)...)
	}
	r.mu.RUnlock()
	switch {
	case len(all) == 0:
		return nil, subjectNotFound(subject)
	case permanent && len(live) > 0:
		return nil, errorf(CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
	case !permanent && len(live) == 0:
		return nil, errorf(CodeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
	case len(refs) > 0:
		return nil, errorf(CodeReferenceExists, "One or more references exist to the schemas of subject %s: ids %v", subject, refs)
	}
	var kvs []ktable.KV
	var versions []int
	if permanent {
		for _, s := range all {
			kvs = append(kvs, ktable.KV{Key: schemaKeyOf(subject, s.Version)})
			versions = append(versions, s.Version)
		}
		kvs = append(kvs, ktable.KV{Key: settingKeyOf(keyConfig, subject)}, ktable.KV{Key: settingKeyOf(keyMode, subject)})
	} else {
		for _, s := range live {
			d := *s
			d.Deleted = true
			kvs = append(kvs, ktable.KV{Key: schemaKeyOf(subject, s.Version), Value: mustJSON(d)})
			versions = append(versions, s.Version)
		}
	}
	return versions, r.put(ctx, kvs...)
}
