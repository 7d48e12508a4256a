package http1

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// echo answers with what the handler saw of the request.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hs := make([]string, 0, len(keys))
	for _, k := range keys {
		hs = append(hs, k+"="+strings.Join(r.Header[k], "|"))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "uri": r.RequestURI, "path": r.URL.Path, "rawquery": r.URL.RawQuery,
		"host": r.Host, "proto": r.Proto, "close": r.Close, "length": r.ContentLength,
		"header": hs, "body": string(body),
	})
}

type servers struct {
	fast, plain string
	fs          *Server
}

// startBoth starts the loop (with its fallback) and a plain net/http
// server with the same handler and limits.
func startBoth(t *testing.T, h http.Handler, keep ...func(*http.Request) bool) servers {
	t.Helper()
	plain := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10, ErrorLog: log.New(io.Discard, "", 0)}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = plain.Serve(pln) }()
	fb := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10, ErrorLog: log.New(io.Discard, "", 0)}
	fs := &Server{Handler: h, Fallback: fb, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second,
		WriteTimeout: 10 * time.Second, MaxHeaderBytes: 8 << 10, MaxBodyBytes: 64 << 10, ErrorLog: log.New(io.Discard, "", 0)}
	if len(keep) > 0 {
		fs.Keep = keep[0]
	}
	fln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fs.Serve(fln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = plain.Shutdown(ctx)
		if err := fs.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return servers{fast: fln.Addr().String(), plain: pln.Addr().String(), fs: fs}
}

// exchange sends raw and reads every response until the server closes or
// n responses came, each as "status|header fields but Date|body".
func exchange(t *testing.T, addr, raw string, n int) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []string
	for len(out) < n {
		// A HEAD answer has no body whatever its length says.
		method, _, _ := strings.Cut(raw, " ")
		res, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			break
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out = append(out, fmt.Sprintf("%d|%s|%s", res.StatusCode, res.Header.Get("Content-Type"), body))
	}
	return out
}

