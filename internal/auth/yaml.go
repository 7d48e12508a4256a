package auth

import (
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kgate/kgate/internal/config"
)

// The users and permissions files are read from yaml.Node trees with
// config's YAML helpers rather than decoded into structs: every problem
// is reported, each as file:line: key.path: problem (config.FileProblems),
// and no message ever quotes a value (a value may be a password hash).

// maxFileSize bounds the users and permissions files.
const maxFileSize = 64 << 20

// newFile returns the problem list of a users or permissions file; file
// names it in messages ("" leaves it out). Values are never quoted.
func newFile(file string) *config.FileProblems {
	return &config.FileProblems{File: file, HideValues: true}
}

// parseFile parses a whole file into its top-level entries (none for an
// empty file). Anchors and aliases are refused: the files are small and
// aliases only serve to make them hard to audit (or to blow them up).
func parseFile(fp *config.FileProblems, b []byte) []config.Pair {
	if len(b) > maxFileSize {
		fp.At(nil, "", "the file is larger than %d bytes", maxFileSize)
		return nil
	}
	root := config.ParseYAML(fp, b)
	if root == nil || !noAliases(fp, root, "", 0) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		fp.At(root, "", "the file must be a mapping of names to entries")
		return nil
	}
	return config.Pairs(fp, root, "")
}

// noAliases records the first anchor or alias under n (the setting at
// key) and reports whether there is none.
func noAliases(fp *config.FileProblems, n *yaml.Node, key string, depth int) bool {
	if depth > 64 {
		fp.At(n, key, "is nested too deeply")
		return false
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		fp.At(n, key, "YAML anchors and aliases are not supported")
		return false
	}
	for i, c := range n.Content {
		k := key
		switch {
		case n.Kind == yaml.MappingNode && i%2 == 1:
			k = config.Key(key, n.Content[i-1].Value)
		case n.Kind == yaml.SequenceNode:
			k = key + "[" + strconv.Itoa(i) + "]"
		}
		if !noAliases(fp, c, k, depth+1) {
			return false
		}
	}
	return true
}

// scalar returns n's value, or records that n (the setting at key) is not
// a single value.
func scalar(fp *config.FileProblems, n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		fp.At(n, key, "must be a single value")
		return "", false
	}
	return n.Value, true
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

// floatValue reads a non-negative number.
func floatValue(fp *config.FileProblems, n *yaml.Node, key string) (float64, bool) {
	s, ok := scalar(fp, n, key)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		fp.At(n, key, "must be a non-negative number")
		return 0, false
	}
	return f, true
}

// rateValue reads bytes per second: a size (1Mi) or a non-negative
// number, as config.ByteRate.
func rateValue(fp *config.FileProblems, n *yaml.Node, key string) (float64, bool) {
	s, ok := scalar(fp, n, key)
	if !ok {
		return 0, false
	}
	r, err := config.ParseByteRate(s)
	if err != nil {
		fp.At(n, key, "must be a non-negative number of bytes per second (K, M, G, T, Ki, Mi, Gi, Ti allowed)")
		return 0, false
	}
	return float64(r), true
}

// intValue reads a non-negative whole number, sizes' suffixes allowed
// (as config.Bytes).
func intValue(fp *config.FileProblems, n *yaml.Node, key string) (int64, bool) {
	s, ok := scalar(fp, n, key)
	if !ok {
		return 0, false
	}
	v, err := config.ParseBytes(s)
	if err != nil {
		fp.At(n, key, "must be a non-negative whole number (K, M, G, T, Ki, Mi, Gi, Ti allowed)")
		return 0, false
	}
	return int64(v), true
}

// stringList reads a sequence of scalars, or one scalar as a list of one,
// each with its key path.
func stringList(fp *config.FileProblems, n *yaml.Node, key string) ([]item, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		if config.IsNull(n) {
			return nil, true
		}
		return []item{{n.Value, n, key}}, true
	case yaml.SequenceNode:
		out := make([]item, 0, len(n.Content))
		ok := true
		for i, c := range n.Content {
			k := key + "[" + strconv.Itoa(i) + "]"
			if c.Kind != yaml.ScalarNode {
				fp.At(c, k, "must be a name")
				ok = false
				continue
			}
			out = append(out, item{c.Value, c, k})
		}
		return out, ok
	}
	fp.At(n, key, "must be a list")
	return nil, false
}

// item is one value of a list with where it is.
type item struct {
	value string
	node  *yaml.Node
	key   string
}
