package app_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

const (
	avroUserV1 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
	avroUserV2 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	// No default: BACKWARD refuses it after V1.
	avroUserBad = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}`
	avroOrder   = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`
)

func srClient(t testing.TB, url string) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// srCode returns the registry error_code of err (0: none).
func srCode(err error) int {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return 0
}

// TestSchemaRegistryClient drives kgate's registry with franz-go's
// Schema Registry client, on the registry's own listener.
func TestSchemaRegistryClient(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, nil)
	if g.Info.SchemaRegistryAddr == "" {
		t.Fatal("no schema registry listener")
	}
	cl := srClient(t, "http://"+g.Info.SchemaRegistryAddr)
	ctx := t.Context()

	types, err := cl.SupportedTypes(ctx)
	if err != nil || len(types) != 3 {
		t.Fatalf("types = %v, %v", types, err)
	}

	v1, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: avroUserV1})
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.ID < 1 {
		t.Fatalf("first registration = %+v", v1)
	}
	again, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: avroUserV1})
	if err != nil || again.ID != v1.ID || again.Version != 1 {
		t.Fatalf("registering again = %+v, %v; want id %d version 1", again, err, v1.ID)
	}
	// The same schema under another subject keeps its id.
	other, err := cl.CreateSchema(ctx, "people-value", sr.Schema{Schema: avroUserV1})
	if err != nil || other.ID != v1.ID {
		t.Fatalf("same schema in another subject = %+v, %v; want id %d", other, err, v1.ID)
	}
	v2, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: avroUserV2})
	if err != nil || v2.Version != 2 || v2.ID == v1.ID {
		t.Fatalf("v2 = %+v, %v", v2, err)
	}

	// Incompatible under BACKWARD: 409, nothing written.
	_, err = cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: avroUserBad})
	if srCode(err) != 409 {
		t.Fatalf("incompatible registration: %v, want error_code 409", err)
	}
	if vs, err := cl.SubjectVersions(ctx, "users-value"); err != nil || !slices.Equal(vs, []int{1, 2}) {
		t.Fatalf("versions after the refusal = %v, %v", vs, err)
	}
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "users-value", -1, sr.Schema{Schema: avroUserBad})
	if err != nil || res.Is || len(res.Messages) == 0 {
		t.Fatalf("compatibility of the bad schema = %+v, %v", res, err)
	}
	res, err = cl.CheckCompatibility(ctx, "users-value", -1, sr.Schema{Schema: avroUserV2})
	if err != nil || !res.Is {
		t.Fatalf("compatibility of v2 = %+v, %v", res, err)
	}
	// NONE lets it through.
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "users-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if r := cl.Compatibility(ctx, "users-value"); r[0].Err != nil || r[0].Level != sr.CompatNone {
		t.Fatalf("subject compatibility = %+v", r[0])
	}
	if r := cl.Compatibility(ctx); r[0].Err != nil || r[0].Level != sr.CompatBackward {
		t.Fatalf("global compatibility = %+v", r[0])
	}
	v3, err := cl.CreateSchema(ctx, "users-value", sr.Schema{Schema: avroUserBad})
	if err != nil || v3.Version != 3 {
		t.Fatalf("registration under NONE = %+v, %v", v3, err)
	}

	// Reads.
	s, err := cl.SchemaByID(ctx, v2.ID)
	if err != nil || s.Schema != avroUserV2 {
		t.Fatalf("schema %d = %+v, %v", v2.ID, s, err)
	}
	subjects, err := cl.SubjectsByID(ctx, v1.ID)
	if err != nil || !slices.Equal(subjects, []string{"people-value", "users-value"}) {
		t.Fatalf("subjects of %d = %v, %v", v1.ID, subjects, err)
	}
	latest, err := cl.SchemaByVersion(ctx, "users-value", -1)
	if err != nil || latest.Version != 3 || latest.ID != v3.ID {
		t.Fatalf("latest = %+v, %v", latest, err)
	}
	found, err := cl.LookupSchema(ctx, "users-value", sr.Schema{Schema: avroUserV2})
	if err != nil || found.Version != 2 || found.ID != v2.ID {
		t.Fatalf("lookup = %+v, %v", found, err)
	}
	if _, err := cl.LookupSchema(ctx, "users-value", sr.Schema{Schema: avroOrder}); srCode(err) != 40403 {
		t.Fatalf("lookup of an unregistered schema: %v, want 40403", err)
	}
	if _, err := cl.SchemaByVersion(ctx, "nobody-value", 1); srCode(err) != 40401 {
		t.Fatalf("unknown subject: %v, want 40401", err)
	}
	if _, err := cl.SchemaByVersion(ctx, "users-value", 9); srCode(err) != 40402 {
		t.Fatalf("unknown version: %v, want 40402", err)
	}
	if _, err := cl.SchemaByID(ctx, 999); srCode(err) != 40403 {
		t.Fatalf("unknown id: %v, want 40403", err)
	}

	// Soft, then hard deletes.
	if err := cl.DeleteSchema(ctx, "users-value", 3, sr.HardDelete); srCode(err) != 40407 {
		t.Fatalf("hard delete of a live version: %v, want 40407", err)
	}
	if err := cl.DeleteSchema(ctx, "users-value", 3, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteSchema(ctx, "users-value", 3, sr.SoftDelete); srCode(err) != 40406 {
		t.Fatalf("second soft delete: %v, want 40406", err)
	}
	if vs, _ := cl.SubjectVersions(ctx, "users-value"); !slices.Equal(vs, []int{1, 2}) {
		t.Fatalf("versions after the soft delete = %v", vs)
	}
	if vs, _ := cl.SubjectVersions(sr.WithParams(ctx, sr.ShowDeleted), "users-value"); !slices.Equal(vs, []int{1, 2, 3}) {
		t.Fatalf("versions with deleted = %v", vs)
	}
	if err := cl.DeleteSchema(ctx, "users-value", 3, sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctx, "people-value", sr.HardDelete); srCode(err) != 40405 {
		t.Fatalf("hard delete of a live subject: %v, want 40405", err)
	}
	if vs, err := cl.DeleteSubject(ctx, "people-value", sr.SoftDelete); err != nil || !slices.Equal(vs, []int{1}) {
		t.Fatalf("soft delete of people-value = %v, %v", vs, err)
	}
	if _, err := cl.DeleteSubject(ctx, "people-value", sr.SoftDelete); srCode(err) != 40404 {
		t.Fatalf("second soft delete of the subject: %v, want 40404", err)
	}
	if vs, err := cl.DeleteSubject(ctx, "people-value", sr.HardDelete); err != nil || !slices.Equal(vs, []int{1}) {
		t.Fatalf("hard delete of people-value = %v, %v", vs, err)
	}
	if subs, _ := cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted)); !slices.Equal(subs, []string{"users-value"}) {
		t.Fatalf("subjects = %v", subs)
	}

	// JSON and Protobuf, with a reference.
	js, err := cl.CreateSchema(ctx, "json-value", sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateSchema(ctx, "json-value", sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false}`}); srCode(err) != 409 {
		t.Fatalf("incompatible JSON schema: %v, want 409", err)
	}
	if got, err := cl.SchemaByID(ctx, js.ID); err != nil || got.Type != sr.TypeJSON {
		t.Fatalf("JSON schema by id = %+v, %v", got, err)
	}
	if _, err := cl.CreateSchema(ctx, "common.proto", sr.Schema{Type: sr.TypeProtobuf, Schema: `syntax = "proto3"; package common; message Money { int64 units = 1; }`}); err != nil {
		t.Fatal(err)
	}
	pb, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Type: sr.TypeProtobuf,
		Schema:     `syntax = "proto3"; package shop; import "common.proto"; message Order { string id = 1; common.Money total = 2; }`,
		References: []sr.SchemaReference{{Name: "common.proto", Subject: "common.proto", Version: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Type: sr.TypeProtobuf,
		Schema:     `syntax = "proto3"; package shop; import "common.proto"; message Order { string id = 1; string total = 2; }`,
		References: []sr.SchemaReference{{Name: "common.proto", Subject: "common.proto", Version: 1}}}); srCode(err) != 409 {
		t.Fatalf("incompatible Protobuf schema: %v, want 409", err)
	}
	// A referenced schema cannot be deleted.
	if _, err := cl.DeleteSubject(ctx, "common.proto", sr.SoftDelete); srCode(err) != 42206 {
		t.Fatalf("deleting a referenced subject: %v, want 42206", err)
	}
	if ids, err := cl.SchemaReferences(ctx, "common.proto", 1); err != nil || len(ids) != 1 || ids[0].ID != pb.ID {
		t.Fatalf("referenced by = %+v, %v", ids, err)
	}

	// Read-only mode refuses registrations.
	if r := cl.SetMode(ctx, sr.ModeReadOnly); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if _, err := cl.CreateSchema(ctx, "ro-value", sr.Schema{Schema: avroOrder}); srCode(err) != 42205 {
		t.Fatalf("registration in READONLY: %v, want 42205", err)
	}
	if r := cl.SetMode(ctx, sr.ModeReadWrite); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
}

// TestSchemaRegistryBadInput: bad input gets Confluent's codes and writes
// nothing.
func TestSchemaRegistryBadInput(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, nil)
	base := "http://" + g.Info.SchemaRegistryAddr
	ct := []string{"Content-Type", "application/vnd.schemaregistry.v1+json"}
	for _, tt := range []struct {
		name, method, path, body string
		headers                  []string
		status, code             int
	}{
		{"invalid avro", "POST", "/subjects/s/versions", `{"schema":"{\"type\":\"record\",\"name\":\"X\"}"}`, ct, 422, 42201},
		{"not json", "POST", "/subjects/s/versions", `{"schema":"nope"}`, ct, 422, 42201},
		{"invalid JSON schema", "POST", "/subjects/s/versions", `{"schemaType":"JSON","schema":"{\"type\":\"strin\"}"}`, ct, 422, 42201},
		{"invalid proto", "POST", "/subjects/s/versions", `{"schemaType":"PROTOBUF","schema":"message {"}`, ct, 422, 42201},
		{"unknown type", "POST", "/subjects/s/versions", `{"schemaType":"XML","schema":"<a/>"}`, ct, 422, 42201},
		{"empty schema", "POST", "/subjects/s/versions", `{"schema":""}`, ct, 422, 42201},
		{"missing reference", "POST", "/subjects/s/versions", `{"schema":"\"string\"","references":[{"name":"x","subject":"nope","version":1}]}`, ct, 422, 42201},
		{"malformed body", "POST", "/subjects/s/versions", `{"schema":`, ct, 400, 400},
		{"bad media type", "POST", "/subjects/s/versions", `{"schema":"\"string\""}`, []string{"Content-Type", "text/plain"}, 415, 415},
		{"bad version", "GET", "/subjects/s/versions/0", "", nil, 422, 42202},
		{"bad version text", "GET", "/subjects/s/versions/x1", "", nil, 422, 42202},
		{"bad level", "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, ct, 422, 42203},
		{"bad mode", "PUT", "/mode", `{"mode":"WRITEONLY"}`, ct, 422, 42204},
		{"unknown subject", "GET", "/subjects/nobody/versions", "", nil, 404, 40401},
		{"unknown id", "GET", "/schemas/ids/77", "", nil, 404, 40403},
		{"no subject config", "GET", "/config/nobody", "", nil, 404, 40408},
		{"explicit id outside import", "POST", "/subjects/s/versions", `{"schema":"\"string\"","id":5}`, ct, 422, 42205},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, base+tt.path, tt.body, tt.headers...)
			if r.status != tt.status || r.errorCode() != tt.code {
				t.Errorf("%s %s = %d %s, want %d with error_code %d", tt.method, tt.path, r.status, r.body, tt.status, tt.code)
			}
		})
	}
	if r := do(t, "GET", base+"/subjects", ""); r.status != 200 || string(r.body) != "[]" {
		t.Fatalf("subjects after bad input = %d %s, want []", r.status, r.body)
	}
	if r := do(t, "GET", base+"/config", ""); !strings.Contains(string(r.body), `"BACKWARD"`) {
		t.Fatalf("global config after a bad PUT = %s", r.body)
	}
	// The same API under /schema-registry/ on the API listener, with
	// Confluent's media type.
	r := do(t, "POST", g.URL+"/schema-registry/subjects/s/versions", `{"schema":"\"string\""}`, ct...)
	if r.status != 200 || r.header.Get("Content-Type") != "application/vnd.schemaregistry.v1+json" {
		t.Fatalf("register under /schema-registry/ = %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if r := do(t, "GET", base+"/subjects", "", "Accept", "application/json"); string(r.body) != `["s"]` || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("subjects on the registry listener = %s %s", r.header.Get("Content-Type"), r.body)
	}
	if r := do(t, "GET", base+"/topics", ""); r.status != 404 {
		t.Fatalf("the registry listener serves /topics: %d", r.status)
	}
}

// TestSchemaRegistryRestart: ids and versions survive a restart on the
// same data directory, and the next id follows them.
func TestSchemaRegistryRestart(t *testing.T) {
	t.Parallel()
	cfg := testutil.GatewayConfig(t)
	g := testutil.StartGatewayConfig(t, cfg)
	cl := srClient(t, "http://"+g.Info.SchemaRegistryAddr)
	ctx := t.Context()
	a, err := cl.CreateSchema(ctx, "a-value", sr.Schema{Schema: avroUserV1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cl.CreateSchema(ctx, "a-value", sr.Schema{Schema: avroUserV2})
	if err != nil {
		t.Fatal(err)
	}
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "a-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	g.Stop()

	g2 := testutil.StartGatewayConfig(t, cfg)
	cl2 := srClient(t, "http://"+g2.Info.SchemaRegistryAddr)
	for _, want := range []sr.SubjectSchema{a, b} {
		got, err := cl2.SchemaByVersion(ctx, "a-value", want.Version)
		if err != nil || got.ID != want.ID || got.Schema.Schema != want.Schema.Schema {
			t.Fatalf("version %d after restart = %+v, %v; want id %d", want.Version, got, err, want.ID)
		}
	}
	if r := cl2.Compatibility(ctx, "a-value"); r[0].Err != nil || r[0].Level != sr.CompatFull {
		t.Fatalf("subject level after restart = %+v", r[0])
	}
	c, err := cl2.CreateSchema(ctx, "b-value", sr.Schema{Schema: avroOrder})
	if err != nil || c.ID <= b.ID || c.ID == a.ID {
		t.Fatalf("new schema after restart = %+v, %v; want an id past %d", c, err, b.ID)
	}
	same, err := cl2.CreateSchema(ctx, "c-value", sr.Schema{Schema: avroUserV1})
	if err != nil || same.ID != a.ID {
		t.Fatalf("old schema in a new subject after restart = %+v, %v; want id %d", same, err, a.ID)
	}
}

// TestSchemaRegistryTwoGateways: two gateways on one broker registering
// at once agree on ids: one id for the same schema, distinct ids for
// different ones, and each serves what the other registered.
func TestSchemaRegistryTwoGateways(t *testing.T) {
	t.Parallel()
	g1 := testutil.StartGateway(t, nil)
	on := true
	g2 := testutil.StartGateway(t, func(c *config.Config) {
		c.Brokers = []string{g1.Info.BrokerAddr}
		c.SchemaRegistry.Enabled = &on
	})
	clients := []*sr.Client{srClient(t, "http://"+g1.Info.SchemaRegistryAddr), srClient(t, "http://"+g2.Info.SchemaRegistryAddr)}
	ctx := t.Context()
	const n = 8
	schema := func(i int) string {
		return fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"f","type":"string"}]}`, i)
	}
	type result struct {
		gw, i, id int
		err       error
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	for gw, cl := range clients {
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Both gateways register the same n schemas, each under
				// its own subject and under a shared one.
				s1, err := cl.CreateSchema(ctx, fmt.Sprintf("gw%d-%d", gw, i), sr.Schema{Schema: schema(i)})
				mu.Lock()
				results = append(results, result{gw, i, s1.ID, err})
				mu.Unlock()
				s2, err := cl.CreateSchema(ctx, fmt.Sprintf("shared-%d", i), sr.Schema{Schema: schema(i)})
				mu.Lock()
				results = append(results, result{gw, i, s2.ID, err})
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	idOf := map[int]int{}
	schemaOf := map[int]int{}
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("gateway %d schema %d: %v", r.gw, r.i, r.err)
		}
		if id, ok := idOf[r.i]; ok && id != r.id {
			t.Errorf("schema %d got ids %d and %d", r.i, id, r.id)
		}
		idOf[r.i] = r.id
		if i, ok := schemaOf[r.id]; ok && i != r.i {
			t.Errorf("id %d given to schemas %d and %d", r.id, i, r.i)
		}
		schemaOf[r.id] = r.i
	}
	if len(idOf) != n {
		t.Fatalf("%d distinct schemas got ids, want %d", len(idOf), n)
	}
	for i := range n {
		for gw, cl := range clients {
			vs, err := cl.SubjectVersions(ctx, fmt.Sprintf("shared-%d", i))
			if err != nil || !slices.Equal(vs, []int{1}) {
				t.Errorf("gateway %d: shared-%d versions = %v, %v; want [1]", gw, i, vs, err)
			}
			got, err := cl.SchemaByID(ctx, idOf[i])
			if err != nil || got.Schema != schema(i) {
				t.Errorf("gateway %d: id %d = %q, %v", gw, idOf[i], got.Schema, err)
			}
		}
	}
}

