package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/config"
)

// TestFinding16KastleXProduceRefusesSimpleContentTypes: a browser sends
// the three "simple" content types cross-site without asking (no CORS
// preflight), so KastleX produce refuses them (415, naming the type to
// use); the seed's curl with application/binary works as before.
func TestFinding16KastleXProduceRefusesSimpleContentTypes(t *testing.T) {
	g := secureGateway(t, nil)
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "TEXT/PLAIN", ""} {
		hdr := []string{"Authorization", seedAuth}
		if ct != "" {
			hdr = append(hdr, "Content-Type", ct)
		}
		r := do(t, "POST", g.URL+"/api/v1/messages/customer1", "bar", hdr...)
		if r.status != http.StatusUnsupportedMediaType || !strings.Contains(string(r.body), "application/binary") {
			t.Errorf("Content-Type %q: %d %s", ct, r.status, r.body)
		}
	}
	for _, ct := range []string{"application/binary", "application/octet-stream", "application/json"} {
		r := do(t, "POST", g.URL+"/api/v1/messages/customer1", "bar", "Authorization", seedAuth, "Content-Type", ct)
		if r.status != http.StatusNoContent {
			t.Errorf("Content-Type %q: %d %s", ct, r.status, r.body)
		}
	}
}

// TestFinding16CrossSiteRequestsRefused: a state-changing request a
// browser sends on behalf of another site (Sec-Fetch-Site, or an Origin
// that is not the gateway's) is refused before its credentials are
// looked at, on every API; reads, same-origin requests and clients that
// are not browsers go through.
func TestFinding16CrossSiteRequestsRefused(t *testing.T) {
	g := secureGateway(t, nil)
	crossSite := [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "same-site", "Origin", "https://other.kgate.example"},
		{"Origin", "https://evil.example"}, // a browser without Sec-Fetch-*
	}
	requests := []struct{ method, path, ct, body string }{
		{"POST", "/topics/customer1", mtJSONv2, seedBody},
		{"POST", "/api/v1/messages/customer1", "application/binary", "bar"},
		{"POST", "/v3/clusters/kgate-embedded/topics/customer1/records", "application/json", `{"value":{"type":"JSON","data":1}}`},
		{"POST", "/login", "application/x-www-form-urlencoded", "username=customer1&password=password1"},
		{"POST", "/admin/reload", "", ""},
	}
	for _, rq := range requests {
		for _, hdr := range crossSite {
			h := append([]string{"Authorization", seedAuth}, hdr...)
			if rq.ct != "" {
				h = append(h, "Content-Type", rq.ct)
			}
			r := do(t, rq.method, g.URL+rq.path, rq.body, h...)
			if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "ross-origin") {
				t.Errorf("%s %s with %q: %d %s", rq.method, rq.path, hdr, r.status, r.body)
			}
		}
	}
	// Allowed: same origin, user-initiated navigation, no browser, reads.
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "same-origin", "Origin", g.URL},
		{"Sec-Fetch-Site", "none"},
		{"Origin", g.URL},
		nil,
	} {
		h := append([]string{"Authorization", seedAuth, "Content-Type", "application/binary"}, hdr...)
		if r := do(t, "POST", g.URL+"/api/v1/messages/customer1", "bar", h...); r.status != http.StatusNoContent {
			t.Errorf("produce with %q: %d %s", hdr, r.status, r.body)
		}
	}
	if r := do(t, "GET", g.URL+"/topics", "", "Authorization", seedAuth, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); r.status != http.StatusOK {
		t.Errorf("cross-site read: %d %s", r.status, r.body)
	}
}

// TestFinding16AllowedOrigins: origins in http.allowed_origins may send
// state-changing requests cross-site.
func TestFinding16AllowedOrigins(t *testing.T) {
	g := secureGateway(t, func(c *config.Config) { c.HTTP.AllowedOrigins = []string{"https://console.example"} })
	r := do(t, "POST", g.URL+"/api/v1/messages/customer1", "bar", "Authorization", seedAuth, "Content-Type", "application/binary",
		"Sec-Fetch-Site", "cross-site", "Origin", "https://console.example")
	if r.status != http.StatusNoContent {
		t.Errorf("allowed origin: %d %s", r.status, r.body)
	}
	r = do(t, "POST", g.URL+"/api/v1/messages/customer1", "bar", "Authorization", seedAuth, "Content-Type", "application/binary",
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if r.status != http.StatusForbidden {
		t.Errorf("other origin: %d %s", r.status, r.body)
	}
}
