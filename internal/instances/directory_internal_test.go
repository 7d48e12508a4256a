package instances

import "testing"

// TestTableKey: every group and instance name survives the definitions
// topic's key, slashes and escapes included, and no two pairs share one.
func TestTableKey(t *testing.T) {
	keys := []key{{"g", "i"}, {"g/x", "i"}, {"g", "x/i"}, {"g%2Fx", "i"}, {"", "i"}, {"grüße", "名前"}, {"a b", "c?d#e"}}
	seen := map[string]key{}
	for _, k := range keys {
		s := tableKey(k)
		if other, dup := seen[s]; dup {
			t.Errorf("%+v and %+v share the key %q", k, other, s)
		}
		seen[s] = k
		got, ok := parseKey(s)
		if !ok || got != k {
			t.Errorf("parseKey(tableKey(%+v)) = %+v, %v", k, got, ok)
		}
	}
	for _, bad := range []string{"", "noslash", "%zz/i"} {
		if _, ok := parseKey(bad); ok {
			t.Errorf("parseKey(%q) accepted", bad)
		}
	}
}
