package config_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/config"
)

// TestDocsYAMLExamplesLoad loads every ```yaml block of docs/*.md as what
// its section describes (a users file, a permissions file, or kgate's
// configuration) and fails on any problem, so that an example cannot show
// a key, a unit or a value kgate refuses. Configuration examples are also
// validated, except that the files they name need not exist here.
func TestDocsYAMLExamplesLoad(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	examples := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range yamlBlocks(string(b)) {
			examples++
			name := filepath.Base(doc) + ":" + ex.line
			t.Run(name, func(t *testing.T) {
				switch {
				case strings.Contains(ex.section, "Users file"):
					if _, err := auth.ParseUsers([]byte(ex.text)); err != nil {
						t.Errorf("users file example does not load: %v\n%s", err, ex.text)
					}
				case strings.Contains(ex.section, "Permissions file"):
					if _, err := auth.ParsePermissions([]byte(ex.text)); err != nil {
						t.Errorf("permissions file example does not load: %v\n%s", err, ex.text)
					}
				default:
					c := config.Default()
					if err := config.Decode(name, []byte(ex.text), &c); err != nil {
						t.Fatalf("configuration example does not load: %v\n%s", err, ex.text)
					}
					if err := c.Validate(); err != nil {
						for _, p := range err.(config.Problems) {
							if !strings.Contains(p.Message, "cannot be read") {
								t.Errorf("configuration example is invalid: %s", p)
							}
						}
					}
				}
			})
		}
	}
	if examples < 6 {
		t.Errorf("found %d YAML examples in docs/*.md, want at least 6", examples)
	}
}

type example struct {
	line, section, text string
}

// yamlBlocks returns the ```yaml blocks of a Markdown document with the
// "## " heading they are under.
func yamlBlocks(doc string) []example {
	var out []example
	var section string
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "## ") {
			section = l
		}
		if strings.TrimSpace(l) != "```yaml" {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		out = append(out, example{line: strconv.Itoa(start + 1), section: section, text: strings.Join(lines[start:i], "\n") + "\n"})
	}
	return out
}
