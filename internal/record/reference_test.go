package record

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The reference decoder: the rules of docs/api.md ("Record decoding")
// written the slow, obvious way with encoding/json, for the fuzz tests to
// hold the real decoder against. It returns records or the kind of the
// first problem.

type refResult struct {
	recs []Record
	kind Kind
}

// refSyntaxOK is JSON's grammar as the decoder applies it: encoding/json's
// (which also bounds nesting at 10000), and UTF-8 (which encoding/json
// does not check).
func refSyntaxOK(b []byte) bool { return json.Valid(b) && utf8.Valid(b) }

func refFields(raw []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	return m, true
}

func refNull(raw json.RawMessage) bool { return raw == nil || string(raw) == "null" }

func refPartition(raw json.RawMessage) (int32, Kind) {
	if refNull(raw) {
		return NoPartition, 0
	}
	var n int32
	if json.Unmarshal(raw, &n) != nil || bytes.ContainsAny(raw, ".eE") {
		return 0, KindInvalid
	}
	if n < 0 {
		return 0, KindPartition
	}
	return n, 0
}

func refBase64(s string) ([]byte, bool) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}

func refData(name Name, raw json.RawMessage) ([]byte, Kind) {
	if refNull(raw) {
		return nil, 0
	}
	switch name {
	case Binary:
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return nil, KindBase64
		}
		b, ok := refBase64(s)
		if !ok {
			return nil, KindBase64
		}
		return b, 0
	case String:
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return nil, KindInvalid
		}
		return []byte(s), 0
	case JSON:
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			panic(err)
		}
		return buf.Bytes(), 0
	}
	panic("no format " + name)
}

func refHeaders(raw json.RawMessage) ([]kgo.RecordHeader, Kind) {
	if refNull(raw) {
		return nil, 0
	}
	switch raw[0] {
	case '[':
		var list []json.RawMessage
		_ = json.Unmarshal(raw, &list)
		out := []kgo.RecordHeader{}
		for _, e := range list {
			m, ok := refFields(e)
			if !ok {
				return nil, KindInvalid
			}
			if refNull(m["name"]) {
				return nil, KindInvalid
			}
			var name string
			if m["name"][0] != '"' || json.Unmarshal(m["name"], &name) != nil || name == "" {
				return nil, KindInvalid
			}
			h := kgo.RecordHeader{Key: name}
			if v := m["value"]; !refNull(v) {
				var s string
				if v[0] != '"' || json.Unmarshal(v, &s) != nil {
					return nil, KindBase64
				}
				b, ok := refBase64(s)
				if !ok {
					return nil, KindBase64
				}
				h.Value = b
			}
			out = append(out, h)
		}
		return out, 0
	case '{':
		dec := json.NewDecoder(bytes.NewReader(raw))
		_, _ = dec.Token()
		var out []kgo.RecordHeader
		empty := false
		for dec.More() {
			t, _ := dec.Token()
			var v json.RawMessage
			_ = dec.Decode(&v)
			name := t.(string)
			empty = empty || name == ""
			h := kgo.RecordHeader{Key: name}
			switch {
			case refNull(v):
			case v[0] == '"':
				var s string
				_ = json.Unmarshal(v, &s)
				h.Value = []byte(s)
			default:
				var buf bytes.Buffer
				_ = json.Compact(&buf, v)
				h.Value = buf.Bytes()
			}
			out = append(out, h)
		}
		if empty {
			return nil, KindInvalid
		}
		return out, 0
	}
	return nil, KindInvalid
}

func refTimestamp(raw json.RawMessage, millis bool) (time.Time, Kind) {
	if refNull(raw) {
		return time.Time{}, 0
	}
	var t time.Time
	switch {
	case raw[0] == '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return time.Time{}, KindInvalid
		}
	case millis && !bytes.ContainsAny(raw, ".eE") && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		ms, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return time.Time{}, KindInvalid
		}
		t = time.UnixMilli(ms)
	default:
		return time.Time{}, KindInvalid
	}
	if t.UnixMilli() < 0 {
		return time.Time{}, KindInvalid
	}
	return t, 0
}

