package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// oidcGateway is a secure gateway trusting two OpenID providers run on
// loopback: corp (prefix "corp:", groups from the groups claim) and
// partner (prefix "partner:"). corp's device sid1 may produce to
// devices-in; its person (subject id1) is in group readers.
func oidcGateway(t *testing.T, mutate ...func(*config.Config)) (g *testutil.Gateway, corp, partner *testutil.OIDCProvider) {
	t.Helper()
	corp, partner = testutil.StartOIDCProvider(t), testutil.StartOIDCProvider(t)
	corp.Claims("id1", map[string]any{"groups": []string{"readers", "not a kgate group!"}})
	corp.Claims("sid1", map[string]any{"groups": "devices"})
	g = secureGateway(t, func(c *config.Config) {
		appendFile(t, c.Auth.Permissions, "corp:sid1:\n  produce: [devices-in]\n")
		c.Auth.OIDC = []config.OIDCIssuer{
			{Issuer: corp.Issuer, Audiences: []string{testutil.OIDCWebClient, "sid1"}, Prefix: "corp:", GroupsClaim: "groups"},
			{Issuer: partner.Issuer, Audiences: []string{testutil.OIDCWebClient, "sid1"}, Prefix: "partner:"},
		}
		for _, m := range mutate {
			m(c)
		}
	})
	return g, corp, partner
}

// TestOIDCTokens: tokens of a real OpenID provider work on the HTTP APIs:
// a device's (client credentials) with its own grants, a person's
// (authorization code flow, the provider's login page) with the groups
// its claim maps to; the same subject from a second issuer is another
// principal; kgate's own tokens keep working.
func TestOIDCTokens(t *testing.T) {
	g, corp, partner := oidcGateway(t)
	seedTopic(t, g, "customer1")
	if r := do(t, "POST", g.URL+"/topics/logs-app", seedBody, "Content-Type", mtJSONv2, "Authorization", basic("admin")); r.status != 200 {
		t.Fatalf("seeding logs-app: %d %s", r.status, r.body)
	}

	device := corp.DeviceToken(t)
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(device)); r.status != 200 {
		t.Fatalf("device produce with its token: %d %s", r.status, r.body)
	}
	if r := produceV2(t, g, "customer1", "Authorization", bearer(device)); r.status != 403 {
		t.Errorf("device produce to customer1: %d %s, want 403", r.status, r.body)
	}

	person := corp.PersonToken(t, "test-user@127.0.0.1", "verysecure")
	if r := do(t, "GET", g.URL+"/topics/logs-app", "", "Authorization", bearer(person)); r.status != 200 {
		t.Errorf("person (group readers) shows logs-app: %d %s", r.status, r.body)
	}
	if r := produceV2(t, g, "logs-app", "Authorization", bearer(person)); r.status != 403 {
		t.Errorf("person produce to logs-app: %d %s, want 403", r.status, r.body)
	}
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(person)); r.status != 403 {
		t.Errorf("person produce to devices-in: %d %s, want 403", r.status, r.body)
	}

	// The same subject from the other issuer is partner:sid1, which has
	// no grant.
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(partner.DeviceToken(t))); r.status != 403 {
		t.Errorf("partner's sid1 produce to devices-in: %d %s, want 403", r.status, r.body)
	}
	// On the Kafka port (OAUTHBEARER) the same tokens carry the same
	// rights: the device produces to devices-in and not to customer1, the
	// person reads logs-app through its group, and a reload (which
	// rewrites every ACL) leaves a logged-in principal its rights.
	dev := bearerClient(t, g, device)
	if err := dev.ProduceSync(t.Context(), &kgo.Record{Topic: "devices-in", Value: []byte("over the Kafka port")}).FirstErr(); err != nil {
		t.Fatalf("device produce on the Kafka port: %v", err)
	}
	if err := dev.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("device produce to customer1 on the Kafka port: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	reader := bearerClient(t, g, person, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"logs-app": {0: kgo.NewOffset().AtStart()}}))
	fctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	fs := reader.PollFetches(fctx)
	cancel()
	if err := fs.Err0(); err != nil || fs.NumRecords() == 0 {
		t.Errorf("person fetching logs-app on the Kafka port: %v, %d records", err, fs.NumRecords())
	}
	if r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("admin")); r.status != 200 {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	if err := dev.ProduceSync(t.Context(), &kgo.Record{Topic: "devices-in", Value: []byte("after a reload")}).FirstErr(); err != nil {
		t.Errorf("device produce on the Kafka port after a reload: %v", err)
	}
	// kgate's own tokens still work.
	if r := produceV2(t, g, "customer1", "Authorization", bearer(login(t, g.URL, "customer1"))); r.status != 200 {
		t.Errorf("kgate token: %d %s", r.status, r.body)
	}
	// Failures are audited with the method and never the token.
	recs := auditRecords(t, g, 10*time.Second, 1, func(m map[string]any) bool {
		return m["event"] == "denied" && m["principal"] == "partner:sid1"
	})
	if len(recs) == 0 {
		t.Fatal("the partner's refusal was not audited")
	}
	if recs[0]["auth_method"] != "oidc" {
		t.Errorf("audit record %v: want auth_method oidc", recs[0])
	}
}

