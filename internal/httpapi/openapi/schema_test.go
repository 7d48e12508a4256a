package openapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kgate/kgate/internal/httpapi"
)

type inner struct {
	N int32 `json:"n"`
}

type generic[T any] struct {
	Items []T `json:"items"`
}

type sample struct {
	Name     string            `json:"name"`
	Optional *string           `json:"optional,omitempty"`
	Nullable *int64            `json:"nullable"`
	Skipped  string            `json:"-"`
	Raw      json.RawMessage   `json:"raw,omitempty"`
	Bytes    []byte            `json:"bytes"`
	When     time.Time         `json:"when"`
	Map      map[string]string `json:"map"`
	Inner    inner             `json:"inner"`
	List     generic[inner]    `json:"list"`
	inner                      // embedded: its fields are flattened
	hidden   int               //nolint:unused // unexported: left out
}

func TestSchemaReflection(t *testing.T) {
	s := newSchemas()
	ref := s.of(sample{}, false)
	if diff := cmp.Diff(map[string]any{"$ref": "#/components/schemas/openapi.sample"}, ref); diff != "" {
		t.Fatal(diff)
	}
	got, _ := json.Marshal(s.components)
	var comps map[string]any
	_ = json.Unmarshal(got, &comps)
	smp := comps["openapi.sample"].(map[string]any)
	props := smp["properties"].(map[string]any)
	want := map[string]string{
		"name":     `{"type":"string"}`,
		"optional": `{"anyOf":[{"type":"string"},{"type":"null"}]}`,
		"nullable": `{"anyOf":[{"format":"int64","type":"integer"},{"type":"null"}]}`,
		"raw":      `{}`,
		"bytes":    `{"contentEncoding":"base64","type":"string"}`,
		"when":     `{"format":"date-time","type":"string"}`,
		"map":      `{"additionalProperties":{"type":"string"},"type":"object"}`,
		"inner":    `{"$ref":"#/components/schemas/openapi.inner"}`,
		"list":     `{"$ref":"#/components/schemas/openapi.generic_openapi.inner"}`,
		"n":        `{"format":"int32","type":"integer"}`,
	}
	for k, w := range want {
		b, _ := json.Marshal(props[k])
		if string(b) != w {
			t.Errorf("%s: %s, want %s", k, b, w)
		}
	}
	if _, ok := props["Skipped"]; ok || len(props) != len(want) {
		t.Errorf("properties %v", props)
	}
	req, _ := json.Marshal(smp["required"])
	if string(req) != `["name","bytes","when","map","inner","list","n"]` {
		t.Errorf("required %s", req)
	}
	if _, ok := comps["openapi.generic_openapi.inner"]; !ok {
		t.Errorf("generic type not named: %v", comps)
	}
	// Binary bodies and hand-written schemas with Go values inside.
	if b, _ := json.Marshal(s.of([]byte(nil), true)); string(b) != `{"format":"binary","type":"string"}` {
		t.Errorf("binary %s", b)
	}
	js := s.of(httpapi.JSONSchema{"oneOf": []any{inner{}, map[string]any{"type": "null"}}}, false)
	if b, _ := json.Marshal(js); string(b) != `{"oneOf":[{"$ref":"#/components/schemas/openapi.inner"},{"type":"null"}]}` {
		t.Errorf("hand-written %s", b)
	}
}

func TestBuild(t *testing.T) {
	h := func(http.ResponseWriter, *http.Request) error { return nil }
	doc := Build([]httpapi.Route{
		{Method: "GET", Pattern: "/{$}", Name: "t.root", Public: true, Handler: h},
		{Method: "GET", Pattern: "/files/{path...}", Name: "t.files", Action: "fetch", Handler: h},
		{Method: "POST", Pattern: "/things/{partition}", Name: "t.post", Action: "produce", ErrorType: "application/vnd.x+json", Handler: h,
			Doc: &httpapi.Doc{
				Query:   []httpapi.Param{{Name: "q", Required: true, Schema: int64(0)}},
				Request: &httpapi.Body{ContentType: "application/binary", Schema: []byte(nil)},
				Responses: []httpapi.Response{
					{Status: 200, Description: "JSON.", Body: &httpapi.Body{Schema: inner{}}},
					{Status: 200, Description: "Raw.", Body: &httpapi.Body{ContentType: "application/binary", Schema: []byte(nil)}},
				},
			}},
	}, Info{Title: "t", Version: "1"})
	if diff := cmp.Diff([]string{"GET /", "GET /files/{path}", "POST /things/{partition}"}, doc.Operations()); diff != "" {
		t.Fatal(diff)
	}
	root := doc.Paths["/"]["get"]
	if !root.Public || root.Responses["200"] == nil || root.Responses["default"] == nil {
		t.Errorf("root %+v", root)
	}
	post := doc.Paths["/things/{partition}"]["post"]
	b, _ := json.Marshal(post)
	for _, want := range []string{
		`"name":"partition","in":"path","required":true,"schema":{"format":"int32","minimum":0,"type":"integer"}`,
		`"name":"q","in":"query","required":true,"schema":{"format":"int64","type":"integer"}`,
		`"requestBody":{"required":true,"content":{"application/binary":{"schema":{"format":"binary","type":"string"}}}}`,
		`"200":{"description":"JSON. Raw.","content":{"application/binary":{"schema":{"format":"binary","type":"string"}},"application/json":{"schema":{"$ref":"#/components/schemas/openapi.inner"}}}}`,
		`"default":{"description":"An error: {error_code, message} with Confluent's codes (see docs/api.md).","content":{"application/vnd.x+json":{"schema":{"$ref":"#/components/schemas/Error"}}}}`,
		`"x-kgate-action":"produce"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("operation lacks %s:\n%s", want, b)
		}
	}
}
