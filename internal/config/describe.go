package config

import (
	"reflect"
	"strconv"
	"strings"
)

// FormatValue formats a setting's value the way help texts state a
// default: "" for an empty value (zero, false, unset, no items), Go
// durations without zero tails (2m), sizes with a binary suffix (16Mi),
// lists comma-separated. A Secret is never shown.
func FormatValue(v reflect.Value) string {
	if v.Type() == secretType {
		return ""
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		return FormatValue(v.Elem())
	}
	if v.IsZero() {
		return ""
	}
	if s, ok := v.Interface().(interface{ String() string }); ok {
		return s.String()
	}
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.String:
		return v.String()
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = FormatValue(v.Index(i))
		}
		return strings.Join(parts, ",")
	}
	return ""
}

// Setting describes the field of c that v is (v must be addressable and
// inside c): its key path and environment variable ("" when it has none).
// ok is false when v is not a setting of c.
func (c *Config) Setting(v reflect.Value) (key, env string, ok bool) {
	if !v.CanAddr() {
		return "", "", false
	}
	want := v.Addr().Pointer()
	var walk func(s reflect.Value, prefix string) bool
	walk = func(s reflect.Value, prefix string) bool {
		t := s.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			k := Key(prefix, name)
			fv := s.Field(i)
			if fv.Addr().Pointer() == want && fv.Type() == v.Type() {
				key, env = k, f.Tag.Get("env")
				return true
			}
			if fv.Kind() == reflect.Struct && walk(fv, k) {
				return true
			}
		}
		return false
	}
	ok = walk(reflect.ValueOf(c).Elem(), "")
	return key, env, ok
}