// forge signs claims with key as kid (alg RS256 unless the key says
// otherwise), with extra protected headers.
func forge(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any, headers map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range headers {
		opts = opts.WithHeader(k, v)
	}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestOIDCRefusals: tokens that must not pass, each 401 with a Bearer
// challenge: expired, not yet valid, wrong audience, an issuer kgate does
// not trust, signed by another key, algorithm confusion (HMAC keyed with
// the issuer's public key, none), and keys named by the token itself
// (jku, an embedded jwk, a kid of the attacker's). None of them reaches
// a log line or audit record.
func TestOIDCRefusals(t *testing.T) {
	g, corp, _ := oidcGateway(t)
	kid, key := corp.SigningKey()
	_ = corp.DeviceToken(t) // kgate has fetched no key yet: the first token fetches them
	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": corp.Issuer, "aud": []string{"sid1"}, "sub": "sid1",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	good := forge(t, jose.RS256, key, kid, claims(nil), nil)
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(good)); r.status != 200 {
		t.Fatalf("a well-formed token signed with the issuer's key: %d %s", r.status, r.body)
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerJWKS := testutil.StartOIDCProvider(t) // somewhere an attacker could point to
	pub, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey})
	var n struct {
		N string `json:"n"`
	}
	_ = json.Unmarshal(pub, &n)
	hmacKey, _ := base64.RawURLEncoding.DecodeString(n.N)

	cases := map[string]string{
		"expired":          forge(t, jose.RS256, key, kid, claims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }), nil),
		"not yet valid":    forge(t, jose.RS256, key, kid, claims(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }), nil),
		"issued in future": forge(t, jose.RS256, key, kid, claims(func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix() }), nil),
		"no exp":           forge(t, jose.RS256, key, kid, claims(func(c map[string]any) { delete(c, "exp") }), nil),
		"wrong audience":   forge(t, jose.RS256, key, kid, claims(func(c map[string]any) { c["aud"] = "another-service" }), nil),
		"untrusted issuer": forge(t, jose.RS256, key, kid, claims(func(c map[string]any) { c["iss"] = attackerJWKS.Issuer }), nil),
		"other key":        forge(t, jose.ES256, attacker, kid, claims(nil), nil),
		"hmac confusion":   forge(t, jose.HS256, hmacKey, kid, claims(nil), nil),
		"jku":              forge(t, jose.ES256, attacker, "attacker", claims(nil), map[jose.HeaderKey]any{"jku": attackerJWKS.Issuer + "keys"}),
		"embedded jwk":     forge(t, jose.ES256, attacker, "", claims(nil), map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: &attacker.PublicKey}}),
		"kid injection":    forge(t, jose.RS256, key, "../../../../dev/null", claims(nil), nil),
		"none": func() string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"` + kid + `"}`))
			p, _ := json.Marshal(claims(nil))
			return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
		}(),
		"tampered": func() string {
			parts := strings.Split(good, ".")
			p, _ := json.Marshal(claims(func(c map[string]any) { c["sub"] = "admin" }))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}(),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			r := produceV2(t, g, "devices-in", "Authorization", bearer(tok))
			if r.status != 401 || !slices.Contains(r.header.Values("WWW-Authenticate"), `Bearer realm="kgate", error="invalid_token"`) {
				t.Errorf("%d %s (WWW-Authenticate %q), want 401 with an invalid_token challenge", r.status, r.body, r.header.Values("WWW-Authenticate"))
			}
		})
	}
	// Repeated reasons are folded into one record a minute (audit
	// aggregation), so the records are told by their reasons.
	reasons := []string{"token expired", "wrong audience", "not valid yet", "issued in the future", "has no exp",
		"algorithm not allowed", "unknown key id", "bad signature"}
	// (Read until every reason is there: the audit topic is written
	// asynchronously, and one refusal may give more than one record.)
	var recs []map[string]any
	allThere := func() bool {
		for _, want := range reasons {
			if !slices.ContainsFunc(recs, func(rec map[string]any) bool { return strings.Contains(fmt.Sprint(rec["reason"]), want) }) {
				return false
			}
		}
		return true
	}
	recs = auditRecords(t, g, 10*time.Second, -1, func(m map[string]any) bool {
		if m["event"] != "auth_failure" || m["auth_method"] != "oidc" {
			return false
		}
		recs = append(recs, m)
		return true
	}, allThere)
	for _, rec := range recs {
		b, _ := json.Marshal(rec)
		for name, tok := range cases {
			sig := tok[strings.LastIndex(tok, ".")+1:]
			if len(sig) > 16 && strings.Contains(string(b), sig) {
				t.Errorf("audit record holds the %s token: %s", name, b)
			}
		}
	}
	for _, want := range reasons {
		found := false
		for _, rec := range recs {
			found = found || strings.Contains(rec["reason"].(string), want)
		}
		if !found {
			t.Errorf("no audit record gives the reason %q", want)
		}
	}
}

// TestOIDCKeyRotation: the provider rotates its signing key during
// traffic; tokens of the new key are accepted at once (their unknown kid
// fetches the keys), tokens of the old one keep working while it is
// published, no request fails, and a flood of unknown kids fetches the
// keys no more than the burst allows within min_refresh_interval.
func TestOIDCKeyRotation(t *testing.T) {
	g, corp, _ := oidcGateway(t, func(c *config.Config) {
		c.Auth.OIDC[0].MinRefreshInterval = config.Duration(time.Hour)
	})
	old := corp.DeviceToken(t)
	var failures, requests atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	tokens := make(chan string, 1)
	tokens <- old
	wg.Go(func() {
		tok := old
		for {
			select {
			case <-stop:
				return
			case tok = <-tokens:
			default:
			}
			requests.Add(1)
			if r := produceV2(t, g, "devices-in", "Authorization", bearer(tok)); r.status != 200 {
				failures.Add(1)
				t.Errorf("during rotation: %d %s", r.status, r.body)
			}
		}
	})
	time.Sleep(300 * time.Millisecond)
	fetches := corp.KeyFetches()
	corp.Rotate(t, false)
	fresh := corp.DeviceToken(t)
	tokens <- fresh
	time.Sleep(300 * time.Millisecond)
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(old)); r.status != 200 {
		t.Errorf("the old key's token after the rotation: %d %s", r.status, r.body)
	}
	close(stop)
	wg.Wait()
	if got := corp.KeyFetches() - fetches; got != 1 {
		t.Errorf("the rotation fetched the keys %d times, want 1", got)
	}
	t.Logf("%d requests during the rotation, %d failed", requests.Load(), failures.Load())

	// A flood of unknown kids: refused, and (min_refresh_interval 1h)
	// fetching the keys only with what is left of the burst of 3.
	_, key := corp.SigningKey()
	fetches = corp.KeyFetches()
	for i := 0; i < 20; i++ {
		tok := forge(t, jose.RS256, key, "unknown-"+string(rune('a'+i)), map[string]any{"iss": corp.Issuer, "aud": "sid1", "sub": "sid1",
			"exp": time.Now().Add(time.Hour).Unix()}, nil)
		if r := produceV2(t, g, "devices-in", "Authorization", bearer(tok)); r.status != 401 {
			t.Fatalf("unknown kid: %d %s", r.status, r.body)
		}
	}
	if got := corp.KeyFetches() - fetches; got > 2 {
		t.Errorf("20 unknown kids fetched the keys %d times, want at most 2 within min_refresh_interval", got)
	}
}

// TestOIDCIssuerUnreachable: with the provider down, tokens whose key is
// cached still work without waiting, a token of an unknown key is
// refused, and /readyz and /metrics show the issuer's state.
func TestOIDCIssuerUnreachable(t *testing.T) {
	g, corp, _ := oidcGateway(t, func(c *config.Config) {
		c.Auth.OIDC[0].MinRefreshInterval = config.Duration(time.Millisecond)
	})
	tok := corp.DeviceToken(t)
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(tok)); r.status != 200 {
		t.Fatalf("before: %d %s", r.status, r.body)
	}
	corp.Rotate(t, false)
	unknown := corp.DeviceToken(t) // signed by a key kgate has not fetched
	corp.Close()
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(unknown)); r.status != 401 {
		t.Errorf("a token of an unfetched key with the issuer down: %d %s, want 401", r.status, r.body)
	}
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(tok)); r.status != 200 {
		t.Errorf("a cached key's token with the issuer down: %d %s", r.status, r.body)
	}
	r := do(t, "GET", g.URL+"/readyz", "")
	if r.status != http.StatusOK {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	var ready struct {
		OIDC []map[string]any `json:"oidc"`
	}
	if err := json.Unmarshal(r.body, &ready); err != nil || len(ready.OIDC) != 2 || ready.OIDC[0]["issuer"] != corp.Issuer || ready.OIDC[0]["keys"] != "stale" {
		t.Errorf("readyz: %s, want corp's keys stale", r.body)
	}
	m := do(t, "GET", g.URL+"/metrics", "", "Authorization", basic("ops"))
	if !strings.Contains(string(m.body), `kgate_oidc_keys_fetch_ok{issuer="`+corp.Issuer+`"} 0`) {
		t.Errorf("metrics do not show corp's failed fetch:\n%s", grepLines(string(m.body), "kgate_oidc"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestOIDCPlanClaim: an issuer's plan_claim names the principal's usage
// plan; a plan kgate does not know refuses the token.
func TestOIDCPlanClaim(t *testing.T) {
	g, corp, partner := oidcGateway(t, func(c *config.Config) {
		c.Auth.Plans = map[string]config.Plan{"trial": {DailyRequests: 2}}
		c.Auth.OIDC[0].PlanClaim = "kgate.plan"
		c.Auth.OIDC[1].PlanClaim = "kgate.plan"
	})
	corp.Claims("sid1", map[string]any{"kgate": map[string]any{"plan": "trial"}})
	partner.Claims("sid1", map[string]any{"kgate": map[string]any{"plan": "platinum"}})
	tok := corp.DeviceToken(t)
	for i := range 2 {
		if r := produceV2(t, g, "devices-in", "Authorization", bearer(tok)); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(tok)); r.status != 429 || !strings.Contains(string(r.body), "Daily request quota of 2") {
		t.Errorf("third request on the trial plan: %d %s", r.status, r.body)
	}
	if r := produceV2(t, g, "devices-in", "Authorization", bearer(partner.DeviceToken(t))); r.status != 401 {
		t.Errorf("a token naming an unknown plan: %d %s, want 401", r.status, r.body)
	}
}
