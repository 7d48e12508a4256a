package guard_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/cluster"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/httpapi/guard"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/ratelimit"
)

// BenchmarkChain measures the middleware chain alone, as app builds it
// (recover, request id, node header, access log as JSON at info, trace
// off, metrics, admission, cross-origin check, authentication, rate
// limit, authorization, memory budget), around a handler that reads the
// body and answers a small JSON, in process: what kgate's own plumbing
// spends per request, without the broker's round trip that dominates
// BenchmarkProduceRequest. Doors: open mode, and users and permissions
// with HTTP Basic (a cached password check). Run:
//
//	go test -run '^$' -bench Chain -benchmem ./internal/httpapi/guard/
func BenchmarkChain(b *testing.B) {
	dir := b.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	if err != nil {
		b.Fatal(err)
	}
	users, perms := filepath.Join(dir, "users.yml"), filepath.Join(dir, "permissions.yml")
	if err := os.WriteFile(users, []byte("alice:\n  password_hash: \""+string(hash)+"\"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(perms, []byte("alice:\n  produce: [bench]\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, d := range []struct {
		name   string
		open   bool
		header http.Header
	}{
		{"open", true, nil},
		{"basic", false, http.Header{"Authorization": {"Basic YWxpY2U6cHc="}}}, // alice:pw
	} {
		b.Run(d.name, func(b *testing.B) {
			cfg := config.Default().Auth
			if !d.open {
				cfg.Users, cfg.Permissions = users, perms
			}
			svc, err := auth.New(context.Background(), auth.Options{Config: cfg, Open: d.open, DataDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			h := chain(b, svc)
			serve := func() {
				req := httptest.NewRequest("POST", "/topics/bench", strings.NewReader(`{"records":[{"value":"aGVsbG8="}]}`))
				for k, v := range d.header {
					req.Header[k] = v
				}
				req.Header["Content-Type"] = []string{"application/vnd.kafka.binary.v2+json"}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			for range 10 {
				serve()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				serve()
			}
		})
	}
}

// chain builds the served handler of one produce-like route as app does.
func chain(b *testing.B, svc *auth.Service) http.Handler {
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := metrics.New()
	lim := ratelimit.New(ratelimit.NewUsage("n1"), time.Minute, m.Registry, nil)
	subject := func(r *http.Request, _ auth.Action) ratelimit.Subject {
		name := auth.Anonymous
		if p := auth.FromContext(r.Context()); p != nil && p.Authenticated() {
			name = p.Name
		}
		return ratelimit.Subject{Key: name, Principal: name}
	}
	crossOrigin, err := guard.CrossOrigin(svc, nil)
	if err != nil {
		b.Fatal(err)
	}
	rr := httpapi.NewRouter()
	rr.Add(httpapi.Route{Method: "POST", Pattern: "/topics/{topic}", Name: "bench.produce", Action: auth.Produce,
		Resource: httpapi.PathValue("topic"), ErrorType: "application/vnd.kafka.v2+json",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if _, err := httpapi.ReadBody(r); err != nil {
				return err
			}
			_ = httpapi.MemoryFrom(r.Context()).Take(r.Context(), 1024)
			ratelimit.TicketFrom(r.Context()).Charge(time.Now(), 10)
			w.Header().Set("Content-Type", "application/vnd.kafka.v2+json")
			_, _ = io.WriteString(w, `{"offsets":[{"partition":0,"offset":1,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}`)
			return nil
		}})
	return rr.Handler(httpapi.Chain{
		Outer: []func(http.Handler) http.Handler{
			httpapi.Recover(logger),
			httpapi.RequestIDs,
			cluster.NodeHeaders("node-1"),
			httpapi.AccessLog(logger),
		},
		PerRoute: []httpapi.Middleware{
			httpapi.Trace(nil),
			func(rt httpapi.Route, next http.Handler) http.Handler {
				return m.Instrument(rt.Pattern, rt.Method, next)
			},
			httpapi.Admit(nil),
			crossOrigin,
			guard.Authenticate(svc),
			guard.Limit(lim, subject),
			guard.Authorize(svc),
		},
		Logger:       logger,
		MaxBodyBytes: 1 << 20,
		Memory:       httpapi.NewMemory(64 << 20),
	})
}
