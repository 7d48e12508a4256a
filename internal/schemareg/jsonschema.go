package schemareg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// jsonFormat parses JSON Schemas with santhosh-tekuri/jsonschema (which
// validates them against their draft's meta-schema and resolves their
// $refs) and checks compatibility with the rules Confluent documents for
// JSON Schema: a reader reads a writer when every document the writer
// accepts the reader accepts too. See readsJSON for what is analysed.
type jsonFormat struct{}

// jsonBase is the URL a schema is compiled at; references resolve against
// it. Nothing is ever fetched: the compiler has no loader.
const jsonBase = "https://schemas.kgate.invalid/"

type jsonSchema struct {
	compiled  *jsonschema.Schema
	doc       any
	refs      map[string]any // absolute URL (no fragment) to document
	canonical string
}

func (jsonFormat) parse(src Source) (Parsed, error) {
	c := jsonschema.NewCompiler()
	// No loader: a $ref outside the schema and its references fails
	// instead of reading a file or the network.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	c.DefaultDraft(jsonschema.Draft7)
	s := &jsonSchema{refs: map[string]any{}}
	base, _ := url.Parse(jsonBase + "schema.json")
	for _, r := range src.Refs {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(r.Schema))
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
		u, err := base.Parse(r.Name)
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
		u.Fragment = ""
		if err := c.AddResource(u.String(), doc); err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
		s.refs[u.String()] = doc
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src.Schema))
	if err != nil {
		return nil, err
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, fmt.Errorf("a JSON schema is an object or a boolean")
	}
	if err := c.AddResource(base.String(), doc); err != nil {
		return nil, err
	}
	compiled, err := c.Compile(base.String())
	if err != nil {
		return nil, err
	}
	s.compiled, s.doc = compiled, doc
	s.refs[base.String()] = doc
	if s.canonical, err = compactJSON(src.Schema); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks a JSON document against the schema.
func (s *jsonSchema) Validate(data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.compiled.Validate(v)
}

func (s *jsonSchema) Canonical() string  { return s.canonical }
func (s *jsonSchema) Normalized() string { return s.canonical }

func (s *jsonSchema) CanRead(writer Parsed) []string {
	w, ok := writer.(*jsonSchema)
	if !ok {
		return []string{"the schema types differ"}
	}
	c := &jsonCompat{r: s, w: w, seen: map[[2]string]bool{}}
	c.reads(jsonNode{s.doc, jsonBase + "schema.json", "#"}, jsonNode{w.doc, jsonBase + "schema.json", "#"}, "#")
	return c.issues
}

// jsonNode is a subschema with the document URL its $refs resolve against
// and its pointer (to break cycles).
type jsonNode struct {
	v    any
	doc  string
	path string
}

type jsonCompat struct {
	r, w   *jsonSchema
	seen   map[[2]string]bool
	issues []string
	depth  int
}

func (c *jsonCompat) fail(path, format string, args ...any) {
	if len(c.issues) < 50 {
		c.issues = append(c.issues, path+": "+fmt.Sprintf(format, args...))
	}
}

// resolve follows $ref (local pointers and references by name); a
// schema whose $ref cannot be followed is returned as it is.
func (s *jsonSchema) resolve(n jsonNode) jsonNode {
	for range 32 {
		m, ok := n.v.(map[string]any)
		if !ok {
			return n
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return n
		}
		base, err := url.Parse(n.doc)
		if err != nil {
			return n
		}
		u, err := base.Parse(ref)
		if err != nil {
			return n
		}
		frag := u.Fragment
		u.Fragment = ""
		doc, ok := s.refs[u.String()]
		if !ok {
			return n
		}
		v, ok := pointer(doc, frag)
		if !ok {
			return n
		}
		n = jsonNode{v, u.String(), u.String() + "#" + frag}
	}
	return n
}

func pointer(doc any, frag string) (any, bool) {
	if frag == "" || frag == "/" {
		return doc, true
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, false
	}
	v := doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return v, true
}

// The keywords readsJSON compares; any other keyword whose value differs
// between reader and writer is reported incompatible (not analysed).
var jsonAnalysed = map[string]bool{
	"$schema": true, "$id": true, "id": true, "$ref": true, "$comment": true, "title": true, "description": true,
	"default": true, "examples": true, "definitions": true, "$defs": true, "readOnly": true, "writeOnly": true,
	"deprecated": true, "format": true,
	"type": true, "enum": true, "const": true, "properties": true, "required": true, "additionalProperties": true,
	"items": true, "maxLength": true, "minLength": true, "pattern": true, "maximum": true, "minimum": true,
	"exclusiveMaximum": true, "exclusiveMinimum": true, "multipleOf": true, "maxItems": true, "minItems": true,
	"uniqueItems": true, "maxProperties": true, "minProperties": true, "oneOf": true, "anyOf": true, "allOf": true,
}

