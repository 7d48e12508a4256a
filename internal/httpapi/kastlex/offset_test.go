package kastlex

import (
	"strconv"
	"testing"
)

func TestParseOffset(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want offsetSpec
		bad  bool
	}{
		{"", offsetSpec{kind: offsetLast}, false},
		{"last", offsetSpec{kind: offsetLast}, false},
		{"LAST", offsetSpec{kind: offsetLast}, false},
		{"latest", offsetSpec{kind: offsetLatest}, false},
		{"earliest", offsetSpec{kind: offsetEarliest}, false},
		{"0", offsetSpec{kind: offsetExact, n: 0}, false},
		{"42", offsetSpec{kind: offsetExact, n: 42}, false},
		{"-0", offsetSpec{kind: offsetExact, n: 0}, false},
		{"-1", offsetSpec{kind: offsetRelative, n: -1}, false},
		{"-100", offsetSpec{kind: offsetRelative, n: -100}, false},
		{"9223372036854775807", offsetSpec{kind: offsetExact, n: 9223372036854775807}, false},
		{"9223372036854775808", offsetSpec{}, true},
		{"12abc", offsetSpec{}, true},
		{"-", offsetSpec{}, true},
		{"+1", offsetSpec{}, true},
		{"1.5", offsetSpec{}, true},
		{" 1", offsetSpec{}, true},
		{"first", offsetSpec{}, true},
		{"--1", offsetSpec{}, true},
	} {
		got, err := parseOffset(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseOffset(%q) = %+v, %v; want %+v, bad %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestResolveOffset(t *testing.T) {
	for _, tc := range []struct {
		spec             offsetSpec
		earliest, latest int64
		want             int64
	}{
		{offsetSpec{kind: offsetLast}, 0, 10, 9},
		{offsetSpec{kind: offsetLast}, 5, 5, 5}, // empty: wait at the end
		{offsetSpec{kind: offsetLatest}, 0, 10, 10},
		{offsetSpec{kind: offsetEarliest}, 3, 10, 3},
		{offsetSpec{kind: offsetRelative, n: -1}, 0, 10, 9},
		{offsetSpec{kind: offsetRelative, n: -3}, 0, 10, 7},
		{offsetSpec{kind: offsetRelative, n: -100}, 4, 10, 4}, // clamped to earliest
		{offsetSpec{kind: offsetExact, n: 7}, 0, 10, 7},
	} {
		if got := tc.spec.resolve(tc.earliest, tc.latest); got != tc.want {
			t.Errorf("%+v.resolve(%d, %d) = %d, want %d", tc.spec, tc.earliest, tc.latest, got, tc.want)
		}
	}
}

func TestParseAt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind offsetKind
		ts   int64
		bad  bool
	}{
		{"", offsetLatest, 0, false}, {"latest", offsetLatest, 0, false}, {"earliest", offsetEarliest, 0, false},
		{"last", offsetLast, 0, false}, {"1704164645678", offsetExact, 1704164645678, false},
		{"-1", 0, 0, true}, {"soon", 0, 0, true}, {"99999999999999999999", 0, 0, true},
	} {
		spec, ts, err := parseAt(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (spec.kind != tc.kind || ts != tc.ts)) {
			t.Errorf("parseAt(%q) = %+v, %d, %v", tc.in, spec, ts, err)
		}
	}
}

// FuzzParseOffset: the offset parser never panics, accepts exactly the
// documented forms, and numbers round-trip.
func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"", "last", "latest", "earliest", "0", "-1", "42", "-100", "12abc", "-", "+1",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "Latest", "\x00", "１"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseOffset(s)
		if err != nil {
			return
		}
		switch spec.kind {
		case offsetExact:
			if spec.n < 0 {
				t.Fatalf("%q: negative exact offset %d", s, spec.n)
			}
			if n, err := strconv.ParseInt(s, 10, 64); err != nil || n != spec.n {
				t.Fatalf("%q parsed as %d", s, spec.n)
			}
		case offsetRelative:
			if spec.n >= 0 || strconv.FormatInt(spec.n, 10) != s {
				t.Fatalf("%q parsed as relative %d", s, spec.n)
			}
		}
		// Resolving never goes below earliest for the symbolic forms.
		if at := spec.resolve(5, 9); spec.kind != offsetExact && (at < 5 || at > 9) {
			t.Fatalf("%q resolved to %d outside [5, 9]", s, at)
		}
	})
}
