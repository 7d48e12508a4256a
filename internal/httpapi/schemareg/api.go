package schemareg

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/schemareg"
)

// Confluent's media types: answers are mediaV1; requests may be any.
const (
	mediaV1   = "application/vnd.schemaregistry.v1+json"
	mediaAny  = "application/vnd.schemaregistry+json"
	mediaJSON = "application/json"
)

var offers = []httpapi.Offer{{Type: mediaV1}, {Type: mediaAny, QS: 0.9}, {Type: mediaJSON, QS: 0.5}}

type api struct {
	reg   *schemareg.Registry
	audit *audit.Log
}

// negotiate picks the answer's media type; 406 when the client takes none.
func negotiate(w http.ResponseWriter, r *http.Request) (string, error) {
	accept := r.Header.Get("Accept")
	ct := httpapi.Negotiate(accept, offers)
	if ct == "" {
		w.Header().Set("Content-Type", mediaV1)
		return "", httpapi.ErrNotAcceptable
	}
	w.Header().Set("Content-Type", ct)
	return ct, nil
}

// reply negotiates and writes v with 200.
func reply(w http.ResponseWriter, r *http.Request, v any) error {
	ct, err := negotiate(w, r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ct, v)
	return nil
}

// decode reads a JSON body of one of Confluent's request media types.
func decode(r *http.Request, dst any) error {
	switch httpapi.MediaType(r.Header.Get("Content-Type")) {
	case "", mediaV1, mediaAny, mediaJSON, "application/octet-stream":
	default:
		return httpapi.ErrUnsupportedMediaType
	}
	b, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return httpapi.ErrBadRequest.Msg("The request body is empty.")
	}
	return httpapi.DecodeJSON(b, dst)
}

// catalog is the catalog entry of each registry error code.
var catalog = map[schemareg.ErrorCode]*httpapi.Error{
	schemareg.CodeSubjectNotFound:       httpapi.ErrSubjectNotFound,
	schemareg.CodeVersionNotFound:       httpapi.ErrVersionNotFound,
	schemareg.CodeSchemaNotFound:        httpapi.ErrSchemaNotFound,
	schemareg.CodeSubjectSoftDeleted:    httpapi.ErrSubjectSoftDeleted,
	schemareg.CodeSubjectNotSoftDeleted: httpapi.ErrSubjectNotSoftDeleted,
	schemareg.CodeVersionSoftDeleted:    httpapi.ErrVersionSoftDeleted,
	schemareg.CodeVersionNotSoftDeleted: httpapi.ErrVersionNotSoftDeleted,
	schemareg.CodeSubjectConfigNotFound: httpapi.ErrSubjectConfigNotFound,
	schemareg.CodeSubjectModeNotFound:   httpapi.ErrSubjectModeNotFound,
	schemareg.CodeIncompatible:          httpapi.ErrIncompatibleSchema,
	schemareg.CodeInvalidSchema:         httpapi.ErrInvalidSchema,
	schemareg.CodeInvalidVersion:        httpapi.ErrInvalidVersion,
	schemareg.CodeInvalidCompatibility:  httpapi.ErrInvalidCompatibility,
	schemareg.CodeInvalidMode:           httpapi.ErrInvalidMode,
	schemareg.CodeOperationNotPermitted: httpapi.ErrOperationNotPermitted,
	schemareg.CodeReferenceExists:       httpapi.ErrReferenceExists,
	schemareg.CodeStore:                 httpapi.ErrSchemaStore,
	schemareg.CodeStoreTimeout:          httpapi.ErrSchemaStoreTimeout,
}

// wire maps the registry's errors to the catalog; it is the one place
// they become wire errors.
func wire(err error) error {
	var e *schemareg.Error
	if !errors.As(err, &e) {
		return err
	}
	entry, ok := catalog[e.Code]
	if !ok {
		return httpapi.ErrInternal.Wrap(err)
	}
	he := entry.Msg("%s", e.Message)
	if e.Cause != nil {
		he = he.Wrap(e.Cause)
	}
	return he
}

func flag(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

func subjectOf(r *http.Request) (string, error) {
	s := r.PathValue("subject")
	if !schemareg.ValidSubject(s) {
		return "", httpapi.ErrSubjectNotFound.Msg("Subject '%s' not found.", s)
	}
	return s, nil
}

func versionOf(r *http.Request) (int, error) {
	v, err := schemareg.ParseVersion(r.PathValue("version"))
	return v, wire(err)
}

func idOf(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		return 0, httpapi.ErrSchemaNotFound.Msg("Schema %s not found", r.PathValue("id"))
	}
	return id, nil
}

