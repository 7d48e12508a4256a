package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestNoCredentialInLogs: every authentication kind, good and bad, on
// HTTP and on the Kafka port, with debug logging on: no log line (access
// log, audit, debug) holds a password, an API key's secret, a token's
// signature or a Negotiate token.
func TestNoCredentialInLogs(t *testing.T) {
	kdc := testutil.StartKDC(t)
	kdc.AddPrincipal("HTTP/127.0.0.1", "")
	kdc.AddPrincipal("customer1", "")
	idp := testutil.StartOIDCProvider(t)
	users, perms := secureFiles(t)
	appendFile(t, perms, "corp:sid1:\n  produce: [devices-in]\n")
	g, logs := testutil.StartGatewayLogged(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Auth.FailuresPerSecond, c.Auth.FailureBurst = 1000, 1000
		c.Auth.Kerberos = config.HTTPKerberos{Keytab: kdc.Keytab("HTTP/127.0.0.1"), ServicePrincipal: "HTTP/127.0.0.1@" + kdc.Realm(),
			PrincipalToLocalRules: []string{"DEFAULT"}}
		c.Auth.OIDC = []config.OIDCIssuer{{Issuer: idp.Issuer, Audiences: []string{"sid1"}, Prefix: "corp:"}}
	})
	var secrets []string // each long and random enough never to occur by chance
	secret := func(s string) string { secrets = append(secrets, s); return s }
	sig := func(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

	wrongPW := secret("Wr0ng-pa55word-xq7Z-" + time.Now().Format("150405.000000"))
	produceV2(t, g, "customer1", "Authorization", "Basic "+b64("customer1:"+wrongPW))
	produceV2(t, g, "customer1", "Authorization", "Basic "+b64("nobody-at-all:"+wrongPW))
	r := do(t, "POST", g.URL+"/login", "username=customer1&password="+wrongPW, "Content-Type", "application/x-www-form-urlencoded")
	if r.status != http.StatusUnauthorized {
		t.Fatalf("wrong login: %d", r.status)
	}

	tok := login(t, g.URL, "customer1")
	secret(sig(tok))
	produceV2(t, g, "customer1", "Authorization", bearer(tok))
	produceV2(t, g, "customer1", "Authorization", bearer(tok[:len(tok)-6]+"AAAAAA"))

	key, id := createKey(t, g, `{"user":"customer1"}`)
	secret(keySecret(t, key, id))
	produceV2(t, g, "customer1", "X-API-Key", key)
	produceV2(t, g, "customer1", "Authorization", "Basic "+b64("customer1:"+key))
	do(t, "POST", g.URL+"/topics/customer1?api_key="+key, seedBody, "Content-Type", mtJSONv2)
	produceV2(t, g, "customer1", "X-API-Key", key[:len(key)-5]+"ZZZZZ")
	do(t, "DELETE", g.URL+"/admin/apikeys/"+id, "", "Authorization", basic("admin"))
	produceV2(t, g, "customer1", "X-API-Key", key)

	device := idp.DeviceToken(t)
	secret(sig(device))
	produceV2(t, g, "devices-in", "Authorization", bearer(device))
	produceV2(t, g, "devices-in", "Authorization", bearer(device[:len(device)-6]+"AAAAAA"))

	h := negotiateHeader(t, kdc, "customer1")
	neg := strings.TrimPrefix(h, "Negotiate ")
	secret(neg[len(neg)/2 : len(neg)/2+40])
	produceV2(t, g, "customer1", "Authorization", h)
	produceV2(t, g, "customer1", "Authorization", h) // a replay

	// The Kafka port: a wrong PLAIN password, a token, a forged token.
	bad, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr), kgo.SASL(mechanism("PLAIN", "customer1", wrongPW)), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_ = bad.Ping(t.Context())
	bad.Close()
	_ = bearerClient(t, g, tok).Ping(t.Context())
	_ = bearerClient(t, g, device[:len(device)-6]+"BBBBBB").Ping(t.Context())

	// Every failure reached the log (as audit), so the check below reads
	// lines that were written.
	out := logs.String()
	for _, want := range []string{`"auth_method":"basic"`, `"auth_method":"bearer"`, `"auth_method":"api_key"`, `"auth_method":"oidc"`,
		`"auth_method":"kerberos"`, `"auth_method":"kafka_sasl"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no log line with %s", want)
		}
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			i := strings.Index(out, s)
			t.Errorf("a log line holds a credential: ...%s...", out[max(0, i-200):min(len(out), i+len(s)+50)])
		}
	}
}
