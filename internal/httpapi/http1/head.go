package http1

import (
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

var (
	crlfcrlf = []byte("\r\n\r\n")
	proto11  = "HTTP/1.1"
)

// methods are the request lines' starts the loop may serve: POST always,
// the others only with a Server.Keep that says which requests it may
// (HEAD, OPTIONS, CONNECT, TRACE and anything else go to net/http).
var (
	postOnly   = [][]byte{[]byte("POST ")}
	allMethods = [][]byte{[]byte("POST "), []byte("GET "), []byte("PUT "), []byte("PATCH "), []byte("DELETE ")}
)

// maybeServed reports whether data, the start of a request line, can
// still turn out to be one of methods.
func maybeServed(data []byte, methods [][]byte) bool {
	for _, m := range methods {
		n := min(len(data), len(m))
		if string(data[:n]) == string(m[:n]) {
			return true
		}
	}
	return false
}

// errNotServed means the head is one the loop leaves to net/http: not
// necessarily malformed, only outside what the loop serves.
var errNotServed = errors.New("request not served by the fast loop")

// head is a parsed request head.
type head struct {
	method        string
	target        string
	url           *url.URL
	host          string
	header        http.Header
	contentLength int64
	close         bool
}

// parseHead parses a request head ending in CRLF CRLF. It accepts only
// "<method> <origin-form> HTTP/1.1", the method one of methods, with
// well-formed header lines, one Host, at most one Content-Length and no
// Transfer-Encoding, Expect or Upgrade (errNotServed otherwise). Names
// and values are substrings of one string holding the whole head.
func parseHead(b []byte, methods [][]byte) (head, error) {
	var h head
	s := string(b)
	i := strings.Index(s, "\r\n")
	line := s[:i]
	rest := s[i+2:]
	for _, m := range methods {
		if strings.HasPrefix(line, string(m)) {
			h.method = methodName(m)
			break
		}
	}
	if h.method == "" {
		return h, errNotServed
	}
	line = line[len(h.method)+1:]
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 || line[sp+1:] != proto11 {
		return h, errNotServed
	}
	h.target = line[:sp]
	if !validTarget(h.target) {
		return h, errNotServed
	}
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return h, errNotServed // net/http answers 400
	}
	h.url = u

	lines := strings.Count(rest, "\n")
	h.header = make(http.Header, lines)
	values := make([]string, lines) // one backing array for every value, as textproto does
	hosts, lengths := 0, 0
	for {
		j := strings.IndexByte(rest, '\n')
		if j < 1 || rest[j-1] != '\r' {
			return h, errNotServed // bare LF: net/http's to read
		}
		line, rest = rest[:j-1], rest[j+1:]
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return h, errNotServed // obsolete line folding
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return h, errNotServed
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !validName(name) || !httpguts.ValidHeaderFieldValue(value) {
			return h, errNotServed
		}
		key := canonical(name)
		switch key {
		case "Host":
			hosts++
			if !httpguts.ValidHostHeader(value) {
				return h, errNotServed
			}
			h.host = value
			continue // net/http keeps Host out of the header map
		case "Content-Length":
			lengths++
			n, ok := parseLength(value)
			if !ok || lengths > 1 {
				return h, errNotServed
			}
			h.contentLength = n
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return h, errNotServed
		case "Connection":
			for _, tok := range strings.Split(value, ",") {
				tok = trimOWS(tok)
				switch {
				case strings.EqualFold(tok, "close"):
					h.close = true
				case strings.EqualFold(tok, "upgrade"), strings.EqualFold(tok, "http2-settings"):
					return h, errNotServed
				}
			}
		}
		vv := h.header[key]
		if vv == nil && len(values) > 0 {
			vv, values = values[:1:1], values[1:]
			vv[0] = value
		} else {
			vv = append(vv, value)
		}
		h.header[key] = vv
	}
	if hosts != 1 {
		return h, errNotServed
	}
	return h, nil
}

// methodName returns the constant name of a method's request-line
// start, so that requests do not hold a string of their own for it.
func methodName(m []byte) string {
	switch string(m) {
	case "GET ":
		return http.MethodGet
	case "PUT ":
		return http.MethodPut
	case "PATCH ":
		return http.MethodPatch
	case "DELETE ":
		return http.MethodDelete
	}
	return http.MethodPost
}

// validTarget accepts an origin-form request target: an absolute path,
// no fragment, no spaces, control or non-ASCII bytes.
func validTarget(t string) bool {
	if t == "" || t[0] != '/' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= ' ' || c == 0x7f || c == '#' || c >= 0x80 {
			return false
		}
	}
	return true
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

// tokenByte marks the bytes of RFC 9110's token.
var tokenByte = func() (t [256]bool) {
	for c := 0; c < 128; c++ {
		t[c] = httpguts.IsTokenRune(rune(c))
	}
	return t
}()

// trimOWS trims optional whitespace (spaces and tabs).
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseLength reads a Content-Length: digits only, no sign, no overflow.
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isCanonical reports whether name is in canonical form: upper case at
// the start and after each '-', lower case elsewhere.
func isCanonical(name string) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case upper && 'a' <= c && c <= 'z', !upper && 'A' <= c && c <= 'Z':
			return false
		}
		upper = c == '-'
	}
	return true
}

// common are header names seen on most requests, so that their
// lower-case spellings need no allocation.
var common = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Host", "Content-Length", "Content-Type", "Accept", "Accept-Encoding", "User-Agent",
		"Authorization", "Connection", "X-Request-Id", "X-Api-Key", "Traceparent", "Tracestate",
		"Origin", "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer", "Cookie",
	} {
		m[strings.ToLower(k)] = k
	}
	return m
}()

// canonical returns name's canonical form, without allocating when it
// already is canonical or is a common name in any case.
func canonical(name string) string {
	if isCanonical(name) {
		return name
	}
	var lower [32]byte
	if len(name) <= len(lower) {
		b := lower[:len(name)]
		for i := 0; i < len(name); i++ {
			c := name[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b[i] = c
		}
		if k, ok := common[string(b)]; ok {
			return k
		}
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}
