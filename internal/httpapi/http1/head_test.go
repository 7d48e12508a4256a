package http1

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"testing"
)

// FuzzParseHead: every head the loop accepts, net/http reads the same
// way (method, target, URL, Host, header map, length, close), so the
// loop never sees a different request than net/http would.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"POST /topics/t HTTP/1.1\r\nHost: h\r\nContent-Type: application/vnd.kafka.binary.v2+json\r\nContent-Length: 10\r\n\r\n",
		"POST /a?b=c&d=%2F HTTP/1.1\r\nhost: h:80\r\ncontent-length: 0\r\nx-a: 1\r\nX-A: 2\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: [::1]:8080\r\nAuthorization: Basic YTpi\r\n\r\n",
		"POST //x/y HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: h\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
		"GET /topics?x=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
		"DELETE /consumers/g/instances/i HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
		"PATCH /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := bytes.Index(b, crlfcrlf)
		if i < 0 {
			return
		}
		b = b[:i+4]
		h, err := parseHead(b, allMethods)
		if err != nil {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("the loop accepts %q, net/http refuses it: %v", b, err)
		}
		if r.Method != h.method || r.RequestURI != h.target || r.URL.String() != h.url.String() ||
			r.Host != h.host || r.ContentLength != h.contentLength || r.Close != h.close {
			t.Fatalf("%q: net/http reads %s %q %q host %q length %d close %v; the loop %q %q host %q length %d close %v",
				b, r.Method, r.RequestURI, r.URL, r.Host, r.ContentLength, r.Close, h.target, h.url, h.host, h.contentLength, h.close)
		}
		if !reflect.DeepEqual(map[string][]string(r.Header), map[string][]string(h.header)) {
			t.Fatalf("%q: headers differ: net/http %q, the loop %q", b, r.Header, h.header)
		}
	})
}

func TestHasBareLF(t *testing.T) {
	for s, want := range map[string]bool{
		"":                    false,
		"POST / HTTP/1.1\r\n": false,
		"\n":                  true,
		"a\r\nb\nc":           true,
		"a\r\n\r\n":           false,
	} {
		if got := hasBareLF([]byte(s), 0); got != want {
			t.Errorf("hasBareLF(%q) = %v", s, got)
		}
	}
}

// TestHasBareLFFrom: a search from an offset still sees the byte before
// it, so a CRLF split across two reads is not taken for a bare LF.
func TestHasBareLFFrom(t *testing.T) {
	b := []byte("POST / HTTP/1.1\r\nHost: h\r\n")
	for from := range len(b) + 1 {
		if hasBareLF(b, from) {
			t.Errorf("from %d: a bare LF in %q", from, b)
		}
	}
	if !hasBareLF([]byte("ab\r\ncd\nef"), 5) {
		t.Error("missed the bare LF after the offset")
	}
}

func BenchmarkParseHead(b *testing.B) {
	head := []byte("POST /topics/bench HTTP/1.1\r\nHost: 127.0.0.1:8082\r\nUser-Agent: wrk\r\nContent-Type: application/vnd.kafka.binary.v2+json\r\nContent-Length: 150\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseHead(head, postOnly); err != nil {
			b.Fatal(err)
		}
	}
}
