package openapi

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kgate/kgate/internal/httpapi"
)

// schemas reflects Go values into JSON Schema (draft 2020-12, which
// OpenAPI 3.1 uses), collecting named struct types as components.
type schemas struct {
	components map[string]any
	names      map[reflect.Type]string
	building   map[reflect.Type]bool
}

func newSchemas() *schemas {
	return &schemas{components: map[string]any{}, names: map[reflect.Type]string{}, building: map[reflect.Type]bool{}}
}

var (
	rawMessageType = reflect.TypeOf(json.RawMessage(nil))
	timeType       = reflect.TypeOf(time.Time{})
	bytesType      = reflect.TypeOf([]byte(nil))
)

// of returns the schema of v: a JSONSchema or map is taken as written
// (with any Go values inside it reflected), anything else is reflected
// from its type. binary marks a raw (non-JSON) body.
func (s *schemas) of(v any, binary bool) any {
	switch x := v.(type) {
	case nil:
		return map[string]any{}
	case httpapi.JSONSchema:
		return s.walk(map[string]any(x))
	case map[string]any:
		return s.walk(x)
	}
	t := reflect.TypeOf(v)
	if binary && t == bytesType {
		return map[string]any{"type": "string", "format": "binary"}
	}
	return s.typ(t)
}

// walk resolves Go values nested in a hand-written schema.
func (s *schemas) walk(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = s.walkValue(v)
	}
	return out
}

func (s *schemas) walkValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, int32, int64, float64, []string:
		return x
	case httpapi.JSONSchema:
		return s.walk(map[string]any(x))
	case map[string]any:
		return s.walk(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = s.walkValue(e)
		}
		return out
	}
	return s.typ(reflect.TypeOf(v))
}

func (s *schemas) typ(t reflect.Type) any {
	switch {
	case t == rawMessageType:
		return map[string]any{} // any JSON value
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == bytesType:
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner := s.typ(t.Elem())
		return map[string]any{"anyOf": []any{inner, map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": s.typ(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.typ(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return s.object(t)
		}
		name, ok := s.names[t]
		if !ok {
			name = s.componentName(t)
			s.names[t] = name
		}
		if _, done := s.components[name]; !done && !s.building[t] {
			s.building[t] = true
			s.components[name] = s.object(t)
			delete(s.building, t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// object is a struct's schema: properties named by json tags, required
// unless omitempty or a pointer, embedded structs flattened.
func (s *schemas) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var addFields func(t reflect.Type)
	addFields = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				addFields(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = s.typ(f.Type)
			if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	addFields(t)
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var pathInName = regexp.MustCompile(`[A-Za-z0-9_./-]*/`)

// componentName names a type after its package and name, generic
// arguments included: v3.list_v3.topicData.
func (s *schemas) componentName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	name := pathInName.ReplaceAllString(t.Name(), "")
	r := strings.NewReplacer("[", "_", "]", "", ",", "_", "*", "", " ", "")
	n := pkg + "." + r.Replace(name)
	base := n
	for i := 2; ; i++ {
		taken := false
		for tt, nn := range s.names {
			if nn == n && tt != t {
				taken = true
			}
		}
		if !taken {
			return n
		}
		n = base + "_" + strconv.Itoa(i)
	}
}
