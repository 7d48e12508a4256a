package kastlex

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestParseHeaders(t *testing.T) {
	hs, err := parseHeaders([]string{`{"b":"2","a":null,"n":1.5,"o":{"x":[1, 2]},"b":"again","s":"é\n"}`})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		k string
		v []byte
	}{{"b", []byte("2")}, {"a", nil}, {"n", []byte("1.5")}, {"o", []byte(`{"x":[1,2]}`)}, {"b", []byte("again")}, {"s", []byte("é\n")}}
	if len(hs) != len(want) {
		t.Fatalf("headers %+v", hs)
	}
	for i, w := range want {
		if hs[i].Key != w.k || !bytes.Equal(hs[i].Value, w.v) || (hs[i].Value == nil) != (w.v == nil) {
			t.Errorf("header %d: %q=%q, want %q=%q", i, hs[i].Key, hs[i].Value, w.k, w.v)
		}
	}
	// The array form of v2 and v3 is the same codec's, so it works here too.
	if hs, err := parseHeaders([]string{`[{"name":"h","value":"aGk="}]`}); err != nil || len(hs) != 1 || string(hs[0].Value) != "hi" {
		t.Errorf("array form: %+v %v", hs, err)
	}
	for _, bad := range [][]string{{`[1]`}, {`"x"`}, {`{"a":}`}, {`{"a":"b"`}, {`{"a":"b"} x`}, {`{}`, `{}`}, {``}} {
		if _, err := parseHeaders(bad); err == nil {
			t.Errorf("parseHeaders(%q) accepted", bad)
		}
	}
	if hs, err := parseHeaders(nil); err != nil || hs != nil {
		t.Errorf("no header: %v %v", hs, err)
	}
}

// FuzzParseHeaders: the x-message-headers parser never panics, accepts
// only JSON objects (and the array form), and keeps every member of an
// object.
func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{`{"a":"1"}`, `{"a":null,"b":2,"c":[true]}`, `{}`, `{"a":"\u00e9"}`, `[1]`, `{"a":`, `{"a":1}{}`, "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hs, err := parseHeaders([]string{s})
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(s), &m) != nil {
			var list []json.RawMessage
			if json.Unmarshal([]byte(s), &list) != nil {
				t.Fatalf("accepted %q, which is not a JSON object or array", s)
			}
			return
		}
		for _, h := range hs {
			if _, ok := m[h.Key]; !ok {
				t.Fatalf("%q: header %q not in the object", s, h.Key)
			}
		}
	})
}
