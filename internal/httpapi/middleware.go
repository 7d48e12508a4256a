package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"
)

// ResponseWriter records the status and size of a response. It keeps the
// underlying writer reachable through Unwrap, so http.ResponseController
// (flush, deadlines, full duplex) still works through it.
type ResponseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// req is the request state this writer was made in (WrapWriter),
	// for RequestIDs to fill in.
	req *request
}

// WrapWriter returns w as a *ResponseWriter, wrapping it only once. The
// writer is made inside a request state, which RequestIDs then fills in:
// the chain's first middleware (Recover) wraps the writer, and one
// allocation serves both.
func WrapWriter(w http.ResponseWriter) *ResponseWriter {
	if rw, ok := w.(*ResponseWriter); ok {
		return rw
	}
	q := &request{}
	q.w = ResponseWriter{ResponseWriter: w, req: q}
	return &q.w
}

func (w *ResponseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *ResponseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (w *ResponseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush() //nolint:errcheck // best effort
}

// Unwrap returns the underlying writer for http.ResponseController.
func (w *ResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Status returns the status written so far (200 if only a body was).
func (w *ResponseWriter) Status() int { return w.status }

// Bytes returns the body bytes written so far.
func (w *ResponseWriter) Bytes() int64 { return w.bytes }

// Started reports whether the header has been written.
func (w *ResponseWriter) Started() bool { return w.status != 0 }

// Recover turns a handler panic into a logged 500. Panics are programmer
// errors; http.ErrAbortHandler keeps its meaning.
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := WrapWriter(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				logger.Error("handler panic", "request_id", RequestID(r.Context()), "method", r.Method, "route", r.Pattern, "panic", v, "stack", string(debug.Stack()))
				if !rw.Started() {
					WriteError(rw, r, nil, ErrorContentType, ErrInternal)
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// RequestIDs accepts a well-formed X-Request-ID from the client or makes
// one, puts it in the context and returns it in the response. It gives
// the request the chain's state (request), which is its context from here
// on: the middleware inside it keep what they find there.
func RequestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The header's canonical form, so that neither lookup allocates.
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		rw := WrapWriter(w)
		q := rw.req
		if q == nil || q.Context != nil { // not a writer of WrapWriter's, or a state in use
			q = &request{}
		}
		q.Context, q.id = r.Context(), id
		q.idHeader[0] = id
		rw.Header()["X-Request-Id"] = q.idHeader[:]
		next.ServeHTTP(rw, r.WithContext(q))
	})
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// Request ids are a random per-process prefix and a counter: unique,
// cheap (no entropy read per request) and sortable within a process.
var (
	idPrefix  = func() string { var b [6]byte; _, _ = rand.Read(b[:]); return hex.EncodeToString(b[:]) }()
	idCounter atomic.Uint64
)

func newRequestID() string {
	var b [12 + 1 + 16]byte
	n := copy(b[:], idPrefix)
	b[n] = '-'
	n++
	return string(strconv.AppendUint(b[:n], idCounter.Add(1), 16))
}

// AccessLog logs one line per request after it completes. Probe routes
// (/healthz, /readyz, /metrics) log at debug.
func AccessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rw := WrapWriter(w)
			next.ServeHTTP(rw, r)
			level := slog.LevelInfo
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				level = slog.LevelDebug
			}
			if !logger.Enabled(r.Context(), level) {
				return
			}
			status := rw.Status()
			if status == 0 {
				status = http.StatusOK
			}
			// The record is made here and handed to the handler, as
			// Logger.LogAttrs would, without the caller's program counter
			// it looks up for a source attribute kgate's handlers do not
			// write (a quarter of the line's cost), and with the time
			// the duration ends at.
			end := time.Now()
			rec := slog.NewRecord(end, level, "http request", 0)
			rec.AddAttrs(
				slog.String("request_id", RequestID(r.Context())),
				slog.String("method", r.Method),
				slog.String("route", r.Pattern),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", rw.Bytes()),
				slog.Duration("duration", end.Sub(start)),
				slog.String("remote", r.RemoteAddr),
				slog.String("principal", Principal(r.Context())),
			)
			_ = logger.Handler().Handle(r.Context(), rec)
		})
	}
}