// refV2 is DecodeV2 for the built-in formats.
func refV2(body []byte, name Name) refResult {
	if t := bytes.TrimSpace(body); len(t) == 0 || string(t) == "null" {
		return refResult{kind: KindEmpty}
	}
	if !refSyntaxOK(body) {
		return refResult{kind: KindSyntax}
	}
	top, ok := refFields(bytes.TrimSpace(body))
	if !ok {
		return refResult{kind: KindShape}
	}
	raw := top["records"]
	if refNull(raw) {
		return refResult{}
	}
	if raw[0] != '[' {
		return refResult{kind: KindShape}
	}
	var list []json.RawMessage
	_ = json.Unmarshal(raw, &list)
	var fields []map[string]json.RawMessage
	for _, e := range list {
		m, ok := refFields(e)
		if !ok {
			return refResult{kind: KindShape}
		}
		fields = append(fields, m)
	}
	if len(fields) == 0 {
		return refResult{}
	}
	var out []Record
	for _, m := range fields {
		var d Record
		var k Kind
		if d.Partition, k = refPartition(m["partition"]); k != 0 {
			return refResult{kind: k}
		}
		if d.Key, k = refData(name, m["key"]); k != 0 {
			return refResult{kind: k}
		}
		if d.Value, k = refData(name, m["value"]); k != 0 {
			return refResult{kind: k}
		}
		if d.Headers, k = refHeaders(m["headers"]); k != 0 {
			return refResult{kind: k}
		}
		if d.Timestamp, k = refTimestamp(m["timestamp"], true); k != 0 {
			return refResult{kind: k}
		}
		if m["key"] != nil {
			d.KeyFormat = name
		}
		if m["value"] != nil {
			d.ValueFormat = name
		}
		out = append(out, d)
	}
	return refResult{recs: out}
}

// refV3Data is one v3 key or value.
func refV3Data(raw json.RawMessage) ([]byte, Name, Kind) {
	if raw == nil || string(raw) == "null" {
		return nil, "", 0
	}
	m, ok := refFields(raw)
	if !ok {
		return nil, "", KindInvalid
	}
	var name Name
	if t := m["type"]; !refNull(t) {
		var s string
		if t[0] != '"' || json.Unmarshal(t, &s) != nil {
			return nil, "", KindFormat
		}
		if name, ok = ParseName(s); !ok {
			return nil, "", KindFormat
		}
	}
	for _, f := range []string{"subject", "subject_name_strategy", "schema"} {
		if v := m[f]; !refNull(v) && v[0] != '"' {
			return nil, "", KindInvalid
		}
	}
	named := false
	for _, f := range []string{"schema_id", "schema_version"} {
		if v := m[f]; !refNull(v) {
			var n int32
			if json.Unmarshal(v, &n) != nil || bytes.ContainsAny(v, ".eE") {
				return nil, "", KindInvalid
			}
			named = true
		}
	}
	for _, f := range []string{"subject", "subject_name_strategy", "schema"} {
		named = named || !refNull(m[f])
	}
	switch name {
	case Binary, JSON, String:
		if named {
			return nil, "", KindInvalid
		}
	default:
		return nil, "", KindNeedsRegistry
	}
	b, k := refData(name, m["data"])
	return b, name, k
}

// refV3 is DecodeV3 without a registry.
func refV3(raw []byte) refResult {
	if !refSyntaxOK(raw) {
		return refResult{kind: KindSyntax}
	}
	m, ok := refFields(bytes.TrimSpace(raw))
	if !ok {
		return refResult{kind: KindSyntax} // a stream's records are objects
	}
	var d Record
	var k Kind
	if d.Partition, k = refPartition(m["partition_id"]); k != 0 {
		return refResult{kind: k}
	}
	if d.Key, d.KeyFormat, k = refV3Data(m["key"]); k != 0 {
		return refResult{kind: k}
	}
	if d.Value, d.ValueFormat, k = refV3Data(m["value"]); k != 0 {
		return refResult{kind: k}
	}
	if d.Headers, k = refHeaders(m["headers"]); k != 0 {
		return refResult{kind: k}
	}
	if d.Timestamp, k = refTimestamp(m["timestamp"], false); k != 0 {
		return refResult{kind: k}
	}
	return refResult{recs: []Record{d}}
}

// render prints records for comparison: nil and empty differ.
func render(recs []Record) string {
	var b strings.Builder
	q := func(p []byte) string {
		if p == nil {
			return "nil"
		}
		return strconv.Quote(string(p))
	}
	for _, r := range recs {
		b.WriteString("p=" + strconv.Itoa(int(r.Partition)) + " k=" + q(r.Key) + "(" + string(r.KeyFormat) + ") v=" + q(r.Value) + "(" + string(r.ValueFormat) + ")")
		for _, h := range r.Headers {
			b.WriteString(" h[" + strconv.Quote(h.Key) + "]=" + q(h.Value))
		}
		if !r.Timestamp.IsZero() {
			b.WriteString(" t=" + r.Timestamp.UTC().Format(time.RFC3339Nano))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// class folds truncation into syntax: a whole body cannot tell them apart.
func class(k Kind) Kind {
	if k == KindTruncated {
		return KindSyntax
	}
	return k
}

func jsonMarshalNoHTML(s string) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n"), err
}
