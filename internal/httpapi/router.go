package httpapi

import (
	"fmt"

	"log/slog"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/kgate/kgate/internal/auth"
)

// Route is one endpoint and everything the chain needs to know about it.
type Route struct {
	// Method and Pattern are the ServeMux pattern's parts:
	// "POST" and "/topics/{topic}".
	Method  string
	Pattern string
	// Name is a stable identifier, "v2.produce", used in docs and tests.
	Name string
	// Action is the authorization action the route needs. Empty only
	// for Public routes.
	Action auth.Action
	// Resource extracts the name the action applies to (a topic, a
	// group); nil for cluster-wide actions.
	Resource func(*http.Request) string
	// Public routes skip authentication and authorization (/healthz).
	Public bool
	// Probe routes (health, readiness, metrics) answer even when the node
	// serves as many requests as it admits: admission does not count
	// them.
	Probe bool
	// Long routes hold their request open while they wait for records
	// (v2 long polls, push streams): their own caps bound them, and
	// admission does not count them.
	Long bool
	// Stream routes read an unbounded body; the body cap applies per
	// record inside the handler instead of to the whole request.
	Stream bool
	// ErrorType is the Content-Type of error bodies when the handler set
	// none (v2 answers application/vnd.kafka.v2+json).
	ErrorType string
	// Summary is the one-line description used by the API document.
	Summary string
	// Forbidden, if set, writes the route's own refusal when the caller
	// is authenticated but lacks the right (v2 produce answers a
	// ProduceResponse with a 40301 per record, as Confluent does). err is
	// the catalog's 403; a returned error is written the usual way.
	Forbidden func(w http.ResponseWriter, r *http.Request, err *Error) error
	// Doc describes parameters, bodies and responses for the API
	// document; nil documents the path parameters and a generic answer.
	Doc *Doc
	// Handler serves the route.
	Handler HandlerFunc
}

// Key is "METHOD pattern", the route's ServeMux pattern.
func (rt Route) Key() string { return rt.Method + " " + rt.Pattern }

// PathValue returns a resource extractor for a path wildcard.
func PathValue(name string) func(*http.Request) string {
	return func(r *http.Request) string { return r.PathValue(name) }
}

// Middleware wraps one route's handler; it sees the route, so it can label
// metrics with the pattern or check the route's action.
type Middleware func(Route, http.Handler) http.Handler

// Router collects the routes of every API surface, then builds one
// handler with the middleware chain. Add is not safe for concurrent use;
// the built handler is.
type Router struct {
	routes []Route
	keys   map[string]bool
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{keys: map[string]bool{}} }

// Add registers a route. Registering the same method and pattern twice
// panics: it is a programming error.
func (rr *Router) Add(rt Route) {
	if rt.Handler == nil {
		panic("httpapi: route " + rt.Key() + " has no handler")
	}
	if !rt.Public && rt.Action == "" {
		panic("httpapi: route " + rt.Key() + " has no action")
	}
	if rr.keys[rt.Key()] {
		panic("httpapi: duplicate route " + rt.Key())
	}
	rr.keys[rt.Key()] = true
	rr.routes = append(rr.routes, rt)
}

// Routes returns the registered routes sorted by pattern then method.
func (rr *Router) Routes() []Route {
	out := append([]Route(nil), rr.routes...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pattern != out[j].Pattern {
			return out[i].Pattern < out[j].Pattern
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Chain is the middleware the built handler applies: Outer wraps the
// whole mux (outermost first: recover, request id, access log), PerRoute
// wraps each route (outermost first: metrics, authentication, rate limit,
// authorization).
type Chain struct {
	Outer    []func(http.Handler) http.Handler
	PerRoute []Middleware
	Logger   *slog.Logger
	// MaxBodyBytes caps request bodies of non-stream routes.
	MaxBodyBytes int64
	// Memory, if set, is the budget requests in flight take from
	// (Memory.Take); over it they wait a second, then answer 503.
	Memory *Memory
}

// Handler builds the serving handler. Unknown paths answer 404 and known
// paths with another method 405, both in the catalog's JSON shape; a
// trailing slash is tolerated as Confluent's proxy does; unclean paths
// (dot segments, double slashes) are refused rather than redirected.
func (rr *Router) Handler(c Chain) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range rr.routes {
		var h http.Handler = adapt(rt, c.Logger, c.MaxBodyBytes, c.Memory)
		for i := len(c.PerRoute) - 1; i >= 0; i-- {
			h = c.PerRoute[i](rt, h)
		}
		if rt.Stream {
			h = closeUnlessStreaming(h)
		}
		mux.Handle(rt.Key(), h)
	}
	// The catch-all has the lowest precedence: it only sees what no
	// route matched, so the hot path is one ServeMux match.
	mux.Handle("/", unmatched{mux: mux, logger: c.Logger})
	var h http.Handler = cleanPaths{mux: mux, logger: c.Logger}
	for i := len(c.Outer) - 1; i >= 0; i-- {
		h = c.Outer[i](h)
	}
	return h
}

func adapt(rt Route, logger *slog.Logger, maxBody int64, m *Memory) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m != nil {
			r2, a, err := admit(r, m, rt, maxBody)
			defer a.Close()
			if err != nil {
				WriteError(w, r, logger, rt.ErrorType, err)
				return
			}
			r = r2
		}
		if !rt.Stream && maxBody > 0 && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		if err := rt.Handler(w, r); err != nil {
			WriteError(w, r, logger, rt.ErrorType, err)
		}
	})
}

// closeUnlessStreaming marks an HTTP/1 answer to a stream route
// "Connection: close" until the handler starts streaming (and deletes it,
// StartStream): a stream refused at the door (401, 429, 503) must not
// wait for the rest of an endless body, which net/http would otherwise
// read to reuse the connection.
func closeUnlessStreaming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// StartStream readies w's header for a stream's 200: the connection
// stays open for the next request once the stream is done.
func StartStream(w http.ResponseWriter) { w.Header().Del("Connection") }

// cleanPaths refuses unclean paths before the mux would redirect them to
// the clean path: no path trick reaches a handler and no client is
// bounced to another resource.
type cleanPaths struct {
	mux    *http.ServeMux
	logger *slog.Logger
}

func (c cleanPaths) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if cl := path.Clean(p); cl != p && cl != strings.TrimSuffix(p, "/") && r.Method != http.MethodConnect {
		WriteError(w, r, c.logger, ErrorContentType, ErrNotFound.Wrap(fmt.Errorf("unclean path %q", p)))
		return
	}
	c.mux.ServeHTTP(w, r)
}

// unmatched answers what no route matched: a retry without a trailing
// slash, else 405 (with Allow) when the path exists for other methods,
// else 404.
type unmatched struct {
	mux    *http.ServeMux
	logger *slog.Logger
}

var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (u unmatched) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimSuffix(p, "/")
		r2.URL.RawPath = ""
		if _, pattern := u.mux.Handler(r2); pattern != "/" {
			u.mux.ServeHTTP(w, r2)
			return
		}
	}
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := u.mux.Handler(probe); pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteError(w, r, nil, ErrorContentType, ErrMethodNotAllowed)
		return
	}
	WriteError(w, r, nil, ErrorContentType, ErrNotFound)
}
