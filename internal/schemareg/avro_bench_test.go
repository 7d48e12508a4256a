package schemareg

import (
	"bytes"
	"encoding/json"
	"testing"
)

const benchAvroSchema = `{"type":"record","name":"Reading","namespace":"bench","fields":[` +
	`{"name":"sensor","type":"string"},{"name":"seq","type":"long"},{"name":"celsius","type":"double"},` +
	`{"name":"ok","type":"boolean"},{"name":"site","type":{"type":"enum","name":"Site","symbols":["NORTH","SOUTH"]}},` +
	`{"name":"tags","type":{"type":"array","items":"string"}},{"name":"note","type":["null","string"],"default":null}]}`

const benchAvroValue = `{"sensor":"sensor-042","seq":1000042,"celsius":21.25,"ok":true,"site":"NORTH","tags":["roof","east"],"note":{"string":"calibrated"}}`

// BenchmarkAvroJSON: one record from Avro's JSON encoding to the Avro
// binary (the avro format's produce path), against json.Compact (what
// the json format does with a value).
func BenchmarkAvroJSON(b *testing.B) {
	p, err := Parse(Source{Type: Avro, Schema: benchAvroSchema})
	if err != nil {
		b.Fatal(err)
	}
	s := p.(*avroSchema)
	data := []byte(benchAvroValue)
	b.Run("avro", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		var dst []byte
		for b.Loop() {
			if dst, err = s.AppendAvroJSON(dst[:0], data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compact", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		buf := new(bytes.Buffer)
		for b.Loop() {
			buf.Reset()
			if err := json.Compact(buf, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