// reads records why the reader subschema r may refuse a document the
// writer subschema w accepts.
func (c *jsonCompat) reads(r, w jsonNode, path string) {
	r, w = c.r.resolve(r), c.w.resolve(w)
	key := [2]string{r.path, w.path}
	if c.seen[key] || c.depth > 64 {
		return
	}
	c.seen[key] = true
	c.depth++
	defer func() { c.depth-- }()

	rm, wm := asSchema(r.v), asSchema(w.v)
	switch {
	case rm != nil && len(rm) == 0: // the reader accepts everything
		return
	case wm == nil: // false: the writer accepts nothing
		return
	case rm == nil: // false
		c.fail(path, "the reader accepts nothing")
		return
	}

	// Combinators.
	if ws, ok := branches(wm, "anyOf", "oneOf"); ok {
		rest := without(wm, "anyOf", "oneOf")
		for i, b := range ws {
			c.reads(r, jsonNode{merge(rest, b), w.doc, fmt.Sprintf("%s/anyOf/%d", w.path, i)}, path)
		}
		return
	}
	if rs, ok := branches(rm, "anyOf", "oneOf"); ok {
		rest := without(rm, "anyOf", "oneOf")
		for i, b := range rs {
			sub := &jsonCompat{r: c.r, w: c.w, seen: map[[2]string]bool{}, depth: c.depth}
			sub.reads(jsonNode{merge(rest, b), r.doc, fmt.Sprintf("%s/anyOf/%d", r.path, i)}, w, path)
			if len(sub.issues) == 0 {
				return
			}
		}
		c.fail(path, "no branch of the reader's oneOf/anyOf reads the writer")
		return
	}
	if rs, ok := branches(rm, "allOf"); ok {
		rest := without(rm, "allOf")
		c.reads(jsonNode{rest, r.doc, r.path + "/-allOf"}, w, path)
		for i, b := range rs {
			c.reads(jsonNode{b, r.doc, fmt.Sprintf("%s/allOf/%d", r.path, i)}, w, path)
		}
		return
	}
	if ws, ok := branches(wm, "allOf"); ok {
		// A document the writer accepts satisfies every branch: the
		// reader reads it if it reads the rest merged with one branch.
		rest := without(wm, "allOf")
		for i, b := range ws {
			sub := &jsonCompat{r: c.r, w: c.w, seen: map[[2]string]bool{}, depth: c.depth}
			sub.reads(r, jsonNode{merge(rest, b), w.doc, fmt.Sprintf("%s/allOf/%d", w.path, i)}, path)
			if len(sub.issues) == 0 {
				return
			}
		}
		c.reads(r, jsonNode{rest, w.doc, w.path + "/-allOf"}, path)
		return
	}
	if len(wm) == 0 {
		c.fail(path, "the writer's open content model accepts what the reader constrains")
		return
	}

	for k, rv := range rm {
		if !jsonAnalysed[k] && !reflect.DeepEqual(rv, wm[k]) {
			c.fail(path, "keyword %q changed (not analysed, so not allowed)", k)
		}
	}

	// Types.
	rt, wt := types(rm), types(wm)
	if rt != nil {
		if wt == nil {
			c.fail(path, "type constraint %v added", rt)
		}
		for _, t := range wt {
			if !slices.Contains(rt, t) && !(t == "integer" && slices.Contains(rt, "number")) {
				c.fail(path, "type %q narrowed to %v", t, rt)
			}
		}
	}

	// Enums and consts.
	if re, ok := enumOf(rm); ok {
		we, ok := enumOf(wm)
		if !ok {
			c.fail(path, "enum added")
		}
		for _, v := range we {
			if !slices.ContainsFunc(re, func(x any) bool { return reflect.DeepEqual(x, v) }) {
				c.fail(path, "enum value %v removed", v)
			}
		}
	}

	// Bounds.
	upper := func(k string) {
		if rv, ok := num(rm[k]); ok {
			if wv, ok := num(wm[k]); !ok || wv > rv {
				c.fail(path, "%s decreased or added", k)
			}
		}
	}
	lower := func(k string) {
		if rv, ok := num(rm[k]); ok {
			if wv, ok := num(wm[k]); !ok || wv < rv {
				c.fail(path, "%s increased or added", k)
			}
		}
	}
	for _, k := range []string{"maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties"} {
		upper(k)
	}
	for _, k := range []string{"minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties"} {
		lower(k)
	}
	if rv, ok := num(rm["multipleOf"]); ok {
		if wv, ok := num(wm["multipleOf"]); !ok || rv == 0 || math.Abs(math.Remainder(wv, rv)) > 1e-9 {
			c.fail(path, "multipleOf changed or added")
		}
	}
	if p, ok := rm["pattern"]; ok && !reflect.DeepEqual(p, wm["pattern"]) {
		c.fail(path, "pattern changed or added")
	}
	if u, _ := rm["uniqueItems"].(bool); u {
		if wu, _ := wm["uniqueItems"].(bool); !wu {
			c.fail(path, "uniqueItems added")
		}
	}

	// Objects.
	rp, _ := rm["properties"].(map[string]any)
	wp, _ := wm["properties"].(map[string]any)
	rap := jsonNode{additional(rm), r.doc, r.path + "/additionalProperties"}
	wap := jsonNode{additional(wm), w.doc, w.path + "/additionalProperties"}
	for _, name := range sortedKeys(rp) {
		rn := jsonNode{rp[name], r.doc, r.path + "/properties/" + name}
		if wv, ok := wp[name]; ok {
			c.reads(rn, jsonNode{wv, w.doc, w.path + "/properties/" + name}, path+"/properties/"+name)
			continue
		}
		// Added to the reader: the writer's documents may carry it as an
		// additional property.
		sub := &jsonCompat{r: c.r, w: c.w, seen: map[[2]string]bool{}, depth: c.depth}
		sub.reads(rn, wap, path+"/properties/"+name)
		if len(sub.issues) > 0 {
			c.fail(path+"/properties/"+name, "property added to an open content model")
		}
	}
	for _, name := range sortedKeys(wp) {
		if _, ok := rp[name]; ok {
			continue
		}
		sub := &jsonCompat{r: c.r, w: c.w, seen: map[[2]string]bool{}, depth: c.depth}
		sub.reads(rap, jsonNode{wp[name], w.doc, w.path + "/properties/" + name}, path+"/properties/"+name)
		if len(sub.issues) > 0 {
			c.fail(path+"/properties/"+name, "property removed from a closed content model")
		}
	}
	if _, ok := rm["additionalProperties"]; ok || hasObjectKeywords(rm) {
		sub := &jsonCompat{r: c.r, w: c.w, seen: map[[2]string]bool{}, depth: c.depth}
		sub.reads(rap, wap, path+"/additionalProperties")
		if len(sub.issues) > 0 {
			c.fail(path, "additional properties narrowed")
		}
	}
	wreq := stringSet(wm["required"])
	for _, name := range stringList(rm["required"]) {
		if !wreq[name] {
			c.fail(path, "required property %q added", name)
		}
	}

	// Arrays.
	ri, rok := rm["items"]
	wi, wok := wm["items"]
	switch {
	case !rok:
	case isList(ri) || isList(wi):
		if !reflect.DeepEqual(ri, wi) {
			c.fail(path, "tuple items changed (not analysed, so not allowed)")
		}
	default:
		if !wok {
			wi = true
		}
		c.reads(jsonNode{ri, r.doc, r.path + "/items"}, jsonNode{wi, w.doc, w.path + "/items"}, path+"/items")
	}
}

