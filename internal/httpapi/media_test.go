package httpapi

import (
	"mime"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	offers := []Offer{{"application/vnd.kafka.binary.v2+json", 1}, {"application/vnd.kafka.json.v2+json", 0.1}, {"application/vnd.kafka.v2+json", 0.05}}
	cases := []struct{ accept, want string }{
		{"", "application/vnd.kafka.binary.v2+json"},
		{"*/*", "application/vnd.kafka.binary.v2+json"},
		{"application/vnd.kafka.json.v2+json", "application/vnd.kafka.json.v2+json"},
		{"application/vnd.kafka.v2+json", "application/vnd.kafka.v2+json"},
		{"application/vnd.kafka.json.v2+json, application/vnd.kafka.binary.v2+json;q=0.05", "application/vnd.kafka.json.v2+json"},
		{"application/*", "application/vnd.kafka.binary.v2+json"},
		{"text/html", ""},
		{"application/vnd.kafka.binary.v2+json;q=0", ""},
		{"garbage,,;;", ""},
	}
	for _, c := range cases {
		if got := Negotiate(c.accept, offers); got != c.want {
			t.Errorf("Negotiate(%q) = %q, want %q", c.accept, got, c.want)
		}
	}
}

func FuzzNegotiate(f *testing.F) {
	f.Add("application/json;q=0.5, */*;q=0.1")
	f.Add("a/b;q=x")
	offers := []Offer{{"application/json", 1}, {"text/plain", 0.5}}
	f.Fuzz(func(t *testing.T, accept string) {
		got := Negotiate(accept, offers)
		if got != "" && got != "application/json" && got != "text/plain" {
			t.Fatalf("negotiated %q", got)
		}
		_ = MediaType(accept)
	})
}

// FuzzMediaType: the shortcut for parameterless lowercase types answers
// what mime.ParseMediaType does.
func FuzzMediaType(f *testing.F) {
	for _, s := range []string{"application/vnd.kafka.binary.v2+json", "application/json", "Application/JSON",
		"application/json; charset=utf-8", "text/plain", "a/", "/b", "a/b/c", "ab", "application/vnd.kafka.v2+json;q=1", " a/b", "a/b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := ""
		if s != "" {
			if mt, _, err := mime.ParseMediaType(s); err == nil {
				want = strings.ToLower(mt)
			}
		}
		if simpleMediaType(s) && s != want {
			t.Fatalf("MediaType(%q) shortcut gives %q, ParseMediaType %q", s, s, want)
		}
		if got := MediaType(s); got != want {
			t.Fatalf("MediaType(%q) = %q, want %q", s, got, want)
		}
	})
}
