package auth

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestNodeTrust: a request signed by one replica authenticates on
// another with the same secret as the caller the first authenticated
// (its standing re-checkable: the credential's fingerprint travels), and
// anything else about it is refused as an *Error of MethodNode.
func TestNodeTrust(t *testing.T) {
	s := testService(t, nil)
	edge, err := s.Authenticate(request("10.1.2.3:5000", basicHeader("customer1", "password1")))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	sender := NewNodeTrust(secret, "node-a")
	s.TrustNodes(NewNodeTrust(secret, "node-b"))

	signed := func(body string) *httptestRequest {
		r := httptest.NewRequest("POST", "/consumers/g/instances/i/offsets?x=1", strings.NewReader(body))
		sender.Sign(r, edge, []byte(body))
		return &httptestRequest{r}
	}

	r := signed(`{"offsets":[]}`)
	p, err := s.Authenticate(r.Request)
	if err != nil {
		t.Fatal(err)
	}
	want := *edge
	want.Via = "node-a"
	if diff := cmp.Diff(&want, p, cmp.AllowUnexported(Principal{}), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("forwarded principal (-want +got):\n%s", diff)
	}
	if b, _ := io.ReadAll(r.Body); string(b) != `{"offsets":[]}` {
		t.Errorf("the body after verification: %q", b)
	}
	if err := s.Recheck(p, time.Now()); err != nil {
		t.Errorf("the forwarded principal does not stand: %v", err)
	}

	refused := func(name string, mutate func(*httptestRequest), svc *Service) {
		t.Helper()
		r := signed(`{"offsets":[]}`)
		mutate(r)
		_, err := svc.Authenticate(r.Request)
		var ae *Error
		if !errors.As(err, &ae) || ae.Method != MethodNode {
			t.Errorf("%s: %v, want a node authentication error", name, err)
		}
		if err != nil && strings.Contains(err.Error(), string(secret)) {
			t.Errorf("%s: the error shows the secret", name)
		}
	}
	refused("another body", func(r *httptestRequest) { r.Body = io.NopCloser(strings.NewReader(`{"offsets":[1]}`)) }, s)
	refused("another path", func(r *httptestRequest) { r.RequestURI = "/consumers/g/instances/j/offsets?x=1" }, s)
	refused("another query", func(r *httptestRequest) { r.RequestURI = "/consumers/g/instances/i/offsets?x=2" }, s)
	refused("another method", func(r *httptestRequest) { r.Method = "DELETE" }, s)
	refused("another principal", func(r *httptestRequest) {
		r.Header.Set(HeaderNodePrincipal, encodePrincipal(&Principal{Name: "admin", Method: MethodBasic}))
	}, s)
	refused("no signature", func(r *httptestRequest) { r.Header.Del(HeaderNodeSignature) }, s)
	refused("the secret as signature", func(r *httptestRequest) { r.Header.Set(HeaderNodeSignature, string(secret)) }, s)
	other := testService(t, nil)
	other.TrustNodes(NewNodeTrust([]byte("another secret of enough length"), "node-c"))
	refused("another secret", func(*httptestRequest) {}, other)
	refused("no secret here", func(*httptestRequest) {}, testService(t, nil))

	old := NewNodeTrust(secret, "node-a")
	old.now = func() time.Time { return time.Now().Add(-2 * nodeSkew) }
	r = &httptestRequest{httptest.NewRequest("GET", "/x", nil)}
	old.Sign(r.Request, edge, nil)
	if _, err := s.Authenticate(r.Request); err == nil {
		t.Error("a signature two minutes old was accepted")
	}
}

type httptestRequest struct{ *http.Request }

func TestLoadNodeTrust(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("tooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNodeTrust(short, "n"); err == nil || strings.Contains(err.Error(), "tooshort") {
		t.Errorf("a short secret: %v", err)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("  0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadNodeTrust(good, "n")
	if err != nil {
		t.Fatal(err)
	}
	if s := tr.String(); strings.Contains(s, "0123456789") {
		t.Errorf("String shows the secret: %s", s)
	}
}
