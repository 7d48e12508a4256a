// Package openapi builds an OpenAPI 3.1 document from the router's routes
// (every API surface: v2, v3, KastleX, admin, ops) and the schema
// information each route attaches (httpapi.Doc), and serves it at
// GET /openapi.json. A route without a Doc is still documented: its path
// parameters, summary, action and the catalog's error shape.
package openapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kgate/kgate/internal/httpapi"
)

// Document is an OpenAPI 3.1 document.
type Document struct {
	OpenAPI    string                           `json:"openapi"`
	Info       Info                             `json:"info"`
	Paths      map[string]map[string]*Operation `json:"paths"`
	Components Components                       `json:"components"`
}

// Info is the document's info object.
type Info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// Components holds the named schemas.
type Components struct {
	Schemas map[string]any `json:"schemas"`
}

// Operation is one method on one path.
type Operation struct {
	OperationID string               `json:"operationId"`
	Summary     string               `json:"summary,omitempty"`
	Tags        []string             `json:"tags,omitempty"`
	Parameters  []Parameter          `json:"parameters,omitempty"`
	RequestBody *RequestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*Response `json:"responses"`
	// Extensions: the authorization action and whether the route skips
	// authentication or streams its body.
	Action string `json:"x-kgate-action,omitempty"`
	Public bool   `json:"x-kgate-public,omitempty"`
	Stream bool   `json:"x-kgate-stream,omitempty"`
}