// record writes a change to the audit trail.
func (a *api) record(r *http.Request, action auth.Action, subject, what string) {
	a.audit.Write(r.Context(), httpapi.ChangeRecord(r, audit.SchemaChange, action, subject, what))
}

// schemaBody is a schema as Confluent answers it: schemaType is left out
// for AVRO, references when there are none.
type schemaBody struct {
	Subject    string                `json:"subject,omitempty"`
	Version    int                   `json:"version,omitempty"`
	ID         int                   `json:"id,omitempty"`
	Type       string                `json:"schemaType,omitempty"`
	References []schemareg.Reference `json:"references,omitempty"`
	Schema     string                `json:"schema"`
}

func bodyOf(s schemareg.Schema, withSubject bool) schemaBody {
	b := schemaBody{Schema: s.Schema, References: s.References}
	if s.Type != schemareg.Avro {
		b.Type = string(s.Type)
	}
	if withSubject {
		b.Subject, b.Version, b.ID = s.Subject, s.Version, s.ID
	}
	return b
}

// registerRequest is a registration, lookup or compatibility body.
type registerRequest struct {
	Schema     string                `json:"schema"`
	SchemaType string                `json:"schemaType"`
	References []schemareg.Reference `json:"references"`
	ID         int                   `json:"id"`
	Version    int                   `json:"version"`
}

func (a *api) readRegistration(r *http.Request) (schemareg.Registration, error) {
	var req registerRequest
	if err := decode(r, &req); err != nil {
		return schemareg.Registration{}, err
	}
	// A reference reads another subject: the caller must be allowed to.
	for _, ref := range req.References {
		if !auth.Allowed(r.Context(), auth.SubjectRead, ref.Subject) {
			return schemareg.Registration{}, httpapi.ErrForbidden.Msg("Not authorized to read the referenced subject %q.", ref.Subject)
		}
	}
	return schemareg.Registration{Schema: req.Schema, Type: req.SchemaType, References: req.References,
		Normalize: flag(r, "normalize"), ID: req.ID, Version: req.Version}, nil
}

func (a *api) listSubjects(w http.ResponseWriter, r *http.Request) error {
	out := []string{}
	for _, s := range a.reg.Subjects(r.URL.Query().Get("subjectPrefix"), flag(r, "deleted")) {
		if auth.Allowed(r.Context(), auth.SubjectRead, s) {
			out = append(out, s)
		}
	}
	return reply(w, r, out)
}

func (a *api) listSchemas(w http.ResponseWriter, r *http.Request) error {
	out := []schemaBody{}
	for _, s := range a.reg.All(r.URL.Query().Get("subjectPrefix"), flag(r, "deleted"), flag(r, "latestOnly")) {
		if auth.Allowed(r.Context(), auth.SubjectRead, s.Subject) {
			out = append(out, bodyOf(s, true))
		}
	}
	return reply(w, r, out)
}

func (a *api) types(w http.ResponseWriter, r *http.Request) error {
	return reply(w, r, schemareg.Types())
}

// visibleID returns the schema with an id if the caller may read a
// subject holding it; else it is not found, so that ids do not leak
// other tenants' schemas.
func (a *api) visibleID(r *http.Request) (schemareg.Schema, []schemareg.SubjectVersion, error) {
	id, err := idOf(r)
	if err != nil {
		return schemareg.Schema{}, nil, err
	}
	s, err := a.reg.ByID(id)
	if err != nil {
		return schemareg.Schema{}, nil, wire(err)
	}
	usages, err := a.reg.Usages(id, true)
	if err != nil {
		return schemareg.Schema{}, nil, wire(err)
	}
	var visible []schemareg.SubjectVersion
	for _, u := range usages {
		if auth.Allowed(r.Context(), auth.SubjectRead, u.Subject) {
			visible = append(visible, u)
		}
	}
	if len(visible) == 0 {
		return schemareg.Schema{}, nil, httpapi.ErrSchemaNotFound.Msg("Schema %d not found", id)
	}
	return s, visible, nil
}

func (a *api) schemaByID(w http.ResponseWriter, r *http.Request) error {
	s, _, err := a.visibleID(r)
	if err != nil {
		return err
	}
	return reply(w, r, bodyOf(s, false))
}

func (a *api) rawByID(w http.ResponseWriter, r *http.Request) error {
	s, _, err := a.visibleID(r)
	if err != nil {
		return err
	}
	return raw(w, r, s.Schema)
}

