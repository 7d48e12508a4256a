package app_test

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// consumeV2 reads n records of topic through a new v2 consumer in the
// embedded format (avro, jsonschema, protobuf), waiting until they are
// there, and returns their values' JSON.
func consumeV2(t testing.TB, g *testutil.Gateway, group, topic, format string, n int) []string {
	t.Helper()
	v2 := "application/vnd.kafka.v2+json"
	base := g.URL + "/consumers/" + group
	if r := do(t, "POST", base, `{"name":"c1","format":"`+format+`","auto.offset.reset":"earliest"}`, "Content-Type", v2); r.status != 200 {
		t.Fatalf("%s consumer = %d %s", format, r.status, r.body)
	}
	t.Cleanup(func() { do(t, "DELETE", base+"/instances/c1", "", "Content-Type", v2) })
	if r := do(t, "POST", base+"/instances/c1/subscription", `{"topics":["`+topic+`"]}`, "Content-Type", v2); r.status != 204 {
		t.Fatalf("subscription = %d %s", r.status, r.body)
	}
	var values []string
	for deadline := time.Now().Add(30 * time.Second); len(values) < n && time.Now().Before(deadline); {
		r := do(t, "GET", base+"/instances/c1/records?timeout=1000", "", "Accept", "application/vnd.kafka."+format+".v2+json")
		if r.status != 200 {
			t.Fatalf("%s records = %d %s", format, r.status, r.body)
		}
		var rs []struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(r.body, &rs); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		for _, rec := range rs {
			values = append(values, string(rec.Value))
		}
	}
	if len(values) != n {
		t.Fatalf("consumed %d records of %s, want %d: %v", len(values), topic, n, values)
	}
	return values
}

