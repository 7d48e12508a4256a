package app_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// negotiateGateway starts a KDC with a realm of its own, the gateway's
// HTTP service principal (HTTP/127.0.0.1, the host curl is given) and
// the clients customer1 (a kgate user with rights) and stranger (none),
// and a secure gateway with auth.kerberos.
func negotiateGateway(t *testing.T) (*testutil.Gateway, *testutil.KDC) {
	t.Helper()
	kdc := testutil.StartKDC(t)
	kdc.AddPrincipal("HTTP/127.0.0.1", "")
	kdc.AddPrincipal("customer1", "")
	kdc.AddPrincipal("stranger", "")
	g := secureGateway(t, func(c *config.Config) {
		c.Auth.Kerberos = config.HTTPKerberos{Keytab: kdc.Keytab("HTTP/127.0.0.1"), ServicePrincipal: "HTTP/127.0.0.1@" + kdc.Realm(),
			PrincipalToLocalRules: []string{"DEFAULT"}}
	})
	return g, kdc
}

// negotiateHeader is an Authorization header for the gateway made by
// gokrb5's SPNEGO client logged in as principal with its keytab.
func negotiateHeader(t *testing.T, kdc *testutil.KDC, principal string) string {
	t.Helper()
	conf, err := krbconfig.Load(kdc.Config())
	if err != nil {
		t.Fatal(err)
	}
	kt, err := keytab.Load(kdc.Keytab(principal))
	if err != nil {
		t.Fatal(err)
	}
	kc := krbclient.NewWithKeytab(principal, kdc.Realm(), kt, conf, krbclient.DisablePAFXFAST(true))
	if err := kc.Login(); err != nil {
		t.Fatalf("kerberos login of %s: %v", principal, err)
	}
	t.Cleanup(kc.Destroy)
	req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
	if err := spnego.SetSPNEGOHeader(kc, req, "HTTP/127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get("Authorization")
}

// TestNegotiate: Kerberos on HTTP. curl --negotiate after kinit from a
// keytab produces as the mapped kgate user, with its rights and the
// gateway's AP-REP for mutual authentication; an anonymous caller is
// offered Negotiate; a principal without rights is refused; a replayed,
// forged or truncated token is a 401 audited with the reason.
func TestNegotiate(t *testing.T) {
	g, kdc := negotiateGateway(t)

	// Anonymous callers are offered Negotiate first.
	r := produceV2(t, g, "customer1")
	if r.status != 401 || r.header.Values("WWW-Authenticate")[0] != "Negotiate" {
		t.Fatalf("anonymous produce: %d %q, want 401 offering Negotiate first", r.status, r.header.Values("WWW-Authenticate"))
	}

	t.Run("curl", func(t *testing.T) {
		curl := testutil.RequireTool(t, "curl")
		for _, tc := range []struct {
			principal, topic string
			want             string
		}{{"customer1", "customer1", "200"}, {"stranger", "customer1", "403"}} {
			ccache := kdc.Kinit(tc.principal, kdc.Keytab(tc.principal))
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			cmd := exec.CommandContext(ctx, curl, "-sS", "--negotiate", "-u", ":", "-o", "/dev/null", "-w", "%{http_code}",
				"-H", "Content-Type: "+mtJSONv2, "--data", seedBody, g.URL+"/topics/"+tc.topic)
			cmd.Env = append(os.Environ(), kdc.Env(ccache)...)
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil || strings.TrimSpace(string(out)) != tc.want {
				t.Errorf("curl --negotiate as %s to %s: %v %s, want %s", tc.principal, tc.topic, err, out, tc.want)
			}
		}
	})

	t.Run("gokrb5", func(t *testing.T) {
		h := negotiateHeader(t, kdc, "customer1")
		r := produceV2(t, g, "customer1", "Authorization", h)
		if r.status != 200 {
			t.Fatalf("SPNEGO produce: %d %s", r.status, r.body)
		}
		// gokrb5 asks for mutual authentication: the answer carries the
		// gateway's NegTokenResp.
		if v := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(v, "Negotiate ") || len(v) < 20 {
			t.Errorf("answer's WWW-Authenticate %q, want Negotiate with a token", v)
		}
		// The same token again is a replay.
		if r := produceV2(t, g, "customer1", "Authorization", h); r.status != 401 {
			t.Errorf("replayed token: %d %s, want 401", r.status, r.body)
		}
	})

	t.Run("bad tokens", func(t *testing.T) {
		good := negotiateHeader(t, kdc, "customer1")
		tok, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(good, "Negotiate "))
		tampered := slices.Clone(tok)
		tampered[len(tampered)-10] ^= 0xff
		for name, h := range map[string]string{
			"not base64": "Negotiate !!!",
			"random":     "Negotiate " + base64.StdEncoding.EncodeToString([]byte("YIIBnwYGKwYBBQUCoIIBkzCCAY+gDTALBgkqhkiG9xIBAgKhBAMCAfaiggF6BIIBdmCCAXIGCSqGSIb3EgECAgEAboIBYTCCAV2gAwIBBaEDAgEOogcDBQAgAAAAo4")),
			"truncated":  "Negotiate " + base64.StdEncoding.EncodeToString(tok[:len(tok)/2]),
			"tampered":   "Negotiate " + base64.StdEncoding.EncodeToString(tampered),
		} {
			if r := produceV2(t, g, "customer1", "Authorization", h); r.status != 401 {
				t.Errorf("%s: %d %s, want 401", name, r.status, r.body)
			}
		}
		recs := auditRecords(t, g, 10*time.Second, 3, func(m map[string]any) bool {
			return m["event"] == "auth_failure" && m["auth_method"] == "kerberos"
		})
		if len(recs) < 3 {
			t.Errorf("%d Negotiate failures audited, want at least 3 (distinct reasons)", len(recs))
		}
		for _, rec := range recs {
			if s, _ := rec["reason"].(string); strings.Contains(s, good[10:40]) {
				t.Errorf("audit record holds the token: %v", rec)
			}
		}
	})
}
