package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kgate.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if c.Listen != "127.0.0.1:8082" || c.BrokerListen != "127.0.0.1:9092" || c.DataDir != "./kgate-data" {
		t.Fatalf("defaults changed: %+v", c)
	}
	if !c.Embedded() || !c.AutoCreate() {
		t.Fatal("the default must run the embedded broker with auto-create")
	}
	c.Brokers = []string{"k:9092"}
	if c.AutoCreate() {
		t.Fatal("auto-create must default off with external brokers")
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	p := writeFile(t, `
listen: 127.0.0.1:9000
brokers: [a:9092, b:9092]
http:
  read_timeout: 5s
kafka:
  linger: 250
  sasl: {mechanism: scram_sha_512, username: u, password: filepw}
consumers:
  instance_timeout: 10m
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"KGATE_LISTEN":              "127.0.0.1:9100",
		"KGATE_KAFKA_SASL_PASSWORD": "envpw",
		"KGATE_AUTO_CREATE_TOPICS":  "true",
	}
	if err := ApplyEnv(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9100" {
		t.Errorf("env did not override file: listen %s", c.Listen)
	}
	if len(c.Brokers) != 2 || c.Brokers[1] != "b:9092" {
		t.Errorf("brokers %v", c.Brokers)
	}
	if c.HTTP.ReadTimeout.D() != 5*time.Second || c.Kafka.Linger.D() != 250*time.Millisecond || c.Consumers.InstanceTimeout.D() != 10*time.Minute {
		t.Errorf("durations: %v %v %v", c.HTTP.ReadTimeout, c.Kafka.Linger, c.Consumers.InstanceTimeout)
	}
	if c.HTTP.WriteTimeout != Default().HTTP.WriteTimeout {
		t.Errorf("a key absent from the file lost its default")
	}
	if c.Kafka.SASL.Password.Reveal() != "envpw" || c.AutoCreateTopics == nil || !*c.AutoCreateTopics {
		t.Errorf("env overlay: %+v", c.Kafka.SASL)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	p := writeFile(t, "listen: 127.0.0.1:1\nlisten_adress: x\n")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "listen_adress") {
		t.Fatalf("unknown key not reported: %v", err)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := Default()
	c.Listen = "nohost"
	c.Brokers = []string{"ok:9092", "bad"}
	c.Log.Level = "loud"
	c.HTTP.MaxBodyBytes = 0
	c.Kafka.Compression = "rar"
	c.Kafka.SASL = SASL{Mechanism: "KERBEROS"}
	c.Consumers.FetchMinBytes = -5
	c.DefaultPartitions = 0
	err := c.Validate()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{"listen", "brokers[1]", "log.level", "http.max_body_bytes", "kafka.compression",
		"kafka.sasl.mechanism", "kafka.sasl.username", "kafka.sasl.password", "consumers.fetch_min_bytes", "default_partitions"}
	got := map[string]bool{}
	for _, p := range ps {
		got[p.Key] = true
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("problem with %s not reported; got %v", k, ps)
		}
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	c := Default()
	env := map[string]string{"KGATE_HTTP_READ_TIMEOUT": "soon", "KGATE_DEFAULT_PARTITIONS": "many"}
	err := ApplyEnv(&c, func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "KGATE_HTTP_READ_TIMEOUT") || !strings.Contains(err.Error(), "KGATE_DEFAULT_PARTITIONS") {
		t.Fatalf("env errors: %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c := Default()
	c.Kafka.SASL.Password = "hunter2"
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "password", c.Kafka.SASL.Password, "sasl", c.Kafka.SASL)
	out, err := Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(c.Kafka.SASL.Password), fmt.Sprintf("%v %+v %#v", c.Kafka.SASL, c.Kafka.SASL, c.Kafka.SASL), buf.String(), string(out)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if !strings.Contains(string(out), "[redacted]") {
		t.Fatalf("config print does not show the secret as masked:\n%s", out)
	}
}

func TestEnvNamesDocumented(t *testing.T) {
	names := EnvNames(&Config{})
	seen := map[string]bool{}
	for _, n := range names {
		if !strings.HasPrefix(n, "KGATE_") || seen[n] {
			t.Errorf("env name %q is not unique or lacks the prefix", n)
		}
		seen[n] = true
	}
	for _, n := range []string{"KGATE_LISTEN", "KGATE_BROKERS", "KGATE_DATA_DIR", "KGATE_BROKER_LISTEN"} {
		if !seen[n] {
			t.Errorf("%s missing", n)
		}
	}
}

// TestBrokerTLSValidated: broker.tls needs both files, readable, and
// the embedded broker.
func TestBrokerTLSValidated(t *testing.T) {
	file := writeFile(t, "x")
	for _, tc := range []struct {
		name    string
		brokers []string
		tls     BrokerTLS
		want    string
	}{
		{"cert only", nil, BrokerTLS{CertFile: file}, "cert_file and key_file must be set together"},
		{"unreadable", nil, BrokerTLS{CertFile: file, KeyFile: file + ".missing"}, "broker.tls.key_file"},
		{"external brokers", []string{"kafka:9092"}, BrokerTLS{CertFile: file, KeyFile: file}, "kafka.tls"},
		{"fine", nil, BrokerTLS{CertFile: file, KeyFile: file}, ""},
	} {
		c := Default()
		c.Brokers = tc.brokers
		c.Broker.TLS = tc.tls
		err := c.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

// TestOIDCValidated: an issuer needs an https (or loopback http) URL
// other than kgate's own, audiences, and asymmetric algorithms.
func TestOIDCValidated(t *testing.T) {
	perms := writeFile(t, "x")
	good := OIDCIssuer{Issuer: "https://idp.example/realms/corp", Audiences: []string{"kgate"}}
	for _, tc := range []struct {
		name string
		edit func(*OIDCIssuer)
		want string
	}{
		{"fine", func(*OIDCIssuer) {}, ""},
		{"loopback http", func(o *OIDCIssuer) { o.Issuer = "http://127.0.0.1:5556/dex" }, ""},
		{"remote http", func(o *OIDCIssuer) { o.Issuer = "http://idp.example" }, "auth.oidc[0].issuer"},
		{"no audience", func(o *OIDCIssuer) { o.Audiences = nil }, "auth.oidc[0].audiences"},
		{"hmac", func(o *OIDCIssuer) { o.Algorithms = []string{"HS256"} }, "never HMAC"},
		{"none", func(o *OIDCIssuer) { o.Algorithms = []string{"none"} }, "auth.oidc[0].algorithms"},
		{"kgate's issuer", func(o *OIDCIssuer) { o.Issuer = "kgate" }, "must differ from auth.jwt.issuer"},
		{"jwks over http", func(o *OIDCIssuer) { o.JWKSURL = "http://keys.example/jwks" }, "auth.oidc[0].jwks_url"},
		{"skew", func(o *OIDCIssuer) { o.ClockSkew = Duration(time.Hour) }, "auth.oidc[0].clock_skew"},
	} {
		c := Default()
		c.Auth.Permissions = perms
		o := good
		tc.edit(&o)
		c.Auth.OIDC = []OIDCIssuer{o}
		err := c.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

// TestSchemaRegistryURL: an external registry's URL is checked, never
// echoed when it may hold a secret, and excludes kgate's own registry.
func TestSchemaRegistryURL(t *testing.T) {
	on := true
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		set    func(*SchemaRegistry)
		key    string // "" : valid
		secret string // must not appear in the problem
	}{
		{"plain", func(s *SchemaRegistry) { s.URL = "http://registry:8081" }, "", ""},
		{"https with a path and basic", func(s *SchemaRegistry) {
			s.URL, s.Username, s.PasswordFile = "https://reg.example.com/apis/ccompat/v7", "kgate", pwFile
		}, "", ""},
		{"bearer", func(s *SchemaRegistry) { s.URL, s.Token = "https://reg.example.com", "tok" }, "", ""},
		{"no scheme", func(s *SchemaRegistry) { s.URL = "registry:8081" }, "schema_registry.url", ""},
		{"ftp", func(s *SchemaRegistry) { s.URL = "ftp://registry" }, "schema_registry.url", ""},
		{"no host", func(s *SchemaRegistry) { s.URL = "http:///subjects" }, "schema_registry.url", ""},
		{"bad port", func(s *SchemaRegistry) { s.URL = "http://registry:99999" }, "schema_registry.url", ""},
		{"malformed with a password", func(s *SchemaRegistry) { s.URL = "http://u:hunter2@reg%zz:8081" }, "schema_registry.url", "hunter2"},
		{"credentials in the URL", func(s *SchemaRegistry) { s.URL = "https://u:hunter2@registry" }, "schema_registry.url", "hunter2"},
		{"a query", func(s *SchemaRegistry) { s.URL = "https://registry/?key=hunter2" }, "schema_registry.url", "hunter2"},
		{"url and enabled", func(s *SchemaRegistry) { s.URL, s.Enabled = "http://registry:8081", &on }, "schema_registry.enabled", ""},
		{"basic and bearer", func(s *SchemaRegistry) {
			s.URL, s.Username, s.Password, s.Token = "http://registry", "u", "p", "t"
		}, "schema_registry.token", ""},
		{"password without user", func(s *SchemaRegistry) { s.URL, s.Password = "http://registry", "p" }, "schema_registry.username", ""},
		{"user without password", func(s *SchemaRegistry) { s.URL, s.Username = "http://registry", "u" }, "schema_registry.password", ""},
		{"unreadable password file", func(s *SchemaRegistry) {
			s.URL, s.Username, s.PasswordFile = "http://registry", "u", "/nonexistent/pw"
		}, "schema_registry.password_file", ""},
		{"credentials without url", func(s *SchemaRegistry) { s.Username, s.Password = "u", "p" }, "schema_registry.username", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			c.set(&cfg.SchemaRegistry)
			err := cfg.Validate()
			if c.key == "" {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				if cfg.SchemaRegistryOn() {
					t.Fatal("kgate's own registry is on with schema_registry.url")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.key+":") {
				t.Fatalf("got %v, want a problem at %s", err, c.key)
			}
			if c.secret != "" && strings.Contains(err.Error(), c.secret) {
				t.Fatalf("the problem shows the secret: %v", err)
			}
		})
	}
}

// TestURLRedacted: a password put in a URL setting never prints.
func TestURLRedacted(t *testing.T) {
	for _, u := range []URL{"https://kgate:hunter2@registry.example.com/apis/ccompat/v7", "http://u:hunter2@reg%zz"} {
		var log bytes.Buffer
		slog.New(slog.NewTextHandler(&log, nil)).Info("x", "url", u)
		b, _ := u.MarshalJSON()
		y, _ := u.MarshalYAML()
		for _, out := range []string{u.String(), fmt.Sprint(u), log.String(), string(b), fmt.Sprint(y)} {
			if strings.Contains(out, "hunter2") {
				t.Errorf("%q shows the password", out)
			}
		}
	}
	if got := URL("https://registry.example.com:8081").String(); got != "https://registry.example.com:8081" {
		t.Errorf("a URL without a password shows as %q", got)
	}
}
