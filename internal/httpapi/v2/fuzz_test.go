package v2

import (
	"encoding/json"
	"errors"
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
		var b record.V2Batch
		err := decodeProduce(&b, fm, []byte(body), 0, nil)
		recs := b.Records
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

// wireResponse is Confluent's ProduceResponse as encoding/json writes it
// (v2 writes nulls): the reference of the hand-written encoder.
type wireResponse struct {
	Offsets       []wireOffset `json:"offsets"`
	KeySchemaID   *int         `json:"key_schema_id"`
	ValueSchemaID *int         `json:"value_schema_id"`
}

type wireOffset struct {
	Partition *int32  `json:"partition"`
	Offset    *int64  `json:"offset"`
	ErrorCode *int    `json:"error_code"`
	Error     *string `json:"error"`
}

func wireOffsets(offs []partitionOffset) []wireOffset {
	out := []wireOffset{}
	for _, o := range offs {
		if o.err != nil {
			out = append(out, wireOffset{ErrorCode: ptr(o.err.Code), Error: ptr(o.err.Message)})
			continue
		}
		out = append(out, wireOffset{Partition: ptr(o.partition), Offset: ptr(o.offset)})
	}
	return out
}

// TestWriteProduceMatchesJSON pins the hand-written ProduceResponse
// encoder to encoding/json's output of the same answer, byte for byte.
func TestWriteProduceMatchesJSON(t *testing.T) {
	cases := [][]partitionOffset{
		nil,
		{},
		{{partition: 0, offset: 8}},
		{{partition: 3, offset: 1 << 40}, {err: httpapi.ErrTopicNotFound.Msg("Topic %q not found.\n\u2028<>&", "x")}, {partition: 2147483647, offset: 0}},
	}
	for _, offs := range cases {
		for _, ids := range []schemaIDs{{}, {key: 3, value: 70000}} {
			ref := wireResponse{Offsets: wireOffsets(offs)}
			if ids.key != 0 {
				ref.KeySchemaID, ref.ValueSchemaID = ptr(ids.key), ptr(ids.value)
			}
			want, err := json.Marshal(ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendProduceResponse([]byte("stale"), offs, ids)[len("stale"):]; string(got) != string(want) {
				t.Errorf("hand-written %s\nencoding/json %s", got, want)
			}
		}
	}
}
