package config

import (
	"bytes"
	"encoding"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path over Default(). An empty path returns
// the defaults. Every unknown key and every value of the wrong type is
// reported at once, as Problems naming the file, line and key path.
func Load(path string) (Config, error) {
	cfg := Default()
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("reading config: %w", err)
	}
	return cfg, Decode(path, b, &cfg)
}

// Decode decodes the YAML document b, from the file named file, into dst
// (which should already hold defaults) with DecodeNode: unknown keys and
// values of the wrong type are reported together as Problems. An empty
// document leaves dst unchanged.
func Decode(file string, b []byte, dst any) error {
	fp := FileProblems{File: file}
	DecodeNode(&fp, ParseYAML(&fp, b), "", dst)
	return fp.Err()
}

// Marshal renders cfg as YAML with every secret masked.
func Marshal(cfg any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ApplyEnv overlays the environment onto dst, a pointer to a struct whose
// fields carry `env:"KGATE_..."` tags (nested structs are walked). getenv
// is os.Getenv in production. Problems are returned together, each naming
// the variable (as Problems whose key is the variable). A command reads
// only its own variables: see ApplyEnvFor.
func ApplyEnv(dst any, getenv func(string) string) error {
	return applyEnv(dst, getenv, nil)
}

// applyEnv is ApplyEnv for the fields whose key path (from the yaml tags)
// uses accepts; nil accepts all.
func applyEnv(dst any, getenv func(string) string, uses func(key string) bool) error {
	var ps Problems
	walkEnv(reflect.ValueOf(dst).Elem(), "", getenv, uses, &ps)
	return ps.Err()
}

func walkEnv(v reflect.Value, prefix string, getenv func(string) string, uses func(string) bool, ps *Problems) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if prefix != "" {
			key = prefix + "." + key
		}
		name := f.Tag.Get("env")
		if name == "" {
			if fv.Kind() == reflect.Struct {
				walkEnv(fv, key, getenv, uses, ps)
			}
			continue
		}
		if uses != nil && !uses(key) {
			continue
		}
		s := getenv(name)
		if s == "" {
			continue
		}
		if err := SetString(fv, s); err != nil {
			ps.Add(name, "%v", err)
		}
	}
}

var durationType = reflect.TypeOf(Duration(0))

// SetString parses s into the settable value v according to its type; it
// is how environment variables and flags reach the tree.
func SetString(v reflect.Value, s string) error {
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return tu.UnmarshalText([]byte(s))
	}
	if v.Type() == durationType {
		d, err := ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(strings.TrimSpace(s), v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		v.SetFloat(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", v.Type())
		}
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts).Convert(v.Type()))
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if err := SetString(nv.Elem(), s); err != nil {
			return err
		}
		v.Set(nv)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// EnvNames lists every environment variable ApplyEnv reads for a value of
// dst's type, in field order. Documentation tests use it.
func EnvNames(dst any) []string {
	var names []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if name := f.Tag.Get("env"); name != "" {
				names = append(names, name)
			} else if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(dst).Elem())
	return names
}
