package httpapi

import "testing"

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
