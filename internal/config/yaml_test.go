package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A file's unknown keys and wrong types are reported all at once, each as
// file:line: key.path: problem, the way Validate reports its problems.
func TestLoadNamesKeyPathAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	doc := `listen: 127.0.0.1:1
http:
  max_body_byte: 5
  max_body_bytes: lots
kafka:
  linger: soon
  tls: {enabled: maybe}
brokers: [a:1, [b]]
handle:
  concurrency: [1]
  vault: 7
  colors: {k: 2.5}
nope: 1
auth:
  limits: {bytes_per_second: fast}
  jwt: {ttl: 1h, ttl: 2h}
  failure_burst: lots
kafka:
  client_id: twice
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("Load = %v, want Problems", err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, strings.TrimPrefix(p.String(), filepath.Dir(path)+"/"))
	}
	want := []string{
		`config.yaml:3: http.max_body_byte: unknown key`,
		`config.yaml:4: http.max_body_bytes: "lots" is not a size (a whole number of bytes, with K, M, G, T, Ki, Mi, Gi or Ti allowed)`,
		`config.yaml:6: kafka.linger: invalid duration "soon" (want e.g. 30s, 5m, or milliseconds)`,
		`config.yaml:7: kafka.tls.enabled: "maybe" is not a boolean (true or false)`,
		`config.yaml:8: brokers[1]: must be a single value, got a list`,
		`config.yaml:10: handle.concurrency: must be a single value, got a list`,
		`config.yaml:11: handle.vault: must be a mapping of keys to values, got "7"`,
		`config.yaml:12: handle.colors.k: "2.5" is not an integer`,
		`config.yaml:13: nope: unknown key`,
		`config.yaml:15: auth.limits.bytes_per_second: "fast" is not a rate (a non-negative number of bytes per second, with K, M, G, T, Ki, Mi, Gi or Ti allowed)`,
		`config.yaml:16: auth.jwt.ttl: is given twice (first on line 16)`,
		`config.yaml:17: auth.failure_burst: "lots" is not an integer`,
		`config.yaml:18: kafka: is given twice (first on line 5)`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
}

func TestLoadSyntaxError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, []byte("listen: x\nhttp: [\n"), 0o600)
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "config.yaml:2: invalid YAML: ") {
		t.Errorf("Load = %v, want a syntax error at line 2", err)
	}
}

// A secret's value never appears in a message, even when it is of the
// wrong shape.
func TestDecodeNeverQuotesSecrets(t *testing.T) {
	c := Default()
	err := Decode("k.yaml", []byte("kafka:\n  sasl:\n    password: [hunter2-secret]\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "k.yaml:3: kafka.sasl.password: must be a single value, got a list") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Decode = %v", err)
	}
}

// Sizes and rates take the units the docs use, in the file and the
// environment.
func TestSizesAndRates(t *testing.T) {
	c := Default()
	if err := Decode("k.yaml", []byte("http: {max_body_bytes: 16Mi}\nauth:\n  limits: {bytes_per_second: 1Mi, byte_burst: 2M, daily_bytes: 10Gi}\nconsumers: {max_bytes: 1048576}\n"), &c); err != nil {
		t.Fatal(err)
	}
	l := c.Auth.Limits
	if c.HTTP.MaxBodyBytes != 16<<20 || l.BytesPerSecond != 1<<20 || l.ByteBurst != 2e6 || l.DailyBytes != 10<<30 || c.Consumers.MaxBytes != 1<<20 {
		t.Errorf("decoded %d %v %d %d %d", c.HTTP.MaxBodyBytes, l.BytesPerSecond, l.ByteBurst, l.DailyBytes, c.Consumers.MaxBytes)
	}
	env := map[string]string{"KGATE_LIMITS_BYTES_PER_SECOND": "1.5", "KGATE_HANDLE_VAULT_MAX_BYTES": "2Gi"}
	if err := ApplyEnv(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Auth.Limits.BytesPerSecond != 1.5 || c.Handle.Vault.MaxBytes != 2<<30 {
		t.Errorf("from the environment: %v %d", c.Auth.Limits.BytesPerSecond, c.Handle.Vault.MaxBytes)
	}
	for _, bad := range []string{"-1", "1.5Mi", "Mi", "1Xi", "99999999999Ti"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
}

// What decodes well lands over the defaults; what is missing keeps them.
func TestDecodeKeepsDefaults(t *testing.T) {
	c := Default()
	if err := Decode("k.yaml", []byte("http: {max_body_bytes: 100}\nauto_create_topics: true\nbrokers: [a:1, b:2]\nhandle: {topics: [x]}\n"), &c); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.HTTP.MaxBodyBytes = 100
	yes := true
	want.AutoCreateTopics = &yes
	want.Brokers = []string{"a:1", "b:2"}
	want.Handle.Topics = []string{"x"}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
