package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestEveryEnvVarDocumented keeps docs/configuration.md true: every
// variable ApplyEnv reads is documented there.
func TestEveryEnvVarDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range EnvNames(&Config{}) {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("%s is not documented in docs/configuration.md", name)
		}
	}
}

// TestDocumentedDefaults keeps the default column of docs/configuration.md
// true: a value in backticks is what Default() holds (parsed as the
// environment would be), and a key whose default is empty is documented
// with words, not a value (or with a computed one, like <group>.dlq).
func TestDocumentedDefaults(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]reflect.Value{}
	def := Default()
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			k := Key(prefix, name)
			if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
				walk(v.Field(i), k)
				continue
			}
			fields[k] = v.Field(i)
		}
	}
	walk(reflect.ValueOf(&def).Elem(), "")
	row := regexp.MustCompile("^\\| `([a-z0-9_.]+)` \\| [^|]* \\| ([^|]*) \\|")
	checked := 0
	for _, line := range strings.Split(string(doc), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key, cell := m[1], strings.TrimSpace(m[2])
		v, ok := fields[key]
		if !ok {
			t.Errorf("docs/configuration.md documents %s, which is no setting", key)
			continue
		}
		checked++
		if !strings.HasPrefix(cell, "`") {
			if !v.IsZero() {
				t.Errorf("%s: documented default %q, config's is %q", key, cell, FormatValue(v))
			}
			continue
		}
		text, _, _ := strings.Cut(strings.TrimPrefix(cell, "`"), "`")
		if v.IsZero() && strings.Contains(text, "<") {
			continue // computed: <group>.dlq
		}
		doc := reflect.New(v.Type()).Elem()
		if err := SetString(doc, text); err != nil {
			t.Errorf("%s: documented default `%s` does not parse: %v", key, text, err)
			continue
		}
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
			doc = doc.Elem()
		}
		if !reflect.DeepEqual(doc.Interface(), v.Interface()) && !(doc.IsZero() && v.IsZero()) {
			t.Errorf("%s: documented default `%s`, config's is %q", key, text, FormatValue(v))
		}
	}
	if checked < 100 {
		t.Errorf("checked %d documented defaults, want the whole table", checked)
	}
}
