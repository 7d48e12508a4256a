package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
)

// HandlerFunc is an API handler: it writes a success response itself and
// returns an error for anything else, which the adapter writes in the
// catalog's shape. Handlers never call http.Error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// errorBody is the wire shape of every non-streaming error.
type errorBody struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// ErrorContentType is the Content-Type of error bodies when the handler
// set none.
const ErrorContentType = "application/json"

// WriteError writes err in the catalog's shape, unless the response has
// already started (then it can only be logged). A client that went away is
// not an error; anything unknown is a 500 with the cause in the log only.
// The body's Content-Type is the one the handler already set, if any, so
// that errors carry the endpoint's negotiated type, else defaultType.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, defaultType string, err error) {
	he := Classify(r.Context(), err)
	if he == nil {
		return // client gone
	}
	if logger != nil {
		if he.Status >= 500 {
			logger.Error("request failed", "request_id", RequestID(r.Context()), "route", r.Pattern, "status", he.Status, "error_code", he.Code, "err", he)
		} else if he.Cause != nil {
			logger.Debug("request rejected", "request_id", RequestID(r.Context()), "route", r.Pattern, "status", he.Status, "error_code", he.Code, "err", he)
		}
	}
	if sw, ok := w.(interface{ Started() bool }); ok && sw.Started() {
		return
	}
	if errors.Is(he, ErrOverloaded) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	ct := w.Header().Get("Content-Type")
	if ct == "" {
		ct = defaultType
	}
	if ct == "" {
		ct = ErrorContentType
	}
	WriteJSON(w, he.Status, ct, errorBody{ErrorCode: he.Code, Message: he.Message})
}

// Classify turns any handler error into a catalog error; nil means the
// client went away and nothing should be written.
func Classify(ctx context.Context, err error) *Error {
	var he *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &mbe):
		return ErrTooLarge.Wrap(err)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil,
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout.Wrap(err)
	}
	return FromKafka(err)
}

// WriteJSON writes v as JSON with status and contentType. Like Jackson
// (Confluent) and unlike encoding/json's default, &, < and > are not
// escaped: URLs in v3 links keep their query strings readable.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err != nil {
		b = []byte(`{"error_code":500,"message":"Internal Server Error"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ReadBody reads the whole (size-capped) request body.
func ReadBody(r *http.Request) ([]byte, error) {
	b, _, err := readBody(r, nil)
	return b, err
}

// bodyPool recycles request-body buffers of the hot produce paths.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody keeps unusually large buffers out of the pool.
const maxPooledBody = 1 << 20

// ReadBodyPooled reads the whole request body into a recycled buffer. The
// bytes are valid until the returned Pooled is released; the caller must
// not keep them (or anything aliasing them) afterwards.
func ReadBodyPooled(r *http.Request) (body []byte, buf Pooled, err error) {
	buf = Pooled{bodyPool.Get().(*bytes.Buffer)}
	buf.b.Reset()
	b, _, err := readBody(r, buf.b)
	if err != nil {
		buf.Release()
		return nil, Pooled{}, err
	}
	return b, buf, nil
}

// Pooled is a recycled body buffer (ReadBodyPooled). A value, not a
// release func: a closure over the buffer would cost an allocation per
// request.
type Pooled struct{ b *bytes.Buffer }

// Release gives the buffer back to the pool (nothing for the zero
// Pooled); its bytes must not be used afterwards.
func (p Pooled) Release() {
	if p.b != nil && p.b.Cap() <= maxPooledBody {
		bodyPool.Put(p.b)
	}
}

func readBody(r *http.Request, buf *bytes.Buffer) ([]byte, *bytes.Buffer, error) {
	if r.Body == nil {
		return nil, buf, nil
	}
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	if n := r.ContentLength; n > 0 && n < 64<<20 {
		buf.Grow(int(n) + 1) // +1: ReadFrom wants room to see EOF
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, buf, ErrTooLarge.Msg("Request body is larger than %d bytes.", mbe.Limit).Wrap(err)
		}
		return nil, buf, err
	}
	return buf.Bytes(), buf, nil
}

// DecodeJSON decodes a JSON body into dst. Unknown fields are ignored, as
// Confluent's proxy does. Syntax errors are 400 with the parser's message;
// type errors name the field.
func DecodeJSON(b []byte, dst any) error {
	if err := json.Unmarshal(b, dst); err != nil {
		return JSONError(err)
	}
	return nil
}

// JSONError describes a JSON decoding error for the client (400).
func JSONError(err error) *Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return ErrBadRequest.Msg("Unexpected JSON input: %s at offset %d.", se.Error(), se.Offset).Wrap(err)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "request body"
		}
		return ErrBadRequest.Msg("Cannot deserialize %s: expected %s, got JSON %s.", field, goTypeName(te.Type.String()), te.Value).Wrap(err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ErrBadRequest.Msg("Unexpected end of JSON input.").Wrap(err)
	}
	return ErrBadRequest.Msg("Invalid JSON: %s.", strings.TrimPrefix(err.Error(), "json: ")).Wrap(err)
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "."):
		return "an object"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	}
	return t
}
