package openapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/admin"
	"github.com/kgate/kgate/internal/httpapi/kastlex"
	"github.com/kgate/kgate/internal/httpapi/openapi"
	"github.com/kgate/kgate/internal/httpapi/ops"
	v2 "github.com/kgate/kgate/internal/httpapi/v2"
	v3 "github.com/kgate/kgate/internal/httpapi/v3"
	"github.com/kgate/kgate/internal/testutil"
)

func fetchDocument(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestDocumentListsEveryRoute: the served document has exactly the routes
// the gateway registered, no more and no fewer; and every operation it
// names is served by a route of that pattern (checked through the
// per-route request counter, which only routed requests increment).
func TestDocumentListsEveryRoute(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.Metrics.Open = true })
	doc := fetchDocument(t, g.URL)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi %v", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)

	var documented, registered []string
	for p, ops := range paths {
		for m := range ops.(map[string]any) {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	patternOf := map[string]string{}
	for _, rt := range g.Info.Routes {
		k := rt.Method + " " + openapi.Path(rt.Pattern)
		registered = append(registered, k)
		patternOf[k] = rt.Pattern
	}
	sort.Strings(documented)
	sort.Strings(registered)
	names := map[string]bool{}
	for _, rt := range g.Info.Routes {
		names[rt.Name] = true
	}
	for _, n := range openapi.Supplemented() {
		if !names[n] {
			t.Errorf("the document supplements route %q, which is not registered", n)
		}
	}
	if len(registered) < 80 {
		t.Errorf("only %d routes registered", len(registered))
	}
	if diff := cmp.Diff(registered, documented); diff != "" {
		t.Fatalf("registered routes (-) vs documented operations (+):\n%s", diff)
	}

	// Probe every documented operation with sample path values.
	probe := "openapi-probe"
	resp, err := http.Post(g.URL+"/v3/clusters/kgate-embedded/topics", "application/json", strings.NewReader(`{"topic_name":"`+probe+`"}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("creating probe topic: %v %v", resp, err)
	}
	resp.Body.Close()
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for _, op := range documented {
		method, p, _ := strings.Cut(op, " ")
		if method == "DELETE" || p == "/openapi.json" {
			continue // probed last / already fetched
		}
		doProbe(t, g.URL, method, param.ReplaceAllStringFunc(p, sample(probe)))
	}
	for _, op := range documented {
		if method, p, _ := strings.Cut(op, " "); method == "DELETE" {
			doProbe(t, g.URL, method, param.ReplaceAllStringFunc(p, sample(probe)))
		}
	}
	metrics := scrape(t, g.URL)
	for _, op := range documented {
		method, _, _ := strings.Cut(op, " ")
		label := `route="` + patternOf[op] + `"`
		if !strings.Contains(metrics, "kgate_http_requests_total{code=") || !metricHas(metrics, label, method) {
			t.Errorf("%s: no request was served by route %s", op, patternOf[op])
		}
	}
}

func sample(topic string) func(string) string {
	return func(m string) string {
		switch name := strings.Trim(m, "{}"); name {
		case "cluster_id":
			return "kgate-embedded"
		case "partition", "partition_id", "broker_id", "broker", "offset":
			return "0"
		case "topic", "topic_name":
			return topic
		default:
			return "probe"
		}
	}
}

func doProbe(t *testing.T, base, method, path string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, base+path, nil)
	if method == "GET" && strings.Contains(path, "/messages/") {
		req.URL.RawQuery = "max_wait_time=0"
	}
	if method == "GET" && strings.HasSuffix(path, "/records/stream") {
		req.URL.RawQuery = "from=probe" // 400: a push stream would never end
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func metricHas(metrics, routeLabel, method string) bool {
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "kgate_http_requests_total{") && strings.Contains(line, routeLabel) &&
			strings.Contains(line, `method="`+method+`"`) {
			return true
		}
	}
	return false
}

// TestDocumentIsConsistent checks the document's own references: every
// $ref resolves, every path wildcard is a declared path parameter (and
// back), operation ids are unique, every operation has responses.
func TestDocumentIsConsistent(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	doc := fetchDocument(t, g.URL)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/components/schemas/")
				if _, ok := schemas[name]; !ok || name == ref {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	ids := map[string]string{}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for p, ops := range doc["paths"].(map[string]any) {
		for m, o := range ops.(map[string]any) {
			op := o.(map[string]any)
			id, _ := op["operationId"].(string)
			if prev, dup := ids[id]; dup || id == "" {
				t.Errorf("operationId %q of %s %s repeats %s", id, m, p, prev)
			}
			ids[id] = m + " " + p
			if rs, _ := op["responses"].(map[string]any); len(rs) < 2 || rs["default"] == nil {
				t.Errorf("%s %s: responses %v", m, p, rs)
			}
			declared := map[string]bool{}
			ps, _ := op["parameters"].([]any)
			for _, x := range ps {
				pm := x.(map[string]any)
				if pm["in"] == "path" {
					declared[pm["name"].(string)] = true
				}
			}
			for _, w := range param.FindAllStringSubmatch(p, -1) {
				if !declared[w[1]] {
					t.Errorf("%s %s: path parameter %s not declared", m, p, w[1])
				}
				delete(declared, w[1])
			}
			if len(declared) > 0 {
				t.Errorf("%s %s: declares path parameters not in the path: %v", m, p, declared)
			}
		}
	}
}

// TestAllSurfacesShareOneRouter registers every API surface in one router,
// KastleX's login and admin routes (package admin) included: the patterns
// must not clash (ServeMux panics if they do), each admin path must reach
// its own route, and the document must list them.
func TestAllSurfacesShareOneRouter(t *testing.T) {
	rr := httpapi.NewRouter()
	ops.Register(rr, ops.Deps{Metrics: http.NotFoundHandler()})
	v2.Register(rr, v2.Deps{})
	v3.Register(rr, v3.Deps{})
	kastlex.Register(rr, kastlex.Deps{})
	admin.Register(rr, admin.Deps{})
	openapi.Register(rr)
	// A middleware that names the route a request reached instead of
	// serving it (the handlers need running services).
	h := rr.Handler(httpapi.Chain{PerRoute: []httpapi.Middleware{func(rt httpapi.Route, _ http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Route", rt.Name)
			w.WriteHeader(http.StatusNoContent)
		})
	}}})
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/login", "admin.login"},
		{"GET", "/admin/reload", "admin.reload.get"},
		{"DELETE", "/admin/tokens/alice", "admin.tokens.revoke_user"},
		{"DELETE", "/admin/tokens/id/abc", "admin.tokens.revoke_id"},
		{"GET", "/api/v1/messages/foo/0", "kastlex.v1.fetch"},
		{"POST", "/api/v1/messages/foo", "kastlex.v1.produce"},
		{"POST", "/v3/clusters/c/topics/t/records", "v3.records.produce"},
		{"GET", "/v3/clusters/c/topics/t/records/stream", "v3.records.stream"},
		{"POST", "/topics/t", "v2.topics.produce"},
		{"GET", "/openapi.json", "openapi.document"},
	} {
		req, _ := http.NewRequest(tc.method, tc.path, nil)
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, req)
		if got := rec.header.Get("X-Route"); got != tc.want {
			t.Errorf("%s %s reached %q (status %d), want %s", tc.method, tc.path, got, rec.status, tc.want)
		}
	}
	doc := openapi.Build(rr.Routes(), openapi.Info{Title: "t", Version: "1"})
	for _, op := range []string{"POST /login", "GET /admin/reload", "DELETE /admin/tokens/{username}"} {
		if !contains(doc.Operations(), op) {
			t.Errorf("document lacks %s", op)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, e := range xs {
		if e == x {
			return true
		}
	}
	return false
}

type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(s int)           { r.status = s }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }

// TestGoldenOperations pins how the served document describes the two
// produce paths of v3 and KastleX (the rest follows the same builder).
func TestGoldenOperations(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	doc := fetchDocument(t, g.URL)
	paths := doc["paths"].(map[string]any)
	pick := map[string]any{
		"/v3/clusters/{cluster_id}/topics/{topic_name}/records": paths["/v3/clusters/{cluster_id}/topics/{topic_name}/records"],
		"/api/v1/messages/{topic}/{partition}":                  paths["/api/v1/messages/{topic}/{partition}"],
	}
	b, err := json.MarshalIndent(pick, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "operations", b)
}
