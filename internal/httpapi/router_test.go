package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func testHandler(t *testing.T) http.Handler {
	t.Helper()
	rr := NewRouter()
	rr.Add(Route{Method: "GET", Pattern: "/topics/{topic}", Name: "t", Action: "show_topic", Resource: PathValue("topic"),
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			WriteJSON(w, 200, "application/json", map[string]string{"topic": r.PathValue("topic")})
			return nil
		}})
	rr.Add(Route{Method: "POST", Pattern: "/echo", Name: "echo", Action: "produce",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			b, err := ReadBody(r)
			if err != nil {
				return err
			}
			WriteJSON(w, 200, "application/json", map[string]int{"n": len(b)})
			return nil
		}})
	rr.Add(Route{Method: "GET", Pattern: "/panic", Name: "panic", Action: "x",
		Handler: func(w http.ResponseWriter, r *http.Request) error { panic("boom") }})
	rr.Add(Route{Method: "GET", Pattern: "/fail", Name: "fail", Action: "x", ErrorType: "application/vnd.kafka.v2+json",
		Handler: func(w http.ResponseWriter, r *http.Request) error { return ErrTopicNotFound }})
	logger := slog.New(slog.DiscardHandler)
	return rr.Handler(Chain{
		Outer:        []func(http.Handler) http.Handler{Recover(logger), RequestIDs, AccessLog(logger)},
		Logger:       logger,
		MaxBodyBytes: 10,
	})
}

func TestRouter(t *testing.T) {
	srv := httptest.NewServer(testHandler(t))
	defer srv.Close()
	cases := []struct {
		method, path, body string
		status, code       int
		ctype, contains    string
	}{
		{"GET", "/topics/a", "", 200, 0, "application/json", `"topic":"a"`},
		{"GET", "/topics/a/", "", 200, 0, "application/json", `"topic":"a"`},
		{"GET", "/topics/a%2Fb", "", 200, 0, "application/json", `"topic":"a/b"`},
		{"GET", "/nothing", "", 404, 404, "application/json", "HTTP 404 Not Found"},
		{"DELETE", "/topics/a", "", 405, 405, "application/json", "Method Not Allowed"},
		{"GET", "/topics/../echo", "", 404, 404, "application/json", ""},
		{"GET", "/topics//a", "", 404, 404, "application/json", ""},
		{"GET", "/topics/./a", "", 404, 404, "application/json", ""},
		{"POST", "/echo", "12345", 200, 0, "application/json", `"n":5`},
		{"POST", "/echo", "12345678901", 413, 413, "application/json", "larger than 10 bytes"},
		{"GET", "/panic", "", 500, 500, "application/json", "Internal Server Error"},
		{"GET", "/fail", "", 404, 40401, "application/vnd.kafka.v2+json", "Topic not found."},
	}
	for _, c := range cases {
		t.Run(c.method+c.path, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
			// Keep the path exactly as written (no client-side cleaning).
			req.URL.Opaque = c.path
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != c.ctype {
				t.Fatalf("Content-Type %q, want %q", ct, c.ctype)
			}
			if !strings.Contains(string(b), c.contains) {
				t.Fatalf("body %s does not contain %q", b, c.contains)
			}
			if c.code != 0 {
				var e map[string]any
				if err := json.Unmarshal(b, &e); err != nil || len(e) != 2 || int(e["error_code"].(float64)) != c.code {
					t.Fatalf("error body %s, want exactly error_code %d and message", b, c.code)
				}
			}
			if resp.Header.Get("X-Request-ID") == "" {
				t.Fatal("no X-Request-ID")
			}
			if c.status == 405 && resp.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
}

func TestRequestIDEcho(t *testing.T) {
	srv := httptest.NewServer(testHandler(t))
	defer srv.Close()
	for _, c := range []struct{ in, want string }{{"abc-123", "abc-123"}, {"bad id;drop", ""}, {strings.Repeat("a", 200), ""}} {
		req, _ := http.NewRequest("GET", srv.URL+"/topics/a", nil)
		req.Header.Set("X-Request-ID", c.in)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-ID")
		if c.want != "" && got != c.want || c.want == "" && (got == c.in || got == "") {
			t.Errorf("X-Request-ID %q -> %q", c.in, got)
		}
	}
}

func TestRouterRejectsBadRoutes(t *testing.T) {
	for _, rt := range []Route{
		{Method: "GET", Pattern: "/a", Action: "x"},                                                            // no handler
		{Method: "GET", Pattern: "/a", Handler: func(http.ResponseWriter, *http.Request) error { return nil }}, // no action
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("route %+v accepted", rt.Key())
				}
			}()
			NewRouter().Add(rt)
		}()
	}
}