// Parameter is a path, query or header parameter.
type Parameter struct {
	Name        string `json:"name"`
	In          string `json:"in"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Schema      any    `json:"schema"`
}

// RequestBody is an operation's body.
type RequestBody struct {
	Description string               `json:"description,omitempty"`
	Required    bool                 `json:"required"`
	Content     map[string]MediaType `json:"content"`
}

// Response is one status's answer.
type Response struct {
	Description string               `json:"description"`
	Headers     map[string]Header    `json:"headers,omitempty"`
	Content     map[string]MediaType `json:"content,omitempty"`
}

// Header is a response header.
type Header struct {
	Description string `json:"description,omitempty"`
	Schema      any    `json:"schema"`
}

// MediaType holds a body's schema.
type MediaType struct {
	Schema any `json:"schema"`
}

// Path converts a ServeMux pattern's path to an OpenAPI path: {$} and
// {name...} become / and {name}.
func Path(pattern string) string {
	p := strings.ReplaceAll(pattern, "{$}", "")
	p = strings.ReplaceAll(p, "...}", "}")
	if p == "" {
		p = "/"
	}
	return p
}

// pathParams lists a pattern's wildcards in order.
func pathParams(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && seg != "{$}" {
			out = append(out, strings.TrimSuffix(strings.TrimSuffix(seg[1:], "}"), "..."))
		}
	}
	return out
}

// integerParams are path wildcards that take numbers.
var integerParams = map[string]bool{"partition": true, "partition_id": true, "broker_id": true, "broker": true}

func isJSON(ct string) bool {
	return ct == "" || ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// Build documents routes.
func Build(routes []httpapi.Route, info Info) *Document {
	s := newSchemas()
	errRef := s.of(httpapi.JSONSchema{"type": "object", "required": []string{"error_code", "message"},
		"properties": map[string]any{"error_code": map[string]any{"type": "integer"}, "message": map[string]any{"type": "string"}}}, false)
	s.components["Error"] = errRef
	doc := &Document{OpenAPI: "3.1.0", Info: info, Paths: map[string]map[string]*Operation{}}
	for _, rt := range routes {
		path := Path(rt.Pattern)
		op := &Operation{OperationID: rt.Name, Summary: rt.Summary, Action: string(rt.Action), Public: rt.Public, Stream: rt.Stream,
			Responses: map[string]*Response{}}
		if op.OperationID == "" {
			op.OperationID = strings.ToLower(rt.Method) + " " + path
		}
		if tag, _, _ := strings.Cut(rt.Name, "."); tag != "" {
			op.Tags = []string{tag}
		}
		for _, name := range pathParams(rt.Pattern) {
			sch := map[string]any{"type": "string"}
			if integerParams[name] {
				sch = map[string]any{"type": "integer", "format": "int32", "minimum": 0}
			}
			op.Parameters = append(op.Parameters, Parameter{Name: name, In: "path", Required: true, Schema: sch})
		}
		d := rt.Doc
		if d == nil {
			d = supplements[rt.Name]
		}
		if d == nil {
			d = &httpapi.Doc{}
		}
		for _, p := range d.Query {
			op.Parameters = append(op.Parameters, Parameter{Name: p.Name, In: "query", Description: p.Description, Required: p.Required, Schema: s.of(p.Schema, false)})
		}
		for _, p := range d.Header {
			op.Parameters = append(op.Parameters, Parameter{Name: p.Name, In: "header", Description: p.Description, Required: p.Required, Schema: s.of(p.Schema, false)})
		}
		if b := d.Request; b != nil {
			ct := b.ContentType
			if ct == "" {
				ct = "application/json"
			}
			op.RequestBody = &RequestBody{Description: b.Description, Required: true,
				Content: map[string]MediaType{ct: {Schema: s.of(b.Schema, !isJSON(ct))}}}
		}
		for _, r := range d.Responses {
			key := strconv.Itoa(r.Status)
			resp := op.Responses[key]
			if resp == nil {
				resp = &Response{Description: r.Description}
				op.Responses[key] = resp
			} else if r.Description != "" && !strings.Contains(resp.Description, r.Description) {
				resp.Description += " " + r.Description
			}
			for _, h := range r.Header {
				if resp.Headers == nil {
					resp.Headers = map[string]Header{}
				}
				resp.Headers[h.Name] = Header{Description: h.Description, Schema: s.of(h.Schema, false)}
			}
			if r.Body != nil {
				ct := r.Body.ContentType
				if ct == "" {
					ct = "application/json"
				}
				if resp.Content == nil {
					resp.Content = map[string]MediaType{}
				}
				resp.Content[ct] = MediaType{Schema: s.of(r.Body.Schema, !isJSON(ct))}
			}
		}
		if len(d.Responses) == 0 {
			op.Responses["200"] = &Response{Description: "OK"}
		}
		et := rt.ErrorType
		if et == "" {
			et = httpapi.ErrorContentType
		}
		op.Responses["default"] = &Response{
			Description: "An error: {error_code, message} with Confluent's codes (see docs/api.md).",
			Content:     map[string]MediaType{et: {Schema: map[string]any{"$ref": "#/components/schemas/Error"}}},
		}
		m := doc.Paths[path]
		if m == nil {
			m = map[string]*Operation{}
			doc.Paths[path] = m
		}
		m[strings.ToLower(rt.Method)] = op
	}
	doc.Components.Schemas = s.components
	return doc
}

// Operations lists the document's operations as "METHOD path", sorted.
func (d *Document) Operations() []string {
	var out []string
	for p, ms := range d.Paths {
		for m := range ms {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(out)
	return out
}

// Register adds GET /openapi.json, documenting every route of rr (itself
// included). The document is built when first asked for, so routes added
// after Register are in it too.
func Register(rr *httpapi.Router) {
	var once sync.Once
	var body []byte
	rr.Add(httpapi.Route{
		Method: "GET", Pattern: "/openapi.json", Name: "openapi.document", Public: true,
		Summary: "This OpenAPI 3.1 document: every route kgate serves.",
		Doc: &httpapi.Doc{Responses: []httpapi.Response{{Status: 200, Description: "The document.",
			Body: &httpapi.Body{Schema: httpapi.JSONSchema{"type": "object", "description": "An OpenAPI 3.1 document."}}}}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			once.Do(func() {
				doc := Build(rr.Routes(), Info{Title: "kgate", Version: "1.0.0",
					Description: "kgate's HTTP API: Confluent REST Proxy v2 and v3, KastleX v1 and v2, administration and operations."})
				body, _ = json.Marshal(doc)
			})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-cache")
			_, err := w.Write(body)
			return err
		},
	})
}