// TestSchemaRegistryPermissions: subject grants with {user} templates,
// listings filtered, the registry's own listener under the same policy,
// and changes audited.
func TestSchemaRegistryPermissions(t *testing.T) {
	t.Parallel()
	users, _ := secureFiles(t)
	perms := filepath.Join(t.TempDir(), "permissions.yml")
	if err := os.WriteFile(perms, []byte(`
"*":
  produce: ["{user}", "{user}.raw"]
  list_subjects: true
  subject_read: ["{user}-*", "shared-*"]
  subject_write: ["{user}-*"]
  subject_delete: ["{user}-*"]
admin:
  admin: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	g, logs := testutil.StartGatewayLogged(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
		c.Auth.FailuresPerSecond, c.Auth.FailureBurst = 1000, 1000
	})
	base := "http://" + g.Info.SchemaRegistryAddr
	ct := "application/vnd.schemaregistry.v1+json"
	reg := func(user, subject string) response {
		return do(t, "POST", base+"/subjects/"+subject+"/versions", `{"schema":"\"string\""}`,
			"Content-Type", ct, "Authorization", basic(user))
	}
	if r := reg("customer1", "customer1-value"); r.status != 200 {
		t.Fatalf("customer1 registering its own subject = %d %s", r.status, r.body)
	}
	if r := reg("customer2", "customer1-value"); r.status != http.StatusForbidden {
		t.Fatalf("customer2 registering customer1's subject = %d %s", r.status, r.body)
	}
	if r := reg("customer2", "shared-value"); r.status != http.StatusForbidden {
		t.Fatalf("customer2 registering a shared subject it may only read = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"/subjects", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous listing = %d %s", r.status, r.body)
	}
	if r := reg("admin", "shared-value"); r.status != 200 {
		t.Fatalf("admin registering = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"/subjects", "", "Authorization", basic("customer2")); string(r.body) != `["shared-value"]` {
		t.Fatalf("customer2's subjects = %s", r.body)
	}
	if r := do(t, "GET", base+"/subjects", "", "Authorization", basic("customer1")); string(r.body) != `["customer1-value","shared-value"]` {
		t.Fatalf("customer1's subjects = %s", r.body)
	}
	if r := do(t, "PUT", base+"/config", `{"compatibility":"NONE"}`, "Content-Type", ct, "Authorization", basic("customer1")); r.status != http.StatusForbidden {
		t.Fatalf("customer1 setting the global level = %d %s", r.status, r.body)
	}
	// The _schemas topic is not reachable through the topic APIs.
	if r := do(t, "GET", g.URL+"/topics/_schemas", "", "Authorization", basic("customer1")); r.status != http.StatusForbidden {
		t.Fatalf("customer1 reading _schemas = %d %s", r.status, r.body)
	}
	// Avro produce registers its value_schema only where the caller may
	// write the subject.
	avroBody := `{"value_schema":"\"string\"","records":[{"value":"x"}]}`
	if r := do(t, "POST", g.URL+"/topics/customer1", avroBody, "Content-Type", mtAvroV2, "Authorization", basic("customer1")); r.status != 200 {
		t.Fatalf("customer1 avro produce to customer1 = %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/topics/customer1.raw", avroBody, "Content-Type", mtAvroV2, "Authorization", basic("customer1")); r.status != 422 || !strings.Contains(string(r.body), "not authorized") {
		t.Fatalf("customer1 avro produce registering customer1.raw-value = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"/subjects", "", "Authorization", basic("admin")); string(r.body) != `["customer1-value","shared-value"]` {
		t.Fatalf("subjects after the avro produces = %s", r.body)
	}
	if r := do(t, "POST", g.URL+"/topics/customer1", `{"value_schema":"\"long\"","records":[{"value":5}]}`, "Content-Type", mtAvroV2, "Authorization", basic("customer1")); r.status != 422 {
		t.Fatalf("an incompatible value_schema = %d %s", r.status, r.body)
	}
	if r := do(t, "PUT", base+"/config/customer1-value", `{"compatibility":"NONE"}`, "Content-Type", ct, "Authorization", basic("customer1")); r.status != http.StatusForbidden {
		t.Fatalf("customer1 setting its subject's level without subject_config = %d %s", r.status, r.body)
	}
	if r := do(t, "PUT", base+"/config/customer1-value", `{"compatibility":"NONE"}`, "Content-Type", ct, "Authorization", basic("admin")); r.status != 200 {
		t.Fatalf("admin setting customer1-value's level = %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/topics/customer1", `{"value_schema":"\"long\"","records":[{"value":5}]}`, "Content-Type", mtAvroV2, "Authorization", basic("customer1")); r.status != 200 {
		t.Fatalf("a value_schema registered by a produce = %d %s", r.status, r.body)
	}
	if !strings.Contains(logs.String(), "registered by a produce: version 2") {
		t.Fatal("the produce's registration is not in the audit log")
	}
	if !strings.Contains(logs.String(), `"event":"schema_change"`) || !strings.Contains(logs.String(), `"resource":"customer1-value"`) {
		t.Fatal("the registration is not in the audit log")
	}
}

// TestSchemaRegistryTopicAdminOnly: the registry's topic is kgate's own
// state: even a grant naming it exactly does not reach it through the
// topic APIs (a stray record there would corrupt the registry).
func TestSchemaRegistryTopicAdminOnly(t *testing.T) {
	t.Parallel()
	users, _ := secureFiles(t)
	perms := filepath.Join(t.TempDir(), "permissions.yml")
	if err := os.WriteFile(perms, []byte("customer1:\n  produce: [_schemas]\n  fetch: [_schemas]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := testutil.StartGateway(t, func(c *config.Config) {
		c.Auth.Users, c.Auth.Permissions = users, perms
	})
	if r := produceV2(t, g, "_schemas", "Authorization", basic("customer1")); r.status != http.StatusForbidden {
		t.Fatalf("customer1 wrote to _schemas: %d %s", r.status, r.body)
	}
}

// TestSchemaRegistryImportAndNormalize: IMPORT mode keeps the ids and
// versions given (and later registrations allocate past them); the
// same Avro schema written differently is one schema.
func TestSchemaRegistryImportAndNormalize(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, nil)
	cl := srClient(t, "http://"+g.Info.SchemaRegistryAddr)
	ctx := t.Context()
	if r := cl.SetMode(ctx, sr.ModeImport); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	imported, err := cl.CreateSchemaWithIDAndVersion(ctx, "imported-value", sr.Schema{Schema: avroOrder}, 100, 5)
	if err != nil || imported.ID != 100 || imported.Version != 5 {
		t.Fatalf("import = %+v, %v", imported, err)
	}
	// Another schema may not take an imported id.
	if _, err := cl.CreateSchemaWithIDAndVersion(ctx, "other-value", sr.Schema{Schema: avroUserV1}, 100, 1); srCode(err) != 42205 {
		t.Fatalf("importing another schema under id 100: %v, want 42205", err)
	}
	if r := cl.SetMode(ctx, sr.ModeReadWrite); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	next, err := cl.CreateSchema(ctx, "new-value", sr.Schema{Schema: avroUserV1})
	if err != nil || next.ID <= 100 {
		t.Fatalf("registration after the import = %+v, %v; want an id past 100", next, err)
	}
	// Importing into a registry that holds schemas needs force.
	if r := cl.SetMode(ctx, sr.ModeImport); srCode(r[0].Err) != 42205 {
		t.Fatalf("IMPORT on a non-empty registry: %v, want 42205", r[0].Err)
	}
	if r := cl.SetMode(sr.WithParams(ctx, sr.Force), sr.ModeImport); r[0].Err != nil {
		t.Fatalf("IMPORT with force: %v", r[0].Err)
	}
	if r := cl.SetMode(ctx, sr.ModeReadWrite); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}

	// Whitespace and key order do not make another schema.
	spaced := "{ \"fields\": [ {\"type\": \"string\", \"name\": \"name\"} ],\n  \"name\": \"User\", \"type\": \"record\" }"
	same, err := cl.CreateSchema(sr.WithParams(ctx, sr.Normalize), "new-value", sr.Schema{Schema: spaced})
	if err != nil || same.ID != next.ID || same.Version != next.Version {
		t.Fatalf("the same schema written differently = %+v, %v; want id %d version %d", same, err, next.ID, next.Version)
	}
	found, err := cl.LookupSchema(ctx, "new-value", sr.Schema{Schema: spaced})
	if err != nil || found.ID != next.ID {
		t.Fatalf("lookup of the same schema written differently = %+v, %v", found, err)
	}
}

// TestSchemaRegistryVersionRace: two gateways registering different
// schemas under one subject at once give each its own version, and both
// serve the same versions afterwards.
func TestSchemaRegistryVersionRace(t *testing.T) {
	t.Parallel()
	g1 := testutil.StartGateway(t, nil)
	on := true
	g2 := testutil.StartGateway(t, func(c *config.Config) {
		c.Brokers = []string{g1.Info.BrokerAddr}
		c.SchemaRegistry.Enabled = &on
	})
	clients := []*sr.Client{srClient(t, "http://"+g1.Info.SchemaRegistryAddr), srClient(t, "http://"+g2.Info.SchemaRegistryAddr)}
	ctx := t.Context()
	if r := clients[0].SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "race-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	const n = 6
	type result struct {
		i, id, version int
		err            error
	}
	results := make([]result, 2*n)
	var wg sync.WaitGroup
	for gw, cl := range clients {
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := gw*n + i
				s := fmt.Sprintf(`{"type":"record","name":"V%d","fields":[]}`, k)
				// RegisterSchema answers the id only; the version is read
				// back below.
				id, err := cl.RegisterSchema(ctx, "race-value", sr.Schema{Schema: s}, -1, -1)
				results[k] = result{k, id, 0, err}
			}()
		}
	}
	wg.Wait()
	ids := map[int]bool{}
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("schema %d: %v", r.i, r.err)
		}
		if ids[r.id] {
			t.Fatalf("id %d given twice", r.id)
		}
		ids[r.id] = true
	}
	for gw, cl := range clients {
		// A replica sees the other's last writes within a fetch round
		// trip (reads do not wait for the topic's end).
		var vs []int
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			vs, err = cl.SubjectVersions(ctx, "race-value")
			if err == nil && len(vs) == 2*n || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || len(vs) != 2*n {
			t.Fatalf("gateway %d: versions %v, %v; want %d", gw, vs, err, 2*n)
		}
		seen := map[int]bool{}
		for _, v := range vs {
			s, err := cl.SchemaByVersion(ctx, "race-value", v)
			if err != nil {
				t.Fatal(err)
			}
			if !ids[s.ID] || seen[s.ID] {
				t.Fatalf("gateway %d: version %d holds id %d (registered: %v, seen: %v)", gw, v, s.ID, ids, seen)
			}
			seen[s.ID] = true
		}
	}
}
