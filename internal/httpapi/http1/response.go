package http1

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Past streamAt bytes of body, or at a Flush, a response is sent as it
// is written (chunked unless the handler set a Content-Length); below
// it, whole with a Content-Length, in one write.
const (
	streamAt = 64 << 10
	flushAt  = 32 << 10
)

// response is the http.ResponseWriter of one request. The header block
// is serialized when the handler calls WriteHeader (later changes to the
// map are ignored, as with net/http); the fields that depend on the body
// (Content-Length, a sniffed Content-Type) are appended when it is sent.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header
	t0     time.Time

	status      int
	wroteHeader bool
	haveType    bool
	haveDate    bool
	haveConn    bool
	closeAfter  bool
	declared    int64 // the handler's Content-Length, or -1
	written     int64
	streaming   bool
	chunked     bool
	deadlineSet bool

	out  []byte // bytes for the connection: the head, then chunks
	body []byte // the body while it is buffered
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.wroteHeader {
		w.c.s.logf("http1: superfluous response.WriteHeader call")
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// Informational: sent ahead of the final response.
		w.out = appendStatusLine(w.out, code)
		w.out = appendHeader(w.out, w.header)
		w.out = append(w.out, "\r\n"...)
		return
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, ok := parseLength(cl); ok {
			w.declared = n
		} else {
			w.c.s.logf("http1: invalid Content-Length %q ignored", cl)
			w.header.Del("Content-Length")
		}
	}
	_, w.haveType = w.header["Content-Type"]
	_, w.haveDate = w.header["Date"]
	if vv, ok := w.header["Connection"]; ok {
		w.haveConn = true
		for _, v := range vv {
			if httpguts.HeaderValuesContainsToken([]string{v}, "close") {
				w.closeAfter = true
			}
		}
	}
	w.out = appendStatusLine(w.out, code)
	w.out = appendHeader(w.out, w.header)
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.c.broken != nil {
		return 0, w.c.broken
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.streaming {
		w.appendChunk(p)
		if len(w.out) >= flushAt {
			w.flushOut()
		}
		if w.c.broken != nil {
			return 0, w.c.broken
		}
		return len(p), nil
	}
	w.body = append(w.body, p...)
	if len(w.body) > streamAt {
		w.startStreaming()
	}
	return len(p), nil
}

// Flush sends what was written so far (the response turns to streaming).
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush for http.ResponseController.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.streaming {
		w.startStreaming()
	}
	w.flushOut()
	return w.c.broken
}

// SetReadDeadline is for http.ResponseController; the body has been read
// already, so it only affects the wait for the next request, which sets
// its own.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.nc.SetReadDeadline(t) }

// SetWriteDeadline is for http.ResponseController: it replaces
// WriteTimeout for this response.
func (w *response) SetWriteDeadline(t time.Time) error {
	w.deadlineSet = true
	return w.c.nc.SetWriteDeadline(t)
}

// EnableFullDuplex is for http.ResponseController: the body was read
// whole before the handler ran, so reading it while writing is allowed.
func (w *response) EnableFullDuplex() error { return nil }

// endHead completes the header block with the fields that depend on how
// the body is sent.
func (w *response) endHead(contentLength int) {
	if bodyAllowed(w.status) {
		if !w.haveType && len(w.body) > 0 {
			w.out = appendField(w.out, "Content-Type", http.DetectContentType(w.body))
		}
		switch {
		case w.declared >= 0:
		case contentLength >= 0:
			w.out = append(w.out, "Content-Length: "...)
			w.out = strconv.AppendInt(w.out, int64(contentLength), 10)
			w.out = append(w.out, "\r\n"...)
		default:
			w.chunked = true
			w.out = append(w.out, "Transfer-Encoding: chunked\r\n"...)
		}
	}
	if !w.haveDate {
		w.out = appendDate(w.out, w.t0)
	}
	if w.req.Close || w.c.s.closing.Load() {
		w.closeAfter = true
	}
	if w.closeAfter && !w.haveConn {
		w.out = append(w.out, "Connection: close\r\n"...)
	}
	w.out = append(w.out, "\r\n"...)
}

func (w *response) startStreaming() {
	w.streaming = true
	w.endHead(-1)
	if len(w.body) > 0 {
		w.appendChunk(w.body)
		w.body = w.body[:0]
	}
}

func (w *response) appendChunk(p []byte) {
	if len(p) == 0 {
		return
	}
	if !w.chunked {
		w.out = append(w.out, p...)
		return
	}
	w.out = strconv.AppendInt(w.out, int64(len(p)), 16)
	w.out = append(w.out, "\r\n"...)
	w.out = append(w.out, p...)
	w.out = append(w.out, "\r\n"...)
}

// finish sends the rest of the response and reports whether the
// connection may serve another request.
func (w *response) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.streaming {
		if w.chunked {
			w.out = append(w.out, "0\r\n\r\n"...)
		}
	} else {
		w.endHead(len(w.body))
		if bodyAllowed(w.status) {
			w.out = append(w.out, w.body...)
		}
	}
	w.flushOut()
	if cap(w.body) <= keepBuf {
		w.c.resBody = w.body[:0]
	}
	if w.declared >= 0 && w.written != w.declared {
		return false // the client still waits for bytes that will not come
	}
	return !w.closeAfter && w.c.broken == nil
}

func (w *response) flushOut() {
	if len(w.out) == 0 || w.c.broken != nil {
		w.out = w.out[:0]
		return
	}
	if !w.deadlineSet && w.c.s.WriteTimeout > 0 {
		_ = w.c.nc.SetWriteDeadline(w.t0.Add(w.c.s.WriteTimeout))
		w.deadlineSet = true
	}
	if _, err := w.c.nc.Write(w.out); err != nil {
		w.c.broken = err
	}
	w.out = w.out[:0]
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// statusLines holds the lines of the common statuses.
var statusLines = func() map[int]string {
	m := map[int]string{}
	for _, code := range []int{200, 201, 202, 204, 400, 401, 403, 404, 405, 406, 408, 409, 413, 415, 422, 429, 500, 502, 503, 504} {
		m[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n"
	}
	return m
}()

func appendStatusLine(b []byte, code int) []byte {
	if line, ok := statusLines[code]; ok {
		return append(b, line...)
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// appendHeader writes the handler's fields, leaving out invalid names
// and the framing the loop does itself, with line breaks in values
// turned to spaces (no response splitting), as net/http does.
func appendHeader(b []byte, h http.Header) []byte {
	for k, vv := range h {
		if k == "Transfer-Encoding" || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vv {
			b = appendField(b, k, v)
		}
	}
	return b
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	if strings.ContainsAny(v, "\r\n") {
		v = strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v))
	}
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// The Date field, formatted once per second.
type dateLine struct {
	sec  int64
	line []byte
}

var dateCache atomic.Pointer[dateLine]

// appendDate writes the Date field for now (the request's arrival: a
// clock read fewer per request, and within the same second or so).
func appendDate(b []byte, now time.Time) []byte {
	d := dateCache.Load()
	if d == nil || d.sec != now.Unix() {
		line := append([]byte("Date: "), now.UTC().AppendFormat(nil, http.TimeFormat)...)
		d = &dateLine{sec: now.Unix(), line: append(line, "\r\n"...)}
		dateCache.Store(d)
	}
	return append(b, d.line...)
}
