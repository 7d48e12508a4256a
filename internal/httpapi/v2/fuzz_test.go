package v2

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/record"
)

// FuzzDecodeProduce: any body yields records or a 4xx catalog error, never
// a panic; binary values are base64 of what comes out.
func FuzzDecodeProduce(f *testing.F) {
	for _, s := range []string{
		`{"records":[{"value":{"deviceid":"AppleWatch4","heartrate":"72"}}]}`,
		`{"records":[{"key":"a2V5","value":"dmFsdWU=","partition":1}]}`,
		`{"records":[{"value":1,"headers":{"a":"b"},"timestamp":1570452373000}]}`,
		`{"records":[{"value":1,"headers":[{"name":"a","value":"Yg=="}],"timestamp":"2019-10-07T12:46:13Z"}]}`,
		`{"records":{}}`, `null`, ``, `[`, `{"records":[null]}`, `{"value_schema":"x","records":[]}`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, body string, binary bool) {
		fm := record.JSON
		if binary {
			fm = record.Binary
		}
		recs, err := decodeProduce(fm, []byte(body), 0, nil)
		if err != nil {
			var he *httpapi.Error
			if !errors.As(err, &he) || he.Status < 400 || he.Status >= 500 {
				t.Fatalf("decode error %v is not a client error", err)
			}
			return
		}
		for _, r := range recs {
			if r.Partition < record.NoPartition {
				t.Fatalf("negative partition accepted")
			}
		}
	})
}

// FuzzParseCreate: any consumer-create body yields options or a 4xx.
func FuzzParseCreate(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `{"name":"c1","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false"}`,
		`{"id":"x","fetch.min.bytes":"100","consumer.request.timeout.ms":5000}`, `{"format":"AVRO"}`,
		`{"responseMinBytes":-1,"requestWaitMs":"10"}`, `[1]`, `{"name":"a/b"}`,
	} {
		f.Add(s)
	}
	a := consumerAPI{cfg: config.Default().Consumers, maxWait: config.Default().MaxWait()}
	f.Fuzz(func(t *testing.T, body string) {
		o, err := a.parseCreate([]byte(body))
		if err != nil {
			var he *httpapi.Error
			if !errors.As(err, &he) || he.Status < 400 || he.Status >= 500 {
				t.Fatalf("create error %v is not a client error", err)
			}
			return
		}
		if n := o.Format.Name(); n != record.Binary && n != record.JSON {
			t.Fatalf("accepted format %q", o.Format)
		}
		if o.MinBytes < -1 || o.MinBytes > 10000000 || o.RequestTimeout < 0 || o.RequestTimeout > a.maxWait {
			t.Fatalf("accepted out-of-range options %+v", o)
		}
	})
}

// TestWriteProduceMatchesJSON pins the hand-written ProduceResponse
// encoder to encoding/json's output of the same struct.
func TestWriteProduceMatchesJSON(t *testing.T) {
	cases := [][]partitionOffset{
		nil,
		{},
		{{Partition: ptr(int32(0)), Offset: ptr(int64(8))}},
		{{Partition: ptr(int32(3)), Offset: ptr(int64(1) << 40)}, {ErrorCode: ptr(40401), Error: ptr(`Topic "x" not found.` + "\n\u2028<>&")}},
	}
	for _, offs := range cases {
		want, err := json.Marshal(produceResponse{Offsets: append([]partitionOffset{}, offs...)})
		// With schema ids: the hand-written ids match encoding/json's too.
		withIDs, err2 := json.Marshal(produceResponse{Offsets: append([]partitionOffset{}, offs...), KeySchemaID: ptr(3), ValueSchemaID: ptr(70000)})
		if err2 != nil {
			t.Fatal(err2)
		}
		var gotIDs, wantIDs any
		if err := json.Unmarshal(appendProduceResponse(nil, offs, schemaIDs{key: 3, value: 70000}), &gotIDs); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(withIDs, &wantIDs)
		if fmt.Sprint(gotIDs) != fmt.Sprint(wantIDs) {
			t.Fatalf("hand-written ids %v\nencoding/json %s", gotIDs, withIDs)
		}
		if err != nil {
			t.Fatal(err)
		}
		var got, wantV, gotV any
		gotB := appendProduceResponse(nil, offs, schemaIDs{})
		if err := json.Unmarshal(gotB, &got); err != nil {
			t.Fatalf("invalid JSON %s: %v", gotB, err)
		}
		_ = json.Unmarshal(want, &wantV)
		gotV = got
		if fmt.Sprint(gotV) != fmt.Sprint(wantV) {
			t.Fatalf("hand-written %s\nencoding/json %s", gotB, want)
		}
	}
}