func TestSameAnswersAsNetHTTP(t *testing.T) {
	ss := startBoth(t, http.HandlerFunc(echo))
	post := func(target, headers, body string) string {
		return "POST " + target + " HTTP/1.1\r\nHost: kgate.test\r\n" + headers + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	}
	big := strings.Repeat("x", 100<<10)
	cases := []struct {
		name  string
		raw   string
		n     int
		kept  bool // the loop serves it (else it is handed over)
		close bool
	}{
		{"plain post", post("/topics/t?x=1&y=%2F", "Content-Type: application/json\r\n", `{"records":[]}`), 1, true, false},
		{"lower-case names", "POST /a HTTP/1.1\r\nhost: h\r\ncontent-type: text/plain\r\nx-request-id: abc\r\ncontent-length: 2\r\n\r\nhi", 1, true, false},
		{"odd-case names and whitespace", "POST /a HTTP/1.1\r\nHOST: h\r\nX-CUSTOM-thing:   spaced value \t\r\nX-Custom-Thing: second\r\nContent-Length: 0\r\n\r\n", 1, true, false},
		{"no body, no length", "POST /a HTTP/1.1\r\nHost: h\r\n\r\n", 1, true, false},
		{"pipelined", post("/1", "", "one") + post("/2", "", "two") + post("/3", "Connection: close\r\n", "three"), 3, true, true},
		{"connection close", post("/a", "Connection: keep-alive, close\r\n", "x"), 1, true, true},
		{"percent-encoded path", post("/topics/a%20b", "", ""), 1, true, false},
		{"bad percent-encoding", post("/topics/%zz", "", ""), 1, false, true},
		{"get", "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", 1, false, false},
		{"get then post", "GET /a HTTP/1.1\r\nHost: h\r\n\r\n" + post("/b", "", "b"), 2, false, false},
		{"post then get", post("/b", "", "b") + "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 2, false, true},
		{"chunked", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1, false, false},
		{"length and chunked", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1, false, false},
		{"two lengths", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 1, false, true},
		{"same length twice", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 1, false, false},
		{"signed length", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 1, false, true},
		{"folded line", "POST /a HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", 1, false, true},
		{"space before colon", "POST /a HTTP/1.1\r\nHost: h\r\nX-A : a\r\nContent-Length: 0\r\n\r\n", 1, false, true},
		{"bare LF", "POST /a HTTP/1.1\nHost: h\nContent-Length: 0\n\n", 1, false, false},
		{"no host", "POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 1, false, true},
		{"two hosts", "POST /a HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n", 1, false, true},
		{"bad host", "POST /a HTTP/1.1\r\nHost: a b\r\nContent-Length: 0\r\n\r\n", 1, false, true},
		{"absolute form", "POST http://h/a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 1, false, false},
		{"double slash", "POST //evil/a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 1, true, false},
		{"http/1.0", "POST /a HTTP/1.0\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", 1, false, true},
		{"expect", "POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", 1, false, false},
		{"h2c upgrade", "POST /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 0\r\n\r\n", 1, false, false},
		{"control byte in value", "POST /a HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n", 1, false, true},
		{"head too large", "POST /a HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\nContent-Length: 0\r\n\r\n", 1, false, true},
		{"body past the loop's cap", post("/a", "", big), 1, false, false},
		{"leading empty line", "\r\n" + post("/a", "", "x"), 1, false, false},
		{"lower-case method", "post /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 1, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := ss.fs.HandedOver()
			got := exchange(t, ss.fast, tc.raw, tc.n)
			want := exchange(t, ss.plain, tc.raw, tc.n)
			if len(want) == 0 {
				t.Fatalf("net/http answered nothing to %q", tc.raw)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("answers differ\n loop:     %q\n net/http: %q", got, want)
			}
			handed := ss.fs.HandedOver() != before
			if handed == tc.kept {
				t.Errorf("handed over = %v, want %v", handed, !tc.kept)
			}
		})
	}
}

// TestKeep: with Server.Keep the loop also serves GET, PUT, PATCH and
// DELETE, except what Keep refuses (held-open requests, here /long),
// and hands HEAD and OPTIONS over; answers equal net/http's.
func TestKeep(t *testing.T) {
	ss := startBoth(t, http.HandlerFunc(echo), func(r *http.Request) bool { return r.URL.Path != "/long" })
	get := func(target string) string { return "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n" }
	cases := []struct {
		name string
		raw  string
		n    int
		kept bool
	}{
		{"get", get("/topics?x=1"), 1, true},
		{"get, post, delete", get("/a") + "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nb" +
			"DELETE /c HTTP/1.1\r\nHost: h\r\n\r\n", 3, true},
		{"put and patch with bodies", "PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi" +
			"PATCH /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nhey", 2, true},
		{"get with a body", "GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody", 1, true},
		{"refused by keep", get("/long"), 1, false},
		{"kept, then refused", get("/a") + get("/long") + get("/b"), 3, false},
		{"head", "HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n", 1, false},
		{"options", "OPTIONS /a HTTP/1.1\r\nHost: h\r\n\r\n", 1, false},
		{"websocket", "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := ss.fs.HandedOver()
			got := exchange(t, ss.fast, tc.raw, tc.n)
			want := exchange(t, ss.plain, tc.raw, tc.n)
			if len(want) != tc.n {
				t.Fatalf("net/http answered %d of %d", len(want), tc.n)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("answers differ\n loop:     %q\n net/http: %q", got, want)
			}
			if handed := ss.fs.HandedOver() != before; handed == tc.kept {
				t.Errorf("handed over = %v, want %v", handed, !tc.kept)
			}
		})
	}
}

// TestKeptRequestsAreFramedLikeNetHTTP checks the responses' framing with
// Go's client over one keep-alive connection: buffered, declared length,
// flushed (chunked), large, bodiless statuses, a sniffed type, header
// changes after WriteHeader ignored, line breaks in values neutralized.
func TestResponses(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /small", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "small")
	})
	mux.HandleFunc("POST /declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "8")
		_, _ = io.WriteString(w, "declared")
	})
	mux.HandleFunc("POST /short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "short")
	})
	mux.HandleFunc("POST /flushed", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush: %v", err)
			}
		}
	})
	mux.HandleFunc("POST /large", func(w http.ResponseWriter, r *http.Request) {
		for range 40 {
			_, _ = w.Write(bytes.Repeat([]byte("0123456789abcdef"), 256))
		}
	})
	mux.HandleFunc("POST /nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		if _, err := io.WriteString(w, "x"); !errors.Is(err, http.ErrBodyNotAllowed) {
			t.Errorf("write after 204: %v", err)
		}
	})
	mux.HandleFunc("POST /sniffed", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html><body>hi</body></html>")
	})
	mux.HandleFunc("POST /late", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Before", "yes")
		w.Header().Set("X-Split", "a\r\nSet-Cookie: evil=1")
		w.WriteHeader(http.StatusAccepted)
		w.Header().Set("X-After", "yes")
		_, _ = io.WriteString(w, "late")
	})
	mux.HandleFunc("POST /duplex", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("full duplex: %v", err)
		}
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("write deadline: %v", err)
		}
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})
	ss := startBoth(t, mux)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	do := func(path, body string) (*http.Response, string) {
		t.Helper()
		res, err := client.Post("http://"+ss.fast+path, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil && path != "/short" {
			t.Fatalf("%s: reading: %v", path, err)
		}
		return res, string(b)
	}
	if res, b := do("/small", ""); b != "small" || res.ContentLength != 5 || res.Header.Get("Date") == "" {
		t.Errorf("small: %q length %d date %q", b, res.ContentLength, res.Header.Get("Date"))
	}
	if res, b := do("/declared", ""); b != "declared" || res.ContentLength != 8 {
		t.Errorf("declared: %q length %d", b, res.ContentLength)
	}
	if res, b := do("/flushed", ""); b != "part0;part1;part2;" || res.ContentLength != -1 || res.TransferEncoding[0] != "chunked" {
		t.Errorf("flushed: %q length %d %v", b, res.ContentLength, res.TransferEncoding)
	}
	if _, b := do("/large", ""); len(b) != 40*16*256 || !strings.HasPrefix(b, "0123456789abcdef") {
		t.Errorf("large: %d bytes", len(b))
	}
	if res, b := do("/nocontent", ""); res.StatusCode != http.StatusNoContent || b != "" {
		t.Errorf("nocontent: %d %q", res.StatusCode, b)
	}
	if res, _ := do("/sniffed", ""); res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("sniffed: %q", res.Header.Get("Content-Type"))
	}
	if res, b := do("/late", ""); res.StatusCode != http.StatusAccepted || b != "late" || res.Header.Get("X-Before") != "yes" ||
		res.Header.Get("X-After") != "" || res.Header.Get("Set-Cookie") != "" || res.Header.Get("X-Split") != "a Set-Cookie: evil=1" {
		t.Errorf("late: %d %q %v", res.StatusCode, b, res.Header)
	}
	if _, b := do("/duplex", "echo me"); b != "echo me" {
		t.Errorf("duplex: %q", b)
	}
	// A response shorter than it declared cannot be followed by another
	// on the same connection: the connection closes.
	if _, b := do("/short", ""); b != "short" {
		t.Errorf("short: %q", b)
	}
	if _, b := do("/small", ""); b != "small" {
		t.Errorf("after short: %q", b)
	}
	if ss.fs.HandedOver() != 0 {
		t.Errorf("%d connections handed over, want 0", ss.fs.HandedOver())
	}
}