// raw writes a schema's text as the body, as Confluent does (JSON for
// AVRO and JSON schemas, the .proto text for PROTOBUF).
func raw(w http.ResponseWriter, r *http.Request, text string) error {
	ct, err := negotiate(w, r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write([]byte(text))
	return err
}

func (a *api) idSubjects(w http.ResponseWriter, r *http.Request) error {
	_, usages, err := a.visibleID(r)
	if err != nil {
		return err
	}
	deleted := flag(r, "deleted")
	out := []string{}
	for _, u := range usages {
		if s, err := a.reg.Version(u.Subject, u.Version, true); err == nil && (deleted || !s.Deleted) {
			if len(out) == 0 || out[len(out)-1] != u.Subject {
				out = append(out, u.Subject)
			}
		}
	}
	return reply(w, r, out)
}

func (a *api) idVersions(w http.ResponseWriter, r *http.Request) error {
	_, usages, err := a.visibleID(r)
	if err != nil {
		return err
	}
	deleted := flag(r, "deleted")
	out := []schemareg.SubjectVersion{}
	for _, u := range usages {
		if s, err := a.reg.Version(u.Subject, u.Version, true); err == nil && (deleted || !s.Deleted) {
			out = append(out, u)
		}
	}
	return reply(w, r, out)
}

func (a *api) listVersions(w http.ResponseWriter, r *http.Request) error {
	s, err := subjectOf(r)
	if err != nil {
		return err
	}
	vs, err := a.reg.Versions(s, flag(r, "deleted"))
	if err != nil {
		return wire(err)
	}
	return reply(w, r, vs)
}

func (a *api) register(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectOf(r)
	if err != nil {
		return err
	}
	if _, err := negotiate(w, r); err != nil {
		return err
	}
	reg, err := a.readRegistration(r)
	if err != nil {
		return err
	}
	s, created, err := a.reg.Register(r.Context(), subject, reg)
	if err != nil {
		return wire(err)
	}
	if created {
		a.record(r, auth.SubjectWrite, subject, fmt.Sprintf("registered: version %d, id %d", s.Version, s.ID))
	}
	return reply(w, r, struct {
		ID int `json:"id"`
	}{s.ID})
}

func (a *api) getVersion(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectOf(r)
	if err != nil {
		return err
	}
	v, err := versionOf(r)
	if err != nil {
		return err
	}
	s, err := a.reg.Version(subject, v, flag(r, "deleted"))
	if err != nil {
		return wire(err)
	}
	return reply(w, r, bodyOf(s, true))
}

func (a *api) rawVersion(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectOf(r)
	if err != nil {
		return err
	}
	v, err := versionOf(r)
	if err != nil {
		return err
	}
	s, err := a.reg.Version(subject, v, flag(r, "deleted"))
	if err != nil {
		return wire(err)
	}
	return raw(w, r, s.Schema)
}

func (a *api) referencedBy(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectOf(r)
	if err != nil {
		return err
	}
	v, err := versionOf(r)
	if err != nil {
		return err
	}
	ids, err := a.reg.ReferencedBy(subject, v)
	if err != nil {
		return wire(err)
	}
	if ids == nil {
		ids = []int{}
	}
	return reply(w, r, ids)
}

func (a *api) deleteVersion(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectOf(r)
	if err != nil {
		return err
	}
	v, err := versionOf(r)
	if err != nil {
		return err
	}
	if _, err := negotiate(w, r); err != nil {
		return err
	}
	permanent := flag(r, "permanent")
	n, err := a.reg.DeleteVersion(r.Context(), subject, v, permanent)
	if err != nil {
		return wire(err)
	}
	a.record(r, auth.SubjectDelete, subject, fmt.Sprintf("version %d deleted (permanent: %v)", n, permanent))
	return reply(w, r, n)
}

func (a *api) lookup(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectOf(r)
	if err != nil {
		return err
	}
	if _, err := negotiate(w, r); err != nil {
		return err
	}
	reg, err := a.readRegistration(r)
	if err != nil {
		return err
	}
	s, err := a.reg.Lookup(subject, reg, flag(r, "deleted"))
	if err != nil {
		return wire(err)
	}
	return reply(w, r, bodyOf(s, true))
}

func (a *api) deleteSubject(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectOf(r)
	if err != nil {
		return err
	}
	if _, err := negotiate(w, r); err != nil {
		return err
	}
	permanent := flag(r, "permanent")
	vs, err := a.reg.DeleteSubject(r.Context(), subject, permanent)
	if err != nil {
		return wire(err)
	}
	a.record(r, auth.SubjectDelete, subject, fmt.Sprintf("subject deleted, versions %v (permanent: %v)", vs, permanent))
	return reply(w, r, vs)
}

func (a *api) compatibility(oneVersion bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		subject, err := subjectOf(r)
		if err != nil {
			return err
		}
		v := 0
		if oneVersion {
			if v, err = versionOf(r); err != nil {
				return err
			}
		}
		if _, err := negotiate(w, r); err != nil {
			return err
		}
		reg, err := a.readRegistration(r)
		if err != nil {
			return err
		}
		msgs, err := a.reg.Compatibility(subject, v, reg)
		if err != nil {
			return wire(err)
		}
		out := struct {
			Compatible bool     `json:"is_compatible"`
			Messages   []string `json:"messages,omitempty"`
		}{Compatible: len(msgs) == 0}
		if flag(r, "verbose") {
			out.Messages = msgs
			if out.Messages == nil {
				out.Messages = []string{}
			}
		}
		return reply(w, r, out)
	}
}

