// Package layout holds the test that keeps kgate's import graph pointing
// one way (STYLE.md: cli -> app -> feature packages -> kafka, metrics,
// config).
package layout

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/kgate/kgate/"

// imports returns, for every package under internal/, the kgate packages
// its non-test files import (paths relative to the module).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	root := filepath.Join("..", "..")
	out := map[string][]string{}
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if strings.HasPrefix(p, module) {
				out[pkg] = append(out[pkg], strings.TrimPrefix(p, module))
			}
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// TestImportGraph: the rules of STYLE.md's layout, each a test failure
// when broken.
func TestImportGraph(t *testing.T) {
	g := imports(t)
	if len(g) < 10 {
		t.Fatalf("found only %d packages; is the walk rooted right?", len(g))
	}
	surfaces := []string{"internal/httpapi/v2", "internal/httpapi/v3", "internal/httpapi/kastlex", "internal/httpapi/admin", "internal/httpapi/ops", "internal/httpapi/openapi"}
	// Domain packages know nothing of HTTP's wire: they return domain
	// values that the API packages map.
	domain := []string{"internal/auth", "internal/ratelimit", "internal/audit", "internal/record", "internal/kafka",
		"internal/config", "internal/ktable", "internal/broker", "internal/consumer", "internal/metrics", "internal/instances"}
	var bad []string
	for pkg, deps := range g {
		for _, d := range deps {
			switch {
			case !under(pkg, "internal/cli") && under(d, "internal/cli"):
				bad = append(bad, pkg+" imports "+d+" (only cmd imports cli)")
			case !under(pkg, "internal/cli") && !under(pkg, "internal/app") && !under(pkg, "internal/testutil") && under(d, "internal/app"):
				bad = append(bad, pkg+" imports "+d+" (feature packages never import app)")
			}
			for _, s := range surfaces {
				if under(d, s) && !under(pkg, s) && !under(pkg, "internal/app") && !under(pkg, "internal/testutil") {
					bad = append(bad, pkg+" imports "+d+" (API surfaces never import each other)")
				}
			}
			for _, dm := range domain {
				if under(pkg, dm) && under(d, "internal/httpapi") {
					bad = append(bad, pkg+" imports "+d+" (domain packages do not depend on HTTP)")
				}
			}
			if under(pkg, "internal/record") {
				bad = append(bad, pkg+" imports "+d+" (the record codec stands alone)")
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}