// TestShutdown: idle connections close at once, a request in flight
// finishes with Connection: close, Serve returns ErrServerClosed, and
// a handed-over connection is shut down by the fallback.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})
	fb := &http.Server{Handler: h}
	fs := &Server{Handler: h, Fallback: fb, IdleTimeout: time.Minute}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- fs.Serve(ln) }()
	addr := ln.Addr().String()

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if got := exchangeOn(t, idle, "POST /fast HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"); got != "200 done" {
		t.Fatalf("idle connection's first answer: %q", got)
	}
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, _ = io.WriteString(busy, "POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
	<-started

	shut := make(chan error, 1)
	go func() { shut <- fs.Shutdown(context.Background()) }()
	// The idle connection is closed.
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("idle connection: read %d, %v; want it closed", n, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	br := bufio.NewReader(busy)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Close {
		t.Errorf("response during shutdown does not say Connection: close")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("still accepting after Shutdown")
	}
}

func exchangeOn(t *testing.T, c net.Conn, raw string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	_ = c.SetDeadline(time.Time{})
	return fmt.Sprintf("%d %s", res.StatusCode, b)
}

// TestTimeouts: a client that stops in the middle of its head or body,
// or stays idle, is disconnected.
func TestTimeouts(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	fs := &Server{Handler: h, Fallback: &http.Server{Handler: h}, ReadHeaderTimeout: 200 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = fs.Serve(ln) }()
	defer fs.Close()
	for name, raw := range map[string]string{
		"idle":         "",
		"partial head": "POST /a HTTP/1.1\r\nHost: h\r\n",
		"partial body": "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = io.WriteString(c, raw)
			start := time.Now()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			if err == nil {
				t.Fatal("the server answered instead of closing")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("closed after %v", d)
			}
		})
	}
}

