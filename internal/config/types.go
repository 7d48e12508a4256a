package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as a Go duration string ("5m",
// "250ms") in YAML and the environment. A bare integer is read as
// milliseconds, the unit Kafka's own settings use.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as a Go duration string without zero tails: 2m, not
// 2m0s; 1h30m, not 1h30m0s.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseDuration parses a Go duration string or an integer count of
// milliseconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return Duration(time.Duration(ms) * time.Millisecond), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 30s, 5m, or milliseconds)", s)
	}
	return Duration(v), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("a duration must be a single value such as 30s")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Secret is a string that never prints: String, LogValue, YAML and JSON
// output show "[redacted]" (or nothing when empty). Use Reveal to read it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer without revealing the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer without revealing the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue implements slog.LogValuer without revealing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML implements yaml.Marshaler without revealing the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON implements json.Marshaler without revealing the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// URL is a URL setting. String, LogValue, YAML and JSON output hide a
// password someone put in it (Validate refuses one where it would be
// sent), as url.URL.Redacted does; text that does not parse is hidden
// whole when it could hold one.
type URL string

// String implements fmt.Stringer without revealing a password.
func (u URL) String() string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(string(u))
	if err != nil {
		if strings.Contains(string(u), "@") {
			return redacted
		}
		return string(u)
	}
	return p.Redacted()
}

// LogValue implements slog.LogValuer without revealing a password.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.String()) }

// MarshalYAML implements yaml.Marshaler without revealing a password.
func (u URL) MarshalYAML() (any, error) { return u.String(), nil }

// MarshalJSON implements json.Marshaler without revealing a password.
func (u URL) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }

// ReadSecret returns s, or the content of file (trailing newline
// trimmed) when file is set.
func ReadSecret(s Secret, file string) (Secret, error) {
	if file == "" {
		return s, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	return Secret(strings.TrimRight(string(b), "\r\n")), nil
}

// Bytes is a byte count, written as an integer with an optional decimal
// (K, M, G, T) or binary (Ki, Mi, Gi, Ti) suffix and an optional B:
// 1048576, 16Mi, 10GB.
type Bytes int64

// ParseBytes parses a Bytes value; it is never negative.
func ParseBytes(s string) (Bytes, error) {
	t := strings.TrimSpace(strings.ReplaceAll(s, "_", ""))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "b")
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"K", 1e3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSuffix(t, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size (a whole number of bytes, with K, M, G, T, Ki, Mi, Gi or Ti allowed)", s)
	}
	return Bytes(n * mult), nil
}

// String formats b with the largest binary suffix that divides it
// (16Mi, 1Gi), or as a plain number.
func (b Bytes) String() string {
	for _, u := range []struct {
		suf string
		m   Bytes
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if b != 0 && b%u.m == 0 {
			return strconv.FormatInt(int64(b/u.m), 10) + u.suf
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalYAML implements yaml.Marshaler: config print shows 16Mi.
func (b Bytes) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalText implements encoding.TextUnmarshaler (the environment and
// flags).
func (b *Bytes) UnmarshalText(t []byte) error {
	v, err := ParseBytes(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("a size must be a single value such as 16Mi")
	}
	return b.UnmarshalText([]byte(n.Value))
}

// ByteRate is a number of bytes per second: a Bytes value (1Mi) or a
// decimal number (1.5).
type ByteRate float64

// ParseByteRate parses a ByteRate; it is never negative.
func ParseByteRate(s string) (ByteRate, error) {
	if b, err := ParseBytes(s); err == nil {
		return ByteRate(b), nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.ReplaceAll(s, "_", "")), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a rate (a non-negative number of bytes per second, with K, M, G, T, Ki, Mi, Gi or Ti allowed)", s)
	}
	return ByteRate(f), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *ByteRate) UnmarshalText(t []byte) error {
	v, err := ParseByteRate(string(t))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *ByteRate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("a rate must be a single value such as 1Mi")
	}
	return r.UnmarshalText([]byte(n.Value))
}
