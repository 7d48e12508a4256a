// Package schemareg serves kgate's schema registry (internal/schemareg)
// with Confluent Schema Registry's REST API: it translates requests and
// answers, and leaves every decision to the registry. Its routes sit under
// Prefix on the API listener; kgate's registry listener serves them at
// the root by adding the prefix.
package schemareg

import (
	"net/http"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/schemareg"
)

// Prefix is where the registry's routes sit on the API listener.
const Prefix = "/schema-registry"

// Deps are what the routes need.
type Deps struct {
	Registry *schemareg.Registry
	// Audit records every change (nil: none).
	Audit *audit.Log
}

// Register adds the registry's routes to rr.
func Register(rr *httpapi.Router, d Deps) {
	a := &api{reg: d.Registry, audit: d.Audit}
	subject := httpapi.PathValue("subject")
	add := func(method, pattern, name string, action auth.Action, res func(*http.Request) string, summary string, h httpapi.HandlerFunc) {
		rr.Add(httpapi.Route{Method: method, Pattern: Prefix + pattern, Name: "schemareg." + name, Action: action, Resource: res,
			ErrorType: mediaV1, Summary: summary, Handler: h})
	}
	const (
		sv = "/subjects/{subject}/versions"
		id = "/schemas/ids/{id}"
	)
	add("GET", "/subjects", "subjects.list", auth.ListSubjects, nil, "List the subjects the caller may read (deleted=true: soft-deleted ones too; subjectPrefix).", a.listSubjects)
	add("GET", "/schemas", "schemas.list", auth.ListSubjects, nil, "List the schemas of the subjects the caller may read (subjectPrefix, deleted, latestOnly).", a.listSchemas)
	add("GET", "/schemas/types", "schemas.types", auth.ListSubjects, nil, "List the schema types: JSON, PROTOBUF, AVRO.", a.types)
	add("GET", id, "schemas.get", auth.ListSubjects, nil, "Get a schema by id (if the caller may read a subject holding it).", a.schemaByID)
	add("GET", id+"/schema", "schemas.get_raw", auth.ListSubjects, nil, "Get a schema's text by id.", a.rawByID)
	add("GET", id+"/subjects", "schemas.subjects", auth.ListSubjects, nil, "List the subjects holding a schema id.", a.idSubjects)
	add("GET", id+"/versions", "schemas.versions", auth.ListSubjects, nil, "List the subject-versions holding a schema id.", a.idVersions)

	add("GET", sv, "versions.list", auth.SubjectRead, subject, "List a subject's versions (deleted=true: soft-deleted ones too).", a.listVersions)
	add("POST", sv, "versions.register", auth.SubjectWrite, subject, "Register a schema under a subject (normalize=true; id and version in IMPORT mode); 409 when incompatible.", a.register)
	add("GET", sv+"/{version}", "versions.get", auth.SubjectRead, subject, "Get a version (a number or latest).", a.getVersion)
	add("GET", sv+"/{version}/schema", "versions.get_raw", auth.SubjectRead, subject, "Get a version's schema text.", a.rawVersion)
	add("GET", sv+"/{version}/referencedby", "versions.referenced_by", auth.SubjectRead, subject, "List the ids of schemas referencing a version.", a.referencedBy)
	add("DELETE", sv+"/{version}", "versions.delete", auth.SubjectDelete, subject, "Soft-delete a version (permanent=true: remove a soft-deleted one).", a.deleteVersion)
	add("POST", "/subjects/{subject}", "subjects.lookup", auth.SubjectRead, subject, "Find the version of a subject holding a schema.", a.lookup)
	add("DELETE", "/subjects/{subject}", "subjects.delete", auth.SubjectDelete, subject, "Soft-delete a subject (permanent=true: remove a soft-deleted one).", a.deleteSubject)

	add("POST", "/compatibility"+sv+"/{version}", "compatibility.version", auth.SubjectRead, subject, "Check a schema against one version of a subject (verbose=true: the reasons).", a.compatibility(true))
	add("POST", "/compatibility"+sv, "compatibility.subject", auth.SubjectRead, subject, "Check a schema against the versions the subject's level names.", a.compatibility(false))

	add("GET", "/config", "config.get", auth.ListSubjects, nil, "Get the global compatibility level.", a.getConfig(false))
	add("PUT", "/config", "config.update", auth.Admin, nil, "Set the global compatibility level.", a.putConfig(false))
	add("DELETE", "/config", "config.delete", auth.Admin, nil, "Reset the global compatibility level to BACKWARD.", a.deleteConfig(false))
	add("GET", "/config/{subject}", "config.subject_get", auth.SubjectRead, subject, "Get a subject's compatibility level (defaultToGlobal=true: the global one when unset).", a.getConfig(true))
	add("PUT", "/config/{subject}", "config.subject_update", auth.SubjectConfig, subject, "Set a subject's compatibility level.", a.putConfig(true))
	add("DELETE", "/config/{subject}", "config.subject_delete", auth.SubjectConfig, subject, "Remove a subject's compatibility level.", a.deleteConfig(true))

	add("GET", "/mode", "mode.get", auth.ListSubjects, nil, "Get the global mode.", a.getMode(false))
	add("PUT", "/mode", "mode.update", auth.Admin, nil, "Set the global mode (READWRITE, READONLY, IMPORT; force=true to import into a non-empty registry).", a.putMode(false))
	add("DELETE", "/mode", "mode.delete", auth.Admin, nil, "Reset the global mode to READWRITE.", a.deleteMode(false))
	add("GET", "/mode/{subject}", "mode.subject_get", auth.SubjectRead, subject, "Get a subject's mode (defaultToGlobal=true: the global one when unset).", a.getMode(true))
	add("PUT", "/mode/{subject}", "mode.subject_update", auth.SubjectConfig, subject, "Set a subject's mode.", a.putMode(true))
	add("DELETE", "/mode/{subject}", "mode.subject_delete", auth.SubjectConfig, subject, "Remove a subject's mode.", a.deleteMode(true))
}