// TestPanic: a handler's panic closes its connection; others go on.
func TestPanic(t *testing.T) {
	var mu sync.Mutex
	var logged bytes.Buffer
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		_, _ = io.WriteString(w, "ok")
	})
	fs := &Server{Handler: h, Fallback: &http.Server{Handler: h}, ErrorLog: log.New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), "", 0)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = fs.Serve(ln) }()
	defer fs.Close()
	if got := exchange(t, ln.Addr().String(), "POST /panic HTTP/1.1\r\nHost: h\r\n\r\n", 1); len(got) != 0 {
		t.Errorf("answer to a panic: %q", got)
	}
	if got := exchange(t, ln.Addr().String(), "POST /ok HTTP/1.1\r\nHost: h\r\n\r\n", 1); len(got) != 1 || !strings.HasPrefix(got[0], "200|") {
		t.Errorf("after a panic: %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "panic serving") || !strings.Contains(logged.String(), "boom") {
		t.Errorf("panic not logged: %q", logged.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestByteByByte: a request sent a byte at a time (head split anywhere,
// CRLF pairs across reads) is served by the loop like one sent whole.
func TestByteByByte(t *testing.T) {
	ss := startBoth(t, http.HandlerFunc(echo))
	raw := "POST /topics/t?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
	c, err := net.Dial("tcp", ss.fast)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range len(raw) {
		if _, err := io.WriteString(c, raw[i:i+1]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(b), `"body":"hello"`) || !strings.Contains(string(b), `"uri":"/topics/t?x=1"`) {
		t.Errorf("%d %s", res.StatusCode, b)
	}
	if ss.fs.HandedOver() != 0 {
		t.Errorf("handed over")
	}
}

// TestPendingBodiesBounded: bodies still arriving are held up to
// MaxPendingBodyBytes over all connections; a request past it goes to
// the fallback (which streams its body), and both are answered.
func TestPendingBodiesBounded(t *testing.T) {
	h := http.HandlerFunc(echo)
	fs := &Server{Handler: h, Fallback: &http.Server{Handler: h}, MaxPendingBodyBytes: 1000}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = fs.Serve(ln) }()
	defer fs.Close()
	body := strings.Repeat("b", 800)
	var conns []net.Conn
	for i := range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /%d HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body[:100])
		conns = append(conns, c)
		if i == 0 {
			// Let the first one take its share before the second.
			deadline := time.Now().Add(5 * time.Second)
			for fs.pending.n.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for fs.HandedOver() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if fs.HandedOver() != 1 || fs.pending.n.Load() != 800 {
		t.Fatalf("handed over %d, pending %d; want the second request handed over and 800 bytes pending", fs.HandedOver(), fs.pending.n.Load())
	}
	for i, c := range conns {
		_, _ = io.WriteString(c, body[100:])
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(string(b), body) {
			t.Errorf("request %d: %d %.100s", i, res.StatusCode, b)
		}
	}
	if n := fs.pending.n.Load(); n != 0 {
		t.Errorf("%d bytes still counted as pending", n)
	}
}
