package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestOpenModeSeedCurl: with nothing configured the seed's unauthenticated
// curl works (open development mode, loopback only), and so does the
// seed's request with its Basic header.
func TestOpenModeSeedCurl(t *testing.T) {
	g := testutil.StartGateway(t, nil)
	for _, hdr := range [][]string{nil, {"Authorization", seedAuth}} {
		r := produceV2(t, g, "customer1", hdr...)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"error_code":null`) {
			t.Fatalf("open mode produce: %d %s", r.status, r.body)
		}
	}
	if r := do(t, "GET", g.URL+"/metrics", ""); r.status != http.StatusOK {
		t.Errorf("open mode /metrics: %d", r.status)
	}
}

// TestSeedRequestsSecure replays the seed's three requests against the
// sample files: customer1 writes customer1, not customer2; customer2
// writes customer2; without credentials nothing is written.
func TestSeedRequestsSecure(t *testing.T) {
	g := secureGateway(t, nil)
	r := produceV2(t, g, "customer1", "Authorization", seedAuth)
	if r.status != http.StatusOK {
		t.Fatalf("customer1 -> customer1: %d %s", r.status, r.body)
	}
	r = produceV2(t, g, "customer2", "Authorization", seedAuth)
	if r.status != http.StatusForbidden {
		t.Fatalf("customer1 -> customer2: %d %s", r.status, r.body)
	}
	r = produceV2(t, g, "customer2", "Authorization", "Basic Y3VzdG9tZXIyOnBhc3N3b3JkMg==")
	if r.status != http.StatusOK {
		t.Fatalf("customer2 -> customer2: %d %s", r.status, r.body)
	}
	r = produceV2(t, g, "customer1")
	if r.status != http.StatusUnauthorized || r.errorCode() != 40101 {
		t.Fatalf("anonymous -> customer1: %d %s", r.status, r.body)
	}
	if got := r.header.Values("WWW-Authenticate"); len(got) != 2 || !strings.HasPrefix(got[0], "Basic ") || !strings.HasPrefix(got[1], "Bearer ") {
		t.Errorf("WWW-Authenticate = %q", got)
	}
}

// TestV2ProduceForbiddenShape: a produce the caller may not make is a 403
// carrying the v2 ProduceResponse with 40301 for every record, as
// Confluent's proxy reports Kafka's refusal.
func TestV2ProduceForbiddenShape(t *testing.T) {
	g := secureGateway(t, nil)
	body := `{"records":[{"value":1},{"value":2},{"value":3}]}`
	r := do(t, "POST", g.URL+"/topics/customer2/partitions/0", body, "Content-Type", mtJSONv2, "Authorization", seedAuth)
	if r.status != http.StatusForbidden {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.kafka.v2+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	want := `{"offsets":[` + strings.Repeat(`{"partition":null,"offset":null,"error_code":40301,"error":"Not authorized: produce on topic \"customer2\"."},`, 2) +
		`{"partition":null,"offset":null,"error_code":40301,"error":"Not authorized: produce on topic \"customer2\"."}],"key_schema_id":null,"value_schema_id":null}`
	if got := compact(r.body); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	// A body that is not a produce request: the plain 403.
	r = do(t, "POST", g.URL+"/topics/customer2", "nope", "Content-Type", mtJSONv2, "Authorization", seedAuth)
	if r.status != http.StatusForbidden || r.errorCode() != 40301 {
		t.Errorf("bad body: %d %s", r.status, r.body)
	}
}

// publicRoutes may skip authentication; every other route needs an action.
var publicRoutes = map[string]bool{
	"ops.healthz": true, "ops.readyz": true, "v2.root": true, "v2.root.post": true, "admin.login": true,
	"openapi.document": true, "v3.records.stream.preflight": true,
	// The console's static files: no data, no secret (the pages call
	// the API with the user's token).
	"console.root": true, "console.files": true,
	// The console's OpenID sign-in: the issuers it offers (public facts
	// of the configuration) and the code's redemption (a sign-in, like
	// admin.login; failures count against the address).
	"admin.login.oidc.issuers": true, "admin.login.oidc": true,
}

// TestEveryRouteMapsToOneActionAndResource walks the router of a full
// gateway: every route of every API has exactly one known action, and a
// resource extractor exactly when the action is scoped to one. A route
// added without a mapping fails here.
func TestEveryRouteMapsToOneActionAndResource(t *testing.T) {
	g := secureGateway(t, nil)
	if len(g.Info.Routes) == 0 {
		t.Fatal("the gateway reported no routes")
	}
	for _, rt := range g.Info.Routes {
		if rt.Public {
			if !publicRoutes[rt.Name] {
				t.Errorf("%s (%s) is public but not in the list of public routes", rt.Key(), rt.Name)
			}
			continue
		}
		scope, ok := rt.Action.Scope()
		if !ok {
			t.Errorf("%s (%s): unknown action %q", rt.Key(), rt.Name, rt.Action)
			continue
		}
		if scope == auth.ScopeCluster && rt.Resource != nil {
			t.Errorf("%s (%s): cluster-wide action %q with a resource", rt.Key(), rt.Name, rt.Action)
		}
		if scope != auth.ScopeCluster && rt.Resource == nil {
			t.Errorf("%s (%s): action %q is scoped to a %s but the route names none", rt.Key(), rt.Name, rt.Action, scope)
		}
	}
}

var wildcard = regexp.MustCompile(`\{([a-zA-Z_]+)(\.\.\.)?\}`)

// pathValues are the values the matrix puts in path wildcards.
var pathValues = map[string]string{
	"topic": "customer1", "topic_name": "customer1", "partition": "0", "partition_id": "0", "group": "customer1-g",
	"group_id": "customer1-g", "consumer_group_id": "customer1-g", "instance": "i1", "username": "customer2",
	"jti": "no-such-token", "principal": "customer1", "broker": "0", "broker_id": "0", "id": "0", "offset": "0",
}

// TestAuthorizationMatrix sends every route as every sample principal and
// checks that the gateway refuses exactly what the policy refuses; the
// whole matrix is kept in testdata/authz_matrix.golden for review.
// customer1 is sent with every authentication kind (Basic, a kgate token,
// an API key, Kerberos through a real KDC), and an OIDC issuer's device
// corp:sid1 (groups [readers]) with its provider's token: each kind must
// give exactly the policy's decision for its principal.
func TestAuthorizationMatrix(t *testing.T) {
	testutil.RequireKDC(t)
	kdc := testutil.StartKDC(t)
	kdc.AddPrincipal("HTTP/127.0.0.1", "")
	kdc.AddPrincipal("customer1", "")
	idp := testutil.StartOIDCProvider(t)
	idp.Claims("sid1", map[string]any{"groups": []string{"readers"}})
	g := secureGateway(t, func(c *config.Config) {
		// customer1 is sent four times per route: its users-file rate
		// would answer 429 before the policy is asked.
		b, err := os.ReadFile(c.Auth.Users)
		if err != nil {
			t.Fatal(err)
		}
		writeText(t, c.Auth.Users, strings.Replace(string(b), "  limits:\n    requests_per_second: 100\n    daily_bytes: 10Mi\n", "", 1))
		c.Auth.Kerberos = config.HTTPKerberos{Keytab: kdc.Keytab("HTTP/127.0.0.1"), ServicePrincipal: "HTTP/127.0.0.1@" + kdc.Realm(),
			PrincipalToLocalRules: []string{"DEFAULT"}}
		c.Auth.OIDC = []config.OIDCIssuer{{Issuer: idp.Issuer, Audiences: []string{"sid1"}, Prefix: "corp:", GroupsClaim: "groups"}}
	})
	jwtTok := login(t, g.URL, "customer1")
	apiKey, _ := createKey(t, g, `{"user":"customer1"}`)
	oidcTok := idp.DeviceToken(t)
	krbConf, err := krbconfig.Load(kdc.Config())
	if err != nil {
		t.Fatal(err)
	}
	kt, err := keytab.Load(kdc.Keytab("customer1"))
	if err != nil {
		t.Fatal(err)
	}
	kc := krbclient.NewWithKeytab("customer1", kdc.Realm(), kt, krbConf, krbclient.DisablePAFXFAST(true))
	if err := kc.Login(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Destroy)
	// Each column: who the policy sees, and the credentials sent.
	type column struct {
		label     string
		principal *auth.Principal
		creds     func() []string
	}
	ip := netip.MustParseAddr("127.0.0.1")
	var columns []column
	for _, who := range []string{auth.Anonymous, "customer1", "customer2", "reader", "mallory", "ops", "admin"} {
		who := who
		columns = append(columns, column{label: who, principal: &auth.Principal{Name: who, Method: method(who), ClientIP: ip}, creds: func() []string {
			if who == auth.Anonymous {
				return nil
			}
			return []string{"Authorization", basic(who)}
		}})
	}
	c1 := &auth.Principal{Name: "customer1", Method: auth.MethodBasic, ClientIP: ip}
	columns = append(columns,
		column{"customer1/jwt", c1, func() []string { return []string{"Authorization", bearer(jwtTok)} }},
		column{"customer1/apikey", c1, func() []string { return []string{"X-API-Key", apiKey} }},
		column{"customer1/kerberos", c1, func() []string {
			req, _ := http.NewRequest("GET", g.URL, nil)
			if err := spnego.SetSPNEGOHeader(kc, req, "HTTP/127.0.0.1"); err != nil {
				t.Fatal(err)
			}
			return []string{"Authorization", req.Header.Get("Authorization")}
		}},
		column{"corp:sid1/oidc", &auth.Principal{Name: "corp:sid1", Method: auth.MethodOIDC, Groups: []string{"readers"}, ClientIP: ip},
			func() []string { return []string{"Authorization", bearer(oidcTok)} }})
	users, perms := secureFiles(t)
	u, err := auth.LoadUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.LoadPermissions(perms)
	if err != nil {
		t.Fatal(err)
	}
	a := g.Config.Auth
	pol := auth.NewPolicy(u, p, []string{a.Tokens.Topic, a.APIKeys.Topic, a.Limits.UsageTopic, a.Audit.Topic})
	var golden strings.Builder
	for _, rt := range g.Info.Routes {
		if rt.Public {
			continue
		}
		path := wildcard.ReplaceAllStringFunc(strings.TrimSuffix(rt.Pattern, "{$}"), func(w string) string {
			name := wildcard.FindStringSubmatch(w)[1]
			if v, ok := pathValues[name]; ok {
				return v
			}
			return "x"
		})
		fmt.Fprintf(&golden, "%-7s %-60s %-12s", rt.Method, rt.Pattern, rt.Action)
		for _, col := range columns {
			who := col.label
			req, err := http.NewRequest(rt.Method, g.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range wildcard.FindAllStringSubmatch(rt.Pattern, -1) {
				v, ok := pathValues[m[1]]
				if !ok {
					v = "x"
				}
				req.SetPathValue(m[1], v)
			}
			resource := ""
			if rt.Resource != nil {
				resource = rt.Resource(req)
			}
			want := pol.Decide(col.principal, rt.Action, resource).Allowed
			body, ct := "", ""
			if rt.Action == "produce" {
				body, ct = seedBody, mtJSONv2
			}
			hdr := []string{}
			if ct != "" {
				hdr = append(hdr, "Content-Type", ct)
			}
			hdr = append(hdr, col.creds()...)
			target := g.URL + path
			if strings.HasSuffix(rt.Pattern, "/records/stream") {
				target += "?from=probe" // 400 once authorized: a push stream would never end
			}
			r := do(t, rt.Method, target, body, hdr...)
			denied := r.status == http.StatusUnauthorized && r.errorCode() == 40101 ||
				r.status == http.StatusForbidden && (r.errorCode() == 40301 || strings.Contains(string(r.body), `"error_code":40301`))
			if denied == want {
				t.Errorf("%s %s as %s: status %d %s; policy says allowed=%v", rt.Method, path, who, r.status, r.body, want)
			}
			if r.status >= 500 {
				t.Errorf("%s %s as %s: %d %s", rt.Method, path, who, r.status, r.body)
			}
			mark := "-"
			if !denied {
				mark = "Y"
			}
			fmt.Fprintf(&golden, " %s=%s", who, mark)
		}
		golden.WriteByte('\n')
	}
	testutil.Golden(t, "authz_matrix", []byte(golden.String()))
}

func method(who string) auth.Method {
	if who == auth.Anonymous {
		return auth.MethodAnonymous
	}
	return auth.MethodBasic
}

// TestPathTricks: encoded slashes, dot segments and case never take
// customer1 to customer2's topic.
func TestPathTricks(t *testing.T) {
	g := secureGateway(t, nil)
	if r := produceV2(t, g, "customer2", "Authorization", basic("customer2")); r.status != http.StatusOK {
		t.Fatalf("customer2's own produce: %d %s", r.status, r.body)
	}
	tricks := []string{
		"/topics/customer1/../customer2",
		"/topics/customer1/%2e%2e/customer2",
		"/topics/customer1%2F..%2Fcustomer2",
		"/topics/customer1%2fcustomer2",
		"/topics/./customer2",
		"//topics/customer2",
		"/topics//customer2",
		"/Topics/customer2",
		"/TOPICS/customer2",
		"/topics/Customer2",
		"/topics/customer2%00",
		"/topics/customer1%00customer2",
		"/topics/customer2/",
		"/topics/%63ustomer2",
		"/topics/customer1;/../customer2",
		"/topics/customer1\\..\\customer2",
	}
	for _, trick := range tricks {
		for _, m := range []string{"POST", "GET"} {
			req, err := http.NewRequest(m, g.URL, strings.NewReader(seedBody))
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = trick // sent exactly as written
			req.Header.Set("Content-Type", mtJSONv2)
			req.Header.Set("Authorization", seedAuth)
			r := send(t, httpClient, req)
			if r.status == http.StatusOK {
				t.Errorf("%s %s as customer1: 200 %s", m, trick, r.body)
			}
			if r.status >= 500 {
				t.Errorf("%s %s: %d %s", m, trick, r.status, r.body)
			}
		}
	}
	// customer2's topic holds only customer2's record.
	r := do(t, "GET", g.URL+"/topics/customer2/partitions/0/offsets", "", "Authorization", basic("customer2"))
	var offs struct {
		End int64 `json:"end_offset"`
	}
	if err := json.Unmarshal(r.body, &offs); err != nil || r.status != http.StatusOK {
		t.Fatalf("offsets: %d %s", r.status, r.body)
	}
	if offs.End != 1 {
		t.Errorf("customer2 holds %d records, want 1", offs.End)
	}
}

// TestMetricsNeedPermission: /metrics is an action unless configured open.
func TestMetricsNeedPermission(t *testing.T) {
	g := secureGateway(t, nil)
	if r := do(t, "GET", g.URL+"/metrics", ""); r.status != http.StatusUnauthorized {
		t.Errorf("anonymous /metrics: %d", r.status)
	}
	if r := do(t, "GET", g.URL+"/metrics", "", "Authorization", basic("customer1")); r.status != http.StatusForbidden {
		t.Errorf("customer1 /metrics: %d", r.status)
	}
	r := do(t, "GET", g.URL+"/metrics", "", "Authorization", basic("ops"))
	if r.status != http.StatusOK {
		t.Fatalf("ops /metrics: %d", r.status)
	}
	if !strings.Contains(string(r.body), `kgate_audit_records_total{event="denied"}`) {
		t.Error("no audit counter in /metrics")
	}
	if r := do(t, "GET", g.URL+"/healthz", ""); r.status != http.StatusOK {
		t.Errorf("/healthz: %d", r.status)
	}
	open := secureGateway(t, func(c *config.Config) { c.Metrics.Open = true })
	if r := do(t, "GET", open.URL+"/metrics", ""); r.status != http.StatusOK {
		t.Errorf("metrics.open: anonymous /metrics: %d", r.status)
	}
}

// TestConsumerInstancesBelongToTheirCreator: another principal cannot use
// (or delete) an instance, even with rights on the group.
func TestConsumerInstancesBelongToTheirCreator(t *testing.T) {
	g := secureGateway(t, nil)
	r := do(t, "POST", g.URL+"/consumers/customer1-g", `{"name":"i1","format":"json"}`, "Content-Type", "application/vnd.kafka.v2+json", "Authorization", seedAuth)
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	inst := g.URL + "/consumers/customer1-g/instances/i1"
	if r := do(t, "GET", inst+"/subscription", "", "Authorization", basic("admin")); r.status != http.StatusNotFound {
		t.Errorf("admin reading customer1's instance: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", inst, "", "Authorization", basic("admin")); r.status != http.StatusNotFound {
		t.Errorf("admin deleting customer1's instance: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", inst+"/subscription", "", "Authorization", seedAuth); r.status != http.StatusOK {
		t.Errorf("customer1 reading its instance: %d %s", r.status, r.body)
	}
	// Subscribing to a topic it may not fetch is refused in the handler.
	r = do(t, "POST", inst+"/subscription", `{"topics":["customer2"]}`, "Content-Type", "application/vnd.kafka.v2+json", "Authorization", seedAuth)
	if r.status != http.StatusForbidden || r.errorCode() != 40301 {
		t.Errorf("subscribing to customer2: %d %s", r.status, r.body)
	}
}
