package push

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPositionRoundTrip(t *testing.T) {
	for _, p := range []Position{
		{0}, {1, 2, 3}, {0, 1 << 40, 127, 128, 1<<62 - 1}, make(Position, 1000),
	} {
		v := p.Encode("orders")
		if strings.ContainsAny(v, "+/=") {
			t.Errorf("vector %q is not base64url without padding", v)
		}
		got, err := DecodePosition(v, "orders")
		if err != nil {
			t.Fatalf("decode %v: %v", p, err)
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	if v := (Position{5, 9, 12}).Encode("t"); len(v) > 20 {
		t.Errorf("a three-partition vector is %d characters (%s), want it compact", len(v), v)
	}
}

func TestPositionRefused(t *testing.T) {
	good := Position{3, 70000}.Encode("orders")
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, c := range []struct{ name, vector, topic, want string }{
		{"empty", "", "orders", "empty"},
		{"not base64url", "a+b/c=", "orders", "base64url"},
		{"truncated", good[:6], "orders", "too short"},
		{"garbled version", flip(1), "orders", "version"},
		{"garbled topic hash", flip(3), "orders", "checksum"},
		{"garbled middle", flip(len(good) / 2), "orders", "checksum"},
		{"garbled check", flip(len(good) - 2), "orders", "checksum"},
		{"another topic", good, "payments", "another topic"},
		{"too long", strings.Repeat("A", maxVectorLen+1), "orders", "too long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodePosition(c.vector, c.topic)
			var pe *PositionError
			if !errors.As(err, &pe) || !errors.Is(err, ErrPosition) || !strings.Contains(pe.Problem, c.want) {
				t.Errorf("DecodePosition(%q) = %v, want a PositionError about %q", c.vector, err, c.want)
			}
		})
	}
}

// FuzzDecodePosition: any input either decodes to a vector that encodes
// back to itself, or is refused with a PositionError; nothing panics.
func FuzzDecodePosition(f *testing.F) {
	f.Add(Position{1, 2, 3}.Encode("t"))
	f.Add(Position{}.Encode("t"))
	f.Add("AQAAAAABAgM")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		p, err := DecodePosition(v, "t")
		if err != nil {
			var pe *PositionError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a PositionError", err)
			}
			return
		}
		if got := p.Encode("t"); got != v {
			t.Fatalf("%q decodes to %v, which encodes to %q", v, p, got)
		}
	})
}

func TestParseStart(t *testing.T) {
	if m, err := ParseOffsets("0:15, 2:7"); err != nil || !cmp.Equal(m, map[int32]int64{0: 15, 2: 7}) {
		t.Errorf("ParseOffsets: %v %v", m, err)
	}
	for _, bad := range []string{"0", "0:", ":1", "a:1", "0:-1", "-1:0", "0:1,0:2", "99999999999:0"} {
		if _, err := ParseOffsets(bad); !errors.Is(err, ErrPosition) {
			t.Errorf("ParseOffsets(%q) = %v, want a position error", bad, err)
		}
	}
	if f, err := ParseFrom(""); err != nil || f != FromLatest {
		t.Errorf("ParseFrom(\"\") = %v %v, want latest", f, err)
	}
	if f, err := ParseFrom("EARLIEST"); err != nil || f != FromEarliest {
		t.Errorf("ParseFrom(EARLIEST) = %v %v", f, err)
	}
	if _, err := ParseFrom("middle"); err == nil {
		t.Error("ParseFrom(middle) passed")
	}
	ts, err := ParseTimestamp("2026-12-07T18:00:00Z")
	if err != nil || ts.UnixMilli() != 1796666400000 {
		t.Errorf("ParseTimestamp RFC 3339: %v %v", ts, err)
	}
	if ts, err := ParseTimestamp("1796666400000"); err != nil || ts.UnixMilli() != 1796666400000 {
		t.Errorf("ParseTimestamp ms: %v %v", ts, err)
	}
	if _, err := ParseTimestamp("yesterday"); err == nil {
		t.Error("ParseTimestamp(yesterday) passed")
	}
}

// FuzzParseStart: the start and filter parameters either parse or fail
// with their own error types; nothing panics, and parsed offsets are
// valid.
func FuzzParseStart(f *testing.F) {
	for _, s := range []string{"0:15,2:7", "", "a:b", "0:1,0:2", "2026-12-07T18:00:00Z", "1796666400000", "h:v", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseOffsets(s); err == nil {
			for p, o := range m {
				if p < 0 || o < 0 {
					t.Fatalf("ParseOffsets(%q) gave %d:%d", s, p, o)
				}
			}
		} else if !errors.Is(err, ErrPosition) {
			t.Fatalf("ParseOffsets(%q): %v", s, err)
		}
		if _, err := ParseTimestamp(s); err != nil && !errors.Is(err, ErrPosition) {
			t.Fatalf("ParseTimestamp(%q): %v", s, err)
		}
		if _, err := ParseFrom(s); err != nil && !errors.Is(err, ErrPosition) {
			t.Fatalf("ParseFrom(%q): %v", s, err)
		}
		if h, err := ParseHeaderMatch(s); err == nil && h.Name == "" {
			t.Fatalf("ParseHeaderMatch(%q) gave an empty name", s)
		}
	})
}
