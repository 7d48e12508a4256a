package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestKerberosValidate(t *testing.T) {
	dir := t.TempDir()
	kt := filepath.Join(dir, "kafka.keytab")
	open := filepath.Join(dir, "open.keytab")
	for p, mode := range map[string]os.FileMode{kt: 0o600, open: 0o644} {
		if err := os.WriteFile(p, []byte{5, 2}, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	krb := func(keytab, sp string, rules ...string) func(*Config) {
		return func(c *Config) {
			c.Broker.SASL.Kerberos.Keytab, c.Broker.SASL.Kerberos.ServicePrincipal = keytab, sp
			if rules != nil {
				c.Broker.SASL.Kerberos.PrincipalToLocalRules = rules
			}
		}
	}
	for _, tt := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"off by default", func(*Config) {}, ""},
		{"keytab and principal", krb(kt, "kafka/localhost@KGATE.TEST"), ""},
		{"a one-component principal", krb(kt, "kafka@KGATE.TEST"), ""},
		{"with rules", krb(kt, "kafka/localhost@KGATE.TEST", `RULE:[1:$1@$0](.*@KGATE\.TEST)s/@.*//L`, "DEFAULT"), ""},
		{"principal without keytab", krb("", "kafka/localhost@KGATE.TEST"), "broker.sasl.kerberos.keytab: must be set"},
		{"keytab without principal", krb(kt, ""), "broker.sasl.kerberos.service_principal: must be a principal"},
		{"principal without realm", krb(kt, "kafka/localhost"), "broker.sasl.kerberos.service_principal"},
		{"principal with a space", krb(kt, "kafka/local host@R"), "broker.sasl.kerberos.service_principal"},
		{"empty component", krb(kt, "kafka//x@R"), "broker.sasl.kerberos.service_principal"},
		{"missing keytab", krb(filepath.Join(dir, "none"), "kafka/localhost@R"), "broker.sasl.kerberos.keytab: cannot be read"},
		{"world-readable keytab", krb(open, "kafka/localhost@R"), "is readable by every user (mode 0644)"},
		{"no rules", krb(kt, "kafka/localhost@R", []string{}...), "principal_to_local_rules: must hold at least one rule"},
		{"bad rule", krb(kt, "kafka/localhost@R", "DEFAULT", "strip"), "principal_to_local_rules[1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

// The environment sets the Kerberos settings; the rules are a
// comma-separated list as Kafka's list settings are.
func TestKerberosEnv(t *testing.T) {
	c := Default()
	env := map[string]string{
		"KGATE_BROKER_SASL_KERBEROS_KEYTAB":                   "/etc/kgate/kafka.keytab",
		"KGATE_BROKER_SASL_KERBEROS_SERVICE_PRINCIPAL":        "kafka/gw1@EXAMPLE.COM",
		"KGATE_BROKER_SASL_KERBEROS_PRINCIPAL_TO_LOCAL_RULES": `RULE:[1:$1@$0](.*@PARTNER\.COM)s/@.*//, DEFAULT`,
	}
	if err := ApplyEnv(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	want := Kerberos{Keytab: "/etc/kgate/kafka.keytab", ServicePrincipal: "kafka/gw1@EXAMPLE.COM",
		PrincipalToLocalRules: []string{`RULE:[1:$1@$0](.*@PARTNER\.COM)s/@.*//`, "DEFAULT"}}
	if !reflect.DeepEqual(c.Broker.SASL.Kerberos, want) {
		t.Fatalf("got %+v, want %+v", c.Broker.SASL.Kerberos, want)
	}
	if !ServeCommand.Uses("broker.sasl.kerberos.keytab") {
		t.Error("kgate serve does not read broker.sasl.kerberos")
	}
}

func TestBrokerSASLOffered(t *testing.T) {
	s := Default().Broker.SASL
	if got := s.Offered(); !slices.Equal(got, []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"}) {
		t.Errorf("without Kerberos: %v", got)
	}
	s.Kerberos.Keytab, s.Kerberos.ServicePrincipal = "/k", "kafka/h@R"
	if got := s.Offered(); !slices.Equal(got, []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"}) {
		t.Errorf("with Kerberos: %v", got)
	}
	s.Mechanisms = []string{"GSSAPI", "SCRAM-SHA-512"}
	if got := s.Offered(); !slices.Equal(got, []string{"SCRAM-SHA-512", "GSSAPI"}) {
		t.Errorf("listed first: %v", got)
	}
	c := Default()
	c.Broker.SASL.Mechanisms = []string{"GSSAPI"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "GSSAPI needs broker.sasl.kerberos") {
		t.Errorf("GSSAPI without Kerberos: %v", err)
	}
}
