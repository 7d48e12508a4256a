package config

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// kgate's YAML files (the configuration, the users and permissions files,
// the SASL file) are read through yaml.Node trees, so that every problem
// names the file, the line and the key path, in the shape Validate uses
// (`kgate.yaml:3: http.max_body_byte: unknown key`), and all of a file's
// problems are reported at once.

// FileProblems collects the problems of one YAML file.
type FileProblems struct {
	// File names the file in messages ("" leaves it out).
	File string
	// HideValues keeps every value out of messages (files of secrets).
	HideValues bool
	Problems   Problems
}

// At records a problem with the setting at key, found at n's line.
func (fp *FileProblems) At(n *yaml.Node, key, format string, args ...any) {
	p := Problem{File: fp.File, Key: key, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line = n.Line
	}
	fp.Problems = append(fp.Problems, p)
}

// Err returns the problems, in the order of their lines, as an error
// (Problems), or nil.
func (fp *FileProblems) Err() error {
	slices.SortStableFunc(fp.Problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return fp.Problems.Err()
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseYAML parses b, one YAML document, and returns its root node: nil
// for an empty document or one holding only null. A syntax error is
// recorded in fp with its line.
func ParseYAML(fp *FileProblems, b []byte) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		p := Problem{File: fp.File, Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = "invalid YAML: " + m[2]
		}
		fp.Problems = append(fp.Problems, p)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if IsNull(root) {
		return nil
	}
	return root
}

// IsNull reports whether n is YAML's null (~, null, or nothing at all).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "" && n.Style == 0 && n.Tag == "")
}

// Key returns the key path of key under parent. A key that is not a
// plain name (letters, digits, _ and -) is quoted: "*".produce,
// "john.doe".limits.
func Key(parent, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Pair is one entry of a YAML mapping.
type Pair struct {
	Key        string
	KeyNode, V *yaml.Node
}

// Pairs returns the entries of the mapping n (the setting at key), or
// records why n is not one (a null is an empty mapping). Keys must be
// plain scalars, each given once; the entries of a wrong key are left out.
func Pairs(fp *FileProblems, n *yaml.Node, key string) []Pair {
	if IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		fp.At(n, key, "must be a mapping of keys to values, got %s", describe(n, fp.HideValues))
		return nil
	}
	out := make([]Pair, 0, len(n.Content)/2)
	first := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			fp.At(k, key, "keys must be plain names, got %s", describe(k, fp.HideValues))
			continue
		}
		if line, dup := first[k.Value]; dup {
			fp.At(k, Key(key, k.Value), "is given twice (first on line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		out = append(out, Pair{Key: k.Value, KeyNode: k, V: v})
	}
	return out
}

// describe names what a node holds for a message: a mapping, a list, or
// (unless secret) the value itself.
func describe(n *yaml.Node, secret bool) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if secret {
		return "a value that is not shown"
	}
	return strconv.Quote(n.Value)
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	secretType      = reflect.TypeOf(Secret(""))
)

// DecodeNode decodes n into dst, a pointer, the way yaml.v3 would with
// KnownFields, except that it does not stop at the first problem: each
// unknown key and each value of the wrong type is recorded in fp with its
// line and key path (key is the path of n itself, "" for a whole file),
// and everything else is decoded. Values already in dst (defaults) stay
// where the YAML says nothing. Secret values are never quoted.
func DecodeNode(fp *FileProblems, n *yaml.Node, key string, dst any) {
	if n == nil {
		return
	}
	decodeValue(fp, n, key, reflect.ValueOf(dst).Elem(), 0)
}

func decodeValue(fp *FileProblems, n *yaml.Node, key string, v reflect.Value, depth int) {
	if depth > 64 {
		fp.At(n, key, "is nested too deeply")
		return
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			fp.At(n, key, "%s", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if IsNull(n) {
			v.SetZero()
			return
		}
		e := reflect.New(v.Type().Elem())
		if !v.IsNil() {
			e.Elem().Set(v.Elem())
		}
		before := len(fp.Problems)
		decodeValue(fp, n, key, e.Elem(), depth+1)
		if len(fp.Problems) == before {
			v.Set(e)
		}
	case reflect.Struct:
		fields := yamlFields(v.Type())
		for _, p := range Pairs(fp, n, key) {
			k := Key(key, p.Key)
			i, ok := fields[p.Key]
			if !ok {
				fp.At(p.KeyNode, k, "unknown key")
				continue
			}
			decodeValue(fp, p.V, k, v.Field(i), depth+1)
		}
	case reflect.Map:
		if IsNull(n) {
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			decodeLeaf(fp, n, key, v)
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, p := range Pairs(fp, n, key) {
			e := reflect.New(v.Type().Elem()).Elem()
			decodeValue(fp, p.V, Key(key, p.Key), e, depth+1)
			m.SetMapIndex(reflect.ValueOf(p.Key).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.Slice:
		if IsNull(n) {
			v.SetZero()
			return
		}
		if n.Kind != yaml.SequenceNode {
			fp.At(n, key, "must be a list, got %s", describe(n, fp.HideValues || v.Type().Elem() == secretType))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			decodeValue(fp, c, fmt.Sprintf("%s[%d]", key, i), s.Index(i), depth+1)
		}
		v.Set(s)
	default:
		decodeLeaf(fp, n, key, v)
	}
}

// decodeLeaf decodes a single value, naming what it should have been
// when yaml.v3 cannot.
func decodeLeaf(fp *FileProblems, n *yaml.Node, key string, v reflect.Value) {
	secret := fp.HideValues || v.Type() == secretType
	if v.Kind() != reflect.Interface && n.Kind != yaml.ScalarNode {
		fp.At(n, key, "must be a single value, got %s", describe(n, secret))
		return
	}
	what := describe(n, secret)
	isInt := v.Kind() >= reflect.Int && v.Kind() <= reflect.Uint64
	if isInt && n.ShortTag() == "!!float" { // yaml.v3 would truncate 2.5 to 2
		fp.At(n, key, "%s is not an integer", what)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err == nil {
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		fp.At(n, key, "%s is not a boolean (true or false)", what)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		fp.At(n, key, "%s is not an integer", what)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		fp.At(n, key, "%s is not a non-negative integer", what)
	case reflect.Float32, reflect.Float64:
		fp.At(n, key, "%s is not a number", what)
	default:
		fp.At(n, key, "%s is not a valid %s", what, v.Type())
	}
}

// yamlFields maps the yaml names of t's exported fields to their index.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}
