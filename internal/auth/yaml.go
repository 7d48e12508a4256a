package auth

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The users and permissions files are parsed from yaml.Node trees rather
// than decoded into structs: every error names a line and a key, and no
// error ever quotes a value (a value may be a password hash).

// maxFileSize bounds the users and permissions files.
const maxFileSize = 64 << 20

type pair struct {
	key string
	k   *yaml.Node
	v   *yaml.Node
}

func lineErr(n *yaml.Node, format string, args ...any) error {
	if n == nil {
		return fmt.Errorf(format, args...)
	}
	return fmt.Errorf("line %d: "+format, append([]any{n.Line}, args...)...)
}

// parseDoc parses a whole file into its top-level mapping (nil for an
// empty file). Anchors and aliases are refused: the files are small and
// aliases only serve to make them hard to audit (or to blow them up).
func parseDoc(b []byte) (*yaml.Node, error) {
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlSyntax(err)
	}
	if doc.Kind == 0 {
		return nil, nil // empty document
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("not a YAML document")
	}
	root := doc.Content[0]
	if err := noAliases(root, 0); err != nil {
		return nil, err
	}
	if root.Kind == yaml.ScalarNode && (root.Tag == "!!null" || root.Value == "") {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, lineErr(root, "the file must be a mapping of names to entries")
	}
	return root, nil
}

// yamlSyntax strips the parser's error down to its position and kind; the
// scanner's messages do not quote values, the decoder's may, and we never
// decode into typed values here.
func yamlSyntax(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return errors.New("invalid YAML: " + msg)
}

func noAliases(n *yaml.Node, depth int) error {
	if depth > 64 {
		return lineErr(n, "nesting is too deep")
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return lineErr(n, "YAML anchors and aliases are not supported")
	}
	for _, c := range n.Content {
		if err := noAliases(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// pairs returns the entries of a mapping node, refusing duplicate and
// non-scalar keys.
func pairs(n *yaml.Node, what string) ([]pair, error) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, lineErr(n, "%s must be a mapping", what)
	}
	out := make([]pair, 0, len(n.Content)/2)
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, lineErr(k, "%s: keys must be plain names", what)
		}
		if seen[k.Value] {
			return nil, lineErr(k, "%s: %q is defined twice", what, k.Value)
		}
		seen[k.Value] = true
		out = append(out, pair{key: k.Value, k: k, v: v})
	}
	return out, nil
}

func scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", lineErr(n, "%s must be a single value", what)
	}
	return n.Value, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "" && n.Style == 0)
}

// boolValue reads true/false (and KastleX's "all"/"none" spellings).
func boolValue(n *yaml.Node) (v, ok bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on", "all":
		return true, true
	case "false", "no", "off", "none":
		return false, true
	}
	return false, false
}

func floatValue(n *yaml.Node, what string) (float64, error) {
	s, err := scalar(n, what)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, lineErr(n, "%s must be a non-negative number", what)
	}
	return f, nil
}

func intValue(n *yaml.Node, what string) (int64, error) {
	s, err := scalar(n, what)
	if err != nil {
		return 0, err
	}
	v, err := parseSize(s)
	if err != nil || v < 0 {
		return 0, lineErr(n, "%s must be a non-negative whole number (suffixes K, M, G, T, Ki, Mi, Gi, Ti allowed)", what)
	}
	return v, nil
}

// parseSize reads an integer with an optional decimal (K, M, G, T) or
// binary (Ki, Mi, Gi, Ti) suffix, optionally followed by B.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "_", ""))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "b")
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"K", 1e3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64/mult || n < 0 {
		return 0, errors.New("out of range")
	}
	return n * mult, nil
}

// stringList reads a sequence of scalars, or one scalar as a list of one.
func stringList(n *yaml.Node, what string) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			return nil, nil
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, lineErr(c, "%s must be a list of names", what)
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, lineErr(n, "%s must be a list", what)
}