// TestSchemaRegistryExternal: a gateway with schema_registry.url serves
// no registry of its own and resolves the REST formats' schemas with the
// external registry, here a second kgate whose registry requires
// authentication (Basic with a password file, or a bearer token from a
// file): the ids in the records are the second gateway's, credentials
// never show in logs or answers, and a registry refusing kgate's
// credentials is a 500 that writes nothing.
func TestSchemaRegistryExternal(t *testing.T) {
	t.Parallel()
	users, _ := secureFiles(t)
	perms := filepath.Join(t.TempDir(), "permissions.yml")
	if err := os.WriteFile(perms, []byte(`
customer1:
  list_subjects: true
  subject_read: all
  subject_write: all
admin:
  admin: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	registry := testutil.StartGateway(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Auth.FailuresPerSecond, c.Auth.FailureBurst = 1000, 1000
	})
	regURL := "http://" + registry.Info.SchemaRegistryAddr
	if r := do(t, "GET", regURL+"/subjects", ""); r.status != 401 {
		t.Fatalf("the external registry answers anonymous callers %d %s, want 401", r.status, r.body)
	}
	// The registry's own ids start apart from the front gateway's
	// (which has none): a schema registered there first.
	admin, err := sr.NewClient(sr.URLs(regURL), sr.BasicAuth("admin", passwords["admin"]))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := admin.CreateSchema(ctx, "warmup-value", sr.Schema{Schema: avroOrder}); err != nil {
		t.Fatal(err)
	}

	pwFile := filepath.Join(t.TempDir(), "sr-password")
	if err := os.WriteFile(pwFile, []byte(passwords["customer1"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	front, logs := testutil.StartGatewayLogged(t, func(c *config.Config) {
		c.SchemaRegistry.URL = config.URL(regURL)
		c.SchemaRegistry.Username, c.SchemaRegistry.PasswordFile = "customer1", pwFile
	})
	if front.Info.SchemaRegistryAddr != "" {
		t.Fatalf("the front gateway serves a registry at %s", front.Info.SchemaRegistryAddr)
	}
	if r := do(t, "GET", front.URL+"/schema-registry/subjects", ""); r.status != 404 {
		t.Fatalf("front /schema-registry/subjects = %d %s, want 404", r.status, r.body)
	}

	schemaJSON, _ := json.Marshal(avroUserV2)
	body := `{"value_schema":` + string(schemaJSON) + `,"records":[{"value":{"name":"ann","age":3}},{"value":{"name":"bob"}}]}`
	r := do(t, "POST", front.URL+"/topics/ext-users", body, "Content-Type", mtAvroV2)
	if r.status != 200 {
		t.Fatalf("avro produce = %d %s", r.status, r.body)
	}
	idf, ok := r.json(t)["value_schema_id"].(float64)
	id := int(idf)
	got, err := admin.SchemaByVersion(ctx, "ext-users-value", -1)
	if !ok || err != nil || got.ID != id || got.Version != 1 || id < 2 {
		t.Fatalf("answer %s; registry's ext-users-value = %+v, %v", r.body, got, err)
	}
	// Again (cached), by id, and refusals the registry decides.
	if r := do(t, "POST", front.URL+"/topics/ext-users", body, "Content-Type", mtAvroV2); r.status != 200 || r.json(t)["value_schema_id"] != float64(id) {
		t.Fatalf("the same value_schema again = %d %s", r.status, r.body)
	}
	byID := `{"value_schema_id":` + strconv.Itoa(id) + `,"records":[{"value":{"name":"cy","age":1}}]}`
	if r := do(t, "POST", front.URL+"/topics/ext-users", byID, "Content-Type", mtAvroV2); r.status != 200 {
		t.Fatalf("produce by id = %d %s", r.status, r.body)
	}
	for _, c := range []struct{ body, want string }{
		{`{"value_schema_id":9999,"records":[{"value":{"name":"x"}}]}`, "does not exist"},
		{`{"value_schema":` + mustJSONString(avroUserBad) + `,"records":[{"value":{"name":"x","email":"y"}}]}`, "error_code 409"},
		{`{"value_schema":"nope","records":[{"value":1}]}`, "error_code 42201"},
		{`{"value_schema_id":` + strconv.Itoa(id) + `,"records":[{"value":{"name":7}}]}`, "does not match"},
	} {
		if r := do(t, "POST", front.URL+"/topics/ext-users", c.body, "Content-Type", mtAvroV2); r.status != 422 || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s = %d %s, want 422 with %q", c.body, r.status, r.body, c.want)
		}
	}
	if vs, err := admin.SubjectVersions(ctx, "ext-users-value"); err != nil || len(vs) != 1 {
		t.Fatalf("versions of ext-users-value = %v, %v", vs, err)
	}

	// The records carry the external registry's id; a v2 avro consumer
	// of the front gateway decodes them with its schema.
	kc, err := kgo.NewClient(kgo.SeedBrokers(front.Info.BrokerAddr), kgo.ConsumeTopics("ext-users"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	for n := 0; n < 5; {
		fs := kc.PollRecords(ctx, 10)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			n++
			if v := rec.Value; len(v) < 5 || v[0] != 0 || int(binary.BigEndian.Uint32(v[1:5])) != id {
				t.Fatalf("record %d does not carry id %d: % x", rec.Offset, id, v)
			}
		})
	}
	values := consumeV2(t, front, "ext-g", "ext-users", "avro", 5)
	want := []string{`{"name":"ann","age":3}`, `{"name":"bob","age":0}`}
	for i, w := range want {
		if values[i] != w {
			t.Errorf("consumed %d = %s, want %s", i, values[i], w)
		}
	}

	// A schema registered on the external registry alone is decoded too
	// (fetched by id on first sight).
	js, err := admin.CreateSchema(ctx, "ext-json-value", sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object","properties":{"a":{"type":"string"}}}`})
	if err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", front.URL+"/topics/ext-json", `{"value_schema_id":`+strconv.Itoa(js.ID)+`,"records":[{"value":{"a":"x"}}]}`,
		"Content-Type", "application/vnd.kafka.jsonschema.v2+json"); r.status != 200 {
		t.Fatalf("jsonschema produce by the external id = %d %s", r.status, r.body)
	}
	if v := consumeV2(t, front, "ext-json-g", "ext-json", "jsonschema", 1); v[0] != `{"a":"x"}` {
		t.Errorf("jsonschema consumed %s", v[0])
	}

	// A bearer token (kgate's own JWT for customer1, from a file) in
	// place of Basic.
	tokFile := filepath.Join(t.TempDir(), "sr-token")
	tok := login(t, registry.URL, "customer1")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withToken, tokLogs := testutil.StartGatewayLogged(t, func(c *config.Config) {
		c.SchemaRegistry.URL, c.SchemaRegistry.TokenFile = config.URL(regURL), tokFile
	})
	if r := do(t, "POST", withToken.URL+"/topics/ext-users", byID, "Content-Type", mtAvroV2); r.status != 200 || r.json(t)["value_schema_id"] != float64(id) {
		t.Fatalf("produce by id through a bearer token = %d %s", r.status, r.body)
	}
	if strings.Contains(tokLogs.String(), tok) {
		t.Error("the gateway's log holds its bearer token")
	}

	// Wrong credentials: the registry refuses kgate, which answers 500
	// 50001 and writes nothing; the password shows nowhere.
	const wrong = "not-the-password-4242"
	bad, badLogs := testutil.StartGatewayLogged(t, func(c *config.Config) {
		c.SchemaRegistry.URL = config.URL(regURL)
		c.SchemaRegistry.Username, c.SchemaRegistry.Password = "customer1", wrong
	})
	r = do(t, "POST", bad.URL+"/topics/ext-bad", byID, "Content-Type", mtAvroV2)
	if r.status != 500 || r.json(t)["error_code"] != float64(50001) || strings.Contains(string(r.body), regURL) {
		t.Fatalf("produce with refused credentials = %d %s, want 500 50001 without the registry's URL", r.status, r.body)
	}
	if r := do(t, "GET", bad.URL+"/topics/ext-bad", ""); r.status != 404 {
		t.Fatalf("the refused produce created or wrote its topic: %d %s", r.status, r.body)
	}
	// An unreachable registry: the same 500, nothing written.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	dead := testutil.StartGateway(t, func(c *config.Config) { c.SchemaRegistry.URL = config.URL("http://" + deadAddr) })
	r = do(t, "POST", dead.URL+"/topics/ext-dead", body, "Content-Type", mtAvroV2)
	if r.status != 500 || r.json(t)["error_code"] != float64(50001) || strings.Contains(string(r.body), deadAddr) {
		t.Fatalf("produce with an unreachable registry = %d %s, want 500 50001 without its address", r.status, r.body)
	}
	if r := do(t, "GET", dead.URL+"/topics/ext-dead", ""); r.status != 404 {
		t.Fatalf("the produce to an unreachable registry wrote its topic: %d %s", r.status, r.body)
	}

	for name, l := range map[string]string{"front": logs.String(), "bad": badLogs.String()} {
		for _, secret := range []string{passwords["customer1"], wrong, b64("customer1:" + passwords["customer1"]), b64("customer1:" + wrong)} {
			if strings.Contains(l, secret) {
				t.Errorf("the %s gateway's log holds a credential", name)
			}
		}
	}
	if !strings.Contains(badLogs.String(), "schema registry request failed") {
		t.Errorf("the refused request is not logged:\n%s", badLogs.String())
	}
}

func mustJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
