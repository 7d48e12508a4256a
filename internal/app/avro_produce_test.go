package app_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kgate/kgate/internal/testutil"
)

const mtAvroV2 = "application/vnd.kafka.avro.v2+json"

// TestV2ProduceAvro: v2 produce with the avro embedded format registers
// value_schema under <topic>-value (or takes value_schema_id), validates
// every record against it, and writes Confluent's wire format: magic 0,
// the 4-byte schema id, the Avro binary.
func TestV2ProduceAvro(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, nil)
	schemaJSON, _ := json.Marshal(avroUserV2)
	body := `{"value_schema":` + string(schemaJSON) + `,"records":[{"value":{"name":"ann","age":3}},{"value":{"name":"bob"}}]}`
	r := do(t, "POST", g.URL+"/topics/avro-users", body, "Content-Type", mtAvroV2)
	if r.status != 200 {
		t.Fatalf("avro produce = %d %s", r.status, r.body)
	}
	var resp struct {
		Offsets []struct {
			Offset    *int64 `json:"offset"`
			ErrorCode *int   `json:"error_code"`
		} `json:"offsets"`
		KeySchemaID   *int `json:"key_schema_id"`
		ValueSchemaID *int `json:"value_schema_id"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.ValueSchemaID == nil || resp.KeySchemaID != nil || len(resp.Offsets) != 2 {
		t.Fatalf("answer %s", r.body)
	}
	id := *resp.ValueSchemaID
	cl := srClient(t, "http://"+g.Info.SchemaRegistryAddr)
	reg, err := cl.SchemaByVersion(t.Context(), "avro-users-value", -1)
	if err != nil || reg.ID != id {
		t.Fatalf("avro-users-value = %+v, %v; want id %d", reg, err, id)
	}

	// By id, and refusals that write nothing.
	r = do(t, "POST", g.URL+"/topics/avro-users", `{"value_schema_id":`+strconv.Itoa(id)+`,"records":[{"value":{"name":"cy","age":1}}]}`, "Content-Type", mtAvroV2)
	if r.status != 200 || !json.Valid(r.body) || r.json(t)["value_schema_id"] != float64(id) {
		t.Fatalf("produce by id = %d %s", r.status, r.body)
	}
	for _, bad := range []string{
		`{"value_schema_id":` + strconv.Itoa(id) + `,"records":[{"value":{"name":"ok"}},{"value":{"name":7}}]}`,
		`{"value_schema_id":` + strconv.Itoa(id) + `,"records":[{"value":{"age":1}}]}`,
		`{"value_schema_id":999,"records":[{"value":{"name":"x"}}]}`,
		`{"value_schema":"{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"name\",\"type\":\"int\"}]}","records":[{"value":{"name":1}}]}`,
		`{"value_schema":"nope","records":[{"value":1}]}`,
		`{"value_schema_id":` + strconv.Itoa(id) + `,"records":[{"key":"k","value":{"name":"x"}}]}`,
	} {
		if r := do(t, "POST", g.URL+"/topics/avro-users", bad, "Content-Type", mtAvroV2); r.status != 422 {
			t.Errorf("%s = %d %s, want 422", bad, r.status, r.body)
		}
	}
	if vs, err := cl.SubjectVersions(t.Context(), "avro-users-value"); err != nil || len(vs) != 1 {
		t.Fatalf("an incompatible value_schema was registered: %v, %v", vs, err)
	}

	kc, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr), kgo.ConsumeTopics("avro-users"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	schema := avro.MustParse(avroUserV2)
	var got []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		fs := kc.PollRecords(t.Context(), 10)
		fs.EachRecord(func(rec *kgo.Record) {
			v := rec.Value
			if len(v) < 5 || v[0] != 0 || int(binary.BigEndian.Uint32(v[1:5])) != id {
				t.Fatalf("record %d is not in Confluent's wire format with id %d: % x", rec.Offset, id, v)
			}
			var m map[string]any
			if err := avro.Unmarshal(schema, v[5:], &m); err != nil {
				t.Fatalf("record %d: %v", rec.Offset, err)
			}
			got = append(got, m)
		})
	}
	want := []map[string]any{{"name": "ann", "age": 3}, {"name": "bob", "age": 0}, {"name": "cy", "age": 1}}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i]["name"] != want[i]["name"] || got[i]["age"] != want[i]["age"] {
			t.Errorf("record %d = %v, want %v", i, got[i], want[i])
		}
	}

	// A v2 consumer in the avro format reads them back as JSON.
	v2 := "application/vnd.kafka.v2+json"
	if r := do(t, "POST", g.URL+"/consumers/avro-g", `{"name":"c1","format":"avro","auto.offset.reset":"earliest"}`, "Content-Type", v2); r.status != 200 {
		t.Fatalf("avro consumer = %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/consumers/avro-g/instances/c1/subscription", `{"topics":["avro-users"]}`, "Content-Type", v2); r.status != 204 {
		t.Fatalf("subscription = %d %s", r.status, r.body)
	}
	type rec struct {
		Key   any `json:"key"`
		Value any `json:"value"`
	}
	var read []rec
	for deadline := time.Now().Add(15 * time.Second); len(read) < 3 && time.Now().Before(deadline); {
		r := do(t, "GET", g.URL+"/consumers/avro-g/instances/c1/records?timeout=1000", "", "Accept", mtAvroV2)
		if r.status != 200 {
			t.Fatalf("avro records = %d %s", r.status, r.body)
		}
		var rs []rec
		if err := json.Unmarshal(r.body, &rs); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		read = append(read, rs...)
	}
	wantJSON := []string{`{"age":3,"name":"ann"}`, `{"age":0,"name":"bob"}`, `{"age":1,"name":"cy"}`}
	if len(read) != len(wantJSON) {
		t.Fatalf("consumed %d records, want %d: %v", len(read), len(wantJSON), read)
	}
	for i, w := range wantJSON {
		if b, _ := json.Marshal(read[i].Value); string(b) != w || read[i].Key != nil {
			t.Errorf("consumed record %d = %s (key %v), want %s", i, b, read[i].Key, w)
		}
	}
}

// TestV2ProduceJSONSchema: the jsonschema embedded format validates each
// record against the schema, writes magic 0, the id and the JSON text,
// and a jsonschema consumer reads the JSON back.
func TestV2ProduceJSONSchema(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, nil)
	const mt = "application/vnd.kafka.jsonschema.v2+json"
	schema, _ := json.Marshal(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`)
	r := do(t, "POST", g.URL+"/topics/js", `{"value_schema":`+string(schema)+`,"records":[{"value":{"n":1}},{"value":{ "n" : 2 }}]}`, "Content-Type", mt)
	if r.status != 200 {
		t.Fatalf("jsonschema produce = %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["value_schema_id"].(float64)
	if id < 1 {
		t.Fatalf("no value_schema_id in %s", r.body)
	}
	for _, bad := range []string{
		`{"value_schema_id":` + strconv.Itoa(int(id)) + `,"records":[{"value":{"n":1}},{"value":{"n":"two"}}]}`,
		`{"value_schema_id":` + strconv.Itoa(int(id)) + `,"records":[{"value":{}}]}`,
		`{"value_schema":"{\"type\":\"strin\"}","records":[{"value":"x"}]}`,
	} {
		if r := do(t, "POST", g.URL+"/topics/js", bad, "Content-Type", mt); r.status != 422 {
			t.Errorf("%s = %d %s, want 422", bad, r.status, r.body)
		}
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr), kgo.ConsumeTopics("js"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var values []string
	for deadline := time.Now().Add(10 * time.Second); len(values) < 2 && time.Now().Before(deadline); {
		kc.PollRecords(t.Context(), 10).EachRecord(func(rec *kgo.Record) {
			v := rec.Value
			if len(v) < 5 || v[0] != 0 || int(binary.BigEndian.Uint32(v[1:5])) != int(id) {
				t.Fatalf("record %d is not in the wire format: % x", rec.Offset, v)
			}
			values = append(values, string(v[5:]))
		})
	}
	if len(values) != 2 || values[0] != `{"n":1}` || values[1] != `{"n":2}` {
		t.Fatalf("stored values = %q", values)
	}

	v2 := "application/vnd.kafka.v2+json"
	if r := do(t, "POST", g.URL+"/consumers/js-g", `{"name":"c1","format":"jsonschema","auto.offset.reset":"earliest"}`, "Content-Type", v2); r.status != 200 {
		t.Fatalf("jsonschema consumer = %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/consumers/js-g/instances/c1/subscription", `{"topics":["js"]}`, "Content-Type", v2); r.status != 204 {
		t.Fatalf("subscription = %d %s", r.status, r.body)
	}
	var read []json.RawMessage
	for deadline := time.Now().Add(15 * time.Second); len(read) < 2 && time.Now().Before(deadline); {
		r := do(t, "GET", g.URL+"/consumers/js-g/instances/c1/records?timeout=1000", "", "Accept", mt)
		if r.status != 200 {
			t.Fatalf("jsonschema records = %d %s", r.status, r.body)
		}
		var rs []struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(r.body, &rs); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		for _, x := range rs {
			read = append(read, x.Value)
		}
	}
	if len(read) != 2 || string(read[0]) != `{"n":1}` || string(read[1]) != `{"n":2}` {
		t.Fatalf("consumed %q", read)
	}
}

// TestV2ProduceProtobuf: the protobuf embedded format takes records in
// Protobuf's JSON mapping for the schema's first message, writes magic 0,
// the id, the message indexes [0] and the Protobuf binary, and a protobuf
// consumer reads them back as JSON.
func TestV2ProduceProtobuf(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, nil)
	const mt = "application/vnd.kafka.protobuf.v2+json"
	schema, _ := json.Marshal(`syntax = "proto3"; package shop; message Order { string id = 1; int64 qty = 2; repeated string tags = 3; }`)
	r := do(t, "POST", g.URL+"/topics/pb", `{"value_schema":`+string(schema)+`,"records":[{"value":{"id":"o1","qty":"3","tags":["a"]}},{"value":{"id":"o2"}}]}`, "Content-Type", mt)
	if r.status != 200 {
		t.Fatalf("protobuf produce = %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["value_schema_id"].(float64)
	if id < 1 {
		t.Fatalf("no value_schema_id in %s", r.body)
	}
	for _, bad := range []string{
		`{"value_schema_id":` + strconv.Itoa(int(id)) + `,"records":[{"value":{"id":"ok"}},{"value":{"qty":"many"}}]}`,
		`{"value_schema_id":` + strconv.Itoa(int(id)) + `,"records":[{"value":{"nope":1}}]}`,
		`{"value_schema":"message {","records":[{"value":{}}]}`,
	} {
		if r := do(t, "POST", g.URL+"/topics/pb", bad, "Content-Type", mt); r.status != 422 {
			t.Errorf("%s = %d %s, want 422", bad, r.status, r.body)
		}
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr), kgo.ConsumeTopics("pb"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var stored [][]byte
	for deadline := time.Now().Add(10 * time.Second); len(stored) < 2 && time.Now().Before(deadline); {
		kc.PollRecords(t.Context(), 10).EachRecord(func(rec *kgo.Record) { stored = append(stored, rec.Value) })
	}
	// o2: field 1 (length-delimited) "o2" only.
	want2 := binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
	want2 = append(want2, 0, 0x0a, 2, 'o', '2')
	if len(stored) != 2 || string(stored[1]) != string(want2) || stored[0][5] != 0 {
		t.Fatalf("stored values = % x, want the second % x", stored, want2)
	}

	v2 := "application/vnd.kafka.v2+json"
	if r := do(t, "POST", g.URL+"/consumers/pb-g", `{"name":"c1","format":"protobuf","auto.offset.reset":"earliest"}`, "Content-Type", v2); r.status != 200 {
		t.Fatalf("protobuf consumer = %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/consumers/pb-g/instances/c1/subscription", `{"topics":["pb"]}`, "Content-Type", v2); r.status != 204 {
		t.Fatalf("subscription = %d %s", r.status, r.body)
	}
	var read []string
	for deadline := time.Now().Add(15 * time.Second); len(read) < 2 && time.Now().Before(deadline); {
		r := do(t, "GET", g.URL+"/consumers/pb-g/instances/c1/records?timeout=1000", "", "Accept", mt)
		if r.status != 200 {
			t.Fatalf("protobuf records = %d %s", r.status, r.body)
		}
		var rs []struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(r.body, &rs); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		for _, x := range rs {
			read = append(read, string(x.Value))
		}
	}
	if len(read) != 2 || read[0] != `{"id":"o1","qty":"3","tags":["a"]}` || read[1] != `{"id":"o2"}` {
		t.Fatalf("consumed %q", read)
	}
}

// TestV3ProduceSchemas: v3 records name their schema by the subject's
// latest version (type only), an id (type inferred) or the schema itself
// under a subject; data that does not fit fails its entry alone.
func TestV3ProduceSchemas(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, nil)
	cl := srClient(t, "http://"+g.Info.SchemaRegistryAddr)
	user, err := cl.CreateSchema(t.Context(), "v3t-value", sr.Schema{Schema: avroUserV2})
	if err != nil {
		t.Fatal(err)
	}
	url := g.URL + "/v3/clusters/kgate-embedded/topics/v3t/records:batch"
	body := `{"entries":[
		{"id":"latest","value":{"type":"AVRO","data":{"name":"ann","age":1}}},
		{"id":"by-id","value":{"schema_id":` + strconv.Itoa(user.ID) + `,"data":{"name":"bob"}}},
		{"id":"by-schema","value":{"type":"AVRO","subject":"v3t-strings","schema":"\"string\"","data":"plain"}},
		{"id":"misfit","value":{"type":"AVRO","data":{"name":5}}},
		{"id":"no-such-id","value":{"schema_id":999,"data":{}}}
	]}`
	r := do(t, "POST", url, body, "Content-Type", "application/json")
	if r.status != 207 {
		t.Fatalf("batch = %d %s", r.status, r.body)
	}
	var resp struct {
		Successes []struct {
			ID     string          `json:"id"`
			Offset int64           `json:"offset"`
			Value  json.RawMessage `json:"value"`
		} `json:"successes"`
		Failures []struct {
			ID        string `json:"id"`
			ErrorCode int    `json:"error_code"`
		} `json:"failures"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Successes) != 3 || len(resp.Failures) != 2 || resp.Failures[0].ID != "misfit" || resp.Failures[1].ID != "no-such-id" {
		t.Fatalf("batch answer %s", r.body)
	}
	strings1, err := cl.SchemaByVersion(t.Context(), "v3t-strings", -1)
	if err != nil {
		t.Fatalf("the schema given in a record was not registered: %v", err)
	}
	// The receipts name the subject, schema id and version, as Confluent's.
	wantInfo := map[string]string{
		"latest":    fmt.Sprintf(`{"type":"AVRO","subject":"v3t-value","schema_id":%d,"schema_version":1,"size":`, user.ID),
		"by-id":     fmt.Sprintf(`{"type":"AVRO","subject":"v3t-value","schema_id":%d,"schema_version":1,"size":`, user.ID),
		"by-schema": fmt.Sprintf(`{"type":"AVRO","subject":"v3t-strings","schema_id":%d,"schema_version":1,"size":`, strings1.ID),
	}
	for _, s := range resp.Successes {
		if !strings.HasPrefix(string(s.Value), wantInfo[s.ID]) {
			t.Errorf("receipt of %s: value %s, want %s...", s.ID, s.Value, wantInfo[s.ID])
		}
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr), kgo.ConsumeTopics("v3t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var ids []int
	for deadline := time.Now().Add(10 * time.Second); len(ids) < 3 && time.Now().Before(deadline); {
		kc.PollRecords(t.Context(), 10).EachRecord(func(rec *kgo.Record) {
			if len(rec.Value) < 5 || rec.Value[0] != 0 {
				t.Fatalf("record %d is not in the wire format: % x", rec.Offset, rec.Value)
			}
			ids = append(ids, int(binary.BigEndian.Uint32(rec.Value[1:5])))
		})
	}
	if len(ids) != 3 || ids[0] != user.ID || ids[1] != user.ID || ids[2] != strings1.ID {
		t.Fatalf("stored schema ids %v, want [%d %d %d]", ids, user.ID, user.ID, strings1.ID)
	}
	// The streaming endpoint's receipts too.
	st := do(t, "POST", g.URL+"/v3/clusters/kgate-embedded/topics/v3t/records", `{"value":{"type":"AVRO","data":{"name":"cy"}}}`, "Content-Type", "application/json")
	if want := fmt.Sprintf(`"value":{"type":"AVRO","subject":"v3t-value","schema_id":%d,"schema_version":1,"size":`, user.ID); st.status != 200 || !strings.Contains(string(st.body), want) {
		t.Errorf("stream receipt = %d %s, want %s", st.status, st.body, want)
	}
}

// TestV3ProduceSubjectNameStrategies: RECORD_NAME and TOPIC_RECORD_NAME
// take the subject from the schema's record name (Avro full name, JSON
// Schema title), for a schema given in full or by id; a strategy
// without a schema, with a subject, or unknown fails alone.
func TestV3ProduceSubjectNameStrategies(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, nil)
	cl := srClient(t, "http://"+g.Info.SchemaRegistryAddr)
	user, err := cl.CreateSchema(t.Context(), "elsewhere", sr.Schema{Schema: avroUserV2})
	if err != nil {
		t.Fatal(err)
	}
	order := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}`
	reading := `{"title":"Reading","type":"object","properties":{"c":{"type":"number"}}}`
	body := `{"entries":[
		{"id":"record","value":{"type":"AVRO","subject_name_strategy":"RECORD_NAME","schema":` + mustJSONString(order) + `,"data":{"id":5}}},
		{"id":"topic-record","value":{"type":"JSONSCHEMA","subject_name_strategy":"TOPIC_RECORD_NAME","schema":` + mustJSONString(reading) + `,"data":{"c":1.5}}},
		{"id":"by-id","value":{"subject_name_strategy":"TOPIC_RECORD_NAME","schema_id":` + strconv.Itoa(user.ID) + `,"data":{"name":"x"}}},
		{"id":"no-schema","value":{"type":"AVRO","subject_name_strategy":"RECORD_NAME","data":{"id":1}}},
		{"id":"with-subject","value":{"type":"AVRO","subject_name_strategy":"RECORD_NAME","subject":"s","schema":` + mustJSONString(order) + `,"data":{"id":1}}},
		{"id":"unknown","value":{"type":"AVRO","subject_name_strategy":"FANCY","schema":` + mustJSONString(order) + `,"data":{"id":1}}},
		{"id":"untitled","value":{"type":"JSONSCHEMA","subject_name_strategy":"RECORD_NAME","schema":"{\"type\":\"object\"}","data":{}}}
	]}`
	r := do(t, "POST", g.URL+"/v3/clusters/kgate-embedded/topics/strat/records:batch", body, "Content-Type", "application/json")
	var resp struct {
		Successes []struct {
			ID    string          `json:"id"`
			Value json.RawMessage `json:"value"`
		} `json:"successes"`
		Failures []struct {
			ID        string `json:"id"`
			ErrorCode int    `json:"error_code"`
		} `json:"failures"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil || r.status != 207 {
		t.Fatalf("batch = %d %s", r.status, r.body)
	}
	subjects := map[string]string{}
	for _, s := range resp.Successes {
		var v struct {
			Subject string `json:"subject"`
		}
		_ = json.Unmarshal(s.Value, &v)
		subjects[s.ID] = v.Subject
	}
	want := map[string]string{"record": "shop.Order", "topic-record": "strat-Reading", "by-id": "strat-User"}
	if fmt.Sprint(subjects) != fmt.Sprint(want) {
		t.Errorf("subjects %v, want %v (%s)", subjects, want, r.body)
	}
	var failed []string
	for _, f := range resp.Failures {
		failed = append(failed, f.ID)
	}
	if fmt.Sprint(failed) != "[no-schema with-subject unknown untitled]" {
		t.Errorf("failures %v (%s)", failed, r.body)
	}
	for _, s := range []string{"shop.Order", "strat-Reading"} {
		if _, err := cl.SchemaByVersion(t.Context(), s, -1); err != nil {
			t.Errorf("subject %s: %v", s, err)
		}
	}
}