// asSchema returns a schema's object form: an empty map for a schema
// that accepts everything (true, {}, only annotations), nil for false.
func asSchema(v any) map[string]any {
	switch x := v.(type) {
	case bool:
		if x {
			return map[string]any{}
		}
		return nil
	case map[string]any:
		for k := range x {
			if !ignorable[k] {
				return x
			}
		}
	}
	return map[string]any{}
}

// ignorable keywords do not constrain documents.
var ignorable = map[string]bool{"$schema": true, "$id": true, "id": true, "$comment": true, "title": true,
	"description": true, "default": true, "examples": true, "definitions": true, "$defs": true, "readOnly": true,
	"writeOnly": true, "deprecated": true, "format": true}

func hasObjectKeywords(m map[string]any) bool {
	_, p := m["properties"]
	return p
}

func additional(m map[string]any) any {
	if v, ok := m["additionalProperties"]; ok {
		return v
	}
	return true
}

func branches(m map[string]any, keys ...string) ([]any, bool) {
	for _, k := range keys {
		if l, ok := m[k].([]any); ok {
			return l, true
		}
	}
	return nil, false
}

func without(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

func merge(rest map[string]any, b any) any {
	bm, ok := b.(map[string]any)
	if !ok {
		return b
	}
	if len(rest) == 0 {
		return bm
	}
	out := make(map[string]any, len(rest)+len(bm))
	for k, v := range rest {
		out[k] = v
	}
	for k, v := range bm {
		out[k] = v
	}
	return out
}

func types(m map[string]any) []string {
	switch t := m["type"].(type) {
	case string:
		return []string{t}
	case []any:
		out := []string{}
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func enumOf(m map[string]any) ([]any, bool) {
	if e, ok := m["enum"].([]any); ok {
		return e, true
	}
	if c, ok := m["const"]; ok {
		return []any{c}, true
	}
	return nil, false
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

func stringList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func stringSet(v any) map[string]bool {
	m := map[string]bool{}
	for _, s := range stringList(v) {
		m[s] = true
	}
	return m
}

func isList(v any) bool { _, ok := v.([]any); return ok }

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