func scopeOf(r *http.Request, subject bool) (string, error) {
	if !subject {
		return "", nil
	}
	return subjectOf(r)
}

func (a *api) getConfig(subject bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := scopeOf(r, subject)
		if err != nil {
			return err
		}
		l, ok := a.reg.Config(s)
		if !ok && s != "" {
			if !flag(r, "defaultToGlobal") {
				return httpapi.ErrSubjectConfigNotFound.Msg("Subject '%s' does not have subject-level compatibility configured", s)
			}
			l, _ = a.reg.Config("")
		}
		return reply(w, r, map[string]schemareg.Level{"compatibilityLevel": l})
	}
}

func (a *api) putConfig(subject bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := scopeOf(r, subject)
		if err != nil {
			return err
		}
		if _, err := negotiate(w, r); err != nil {
			return err
		}
		var req struct {
			Compatibility string `json:"compatibility"`
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		l, ok := schemareg.ParseLevel(req.Compatibility)
		if !ok {
			return httpapi.ErrInvalidCompatibility.Msg("Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
		}
		if err := a.reg.SetConfig(r.Context(), s, l); err != nil {
			return wire(err)
		}
		a.record(r, auth.SubjectConfig, s, "compatibility level set to "+string(l))
		return reply(w, r, map[string]schemareg.Level{"compatibility": l})
	}
}

func (a *api) deleteConfig(subject bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := scopeOf(r, subject)
		if err != nil {
			return err
		}
		if _, err := negotiate(w, r); err != nil {
			return err
		}
		old, err := a.reg.DeleteConfig(r.Context(), s)
		if err != nil {
			return wire(err)
		}
		a.record(r, auth.SubjectConfig, s, "compatibility level removed")
		return reply(w, r, map[string]schemareg.Level{"compatibilityLevel": old})
	}
}

func (a *api) getMode(subject bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := scopeOf(r, subject)
		if err != nil {
			return err
		}
		m, ok := a.reg.Mode(s)
		if !ok && s != "" {
			if !flag(r, "defaultToGlobal") {
				return httpapi.ErrSubjectModeNotFound.Msg("Subject '%s' does not have subject-level mode configured", s)
			}
			m, _ = a.reg.Mode("")
		}
		return reply(w, r, map[string]schemareg.Mode{"mode": m})
	}
}

func (a *api) putMode(subject bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := scopeOf(r, subject)
		if err != nil {
			return err
		}
		if _, err := negotiate(w, r); err != nil {
			return err
		}
		var req struct {
			Mode string `json:"mode"`
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		m, ok := schemareg.ParseMode(req.Mode)
		if !ok {
			return httpapi.ErrInvalidMode.Msg("Invalid mode. Valid values are READWRITE, READONLY and IMPORT.")
		}
		if err := a.reg.SetMode(r.Context(), s, m, flag(r, "force")); err != nil {
			return wire(err)
		}
		a.record(r, auth.SubjectConfig, s, "mode set to "+string(m))
		return reply(w, r, map[string]schemareg.Mode{"mode": m})
	}
}

func (a *api) deleteMode(subject bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := scopeOf(r, subject)
		if err != nil {
			return err
		}
		if _, err := negotiate(w, r); err != nil {
			return err
		}
		old, err := a.reg.DeleteMode(r.Context(), s)
		if err != nil {
			return wire(err)
		}
		a.record(r, auth.SubjectConfig, s, "mode removed")
		return reply(w, r, map[string]schemareg.Mode{"mode": old})
	}
}
