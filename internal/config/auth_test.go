package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenModeOnlyOnLoopback(t *testing.T) {
	perms := filepath.Join(t.TempDir(), "permissions.yml")
	if err := os.WriteFile(perms, []byte("anonymous: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // "" means valid
	}{
		{"defaults: open mode on loopback", func(*Config) {}, ""},
		{"localhost", func(c *Config) { c.Listen = "localhost:8082" }, ""},
		{"ipv6 loopback", func(c *Config) { c.Listen = "[::1]:8082" }, ""},
		{"all interfaces", func(c *Config) { c.Listen = "0.0.0.0:8082" }, `listen: "0.0.0.0:8082" is not a loopback address and no auth.permissions file is configured`},
		{"empty host", func(c *Config) { c.Listen = ":8082" }, "is not a loopback address"},
		{"public broker", func(c *Config) { c.BrokerListen = "0.0.0.0:9092" }, "broker_listen"},
		{"public https", func(c *Config) { c.Auth.HTTPS.Listen = "0.0.0.0:8443" }, "auth.https.listen"},
		{"public schema registry", func(c *Config) { c.SchemaRegistry.Listen = "0.0.0.0:8081" }, "schema_registry.listen"},
		{"registry off: its listener does not count", func(c *Config) {
			off := false
			c.SchemaRegistry.Enabled = &off
			c.SchemaRegistry.Listen = "0.0.0.0:8081"
		}, ""},
		{"registry only under /schema-registry/", func(c *Config) { c.SchemaRegistry.Listen = "" }, ""},
		{"bad registry listen", func(c *Config) { c.Auth.Permissions = perms; c.SchemaRegistry.Listen = "nohost" }, "schema_registry.listen"},
		{"bad registry topic", func(c *Config) { c.SchemaRegistry.Topic = "a/b" }, "schema_registry.topic"},
		{"external brokers: the registry is off unless enabled", func(c *Config) {
			c.Brokers = []string{"k:9092"}
			c.SchemaRegistry.Listen = "0.0.0.0:8081"
		}, ""},
		{"a hostname is not trusted", func(c *Config) { c.Listen = "gw.example.com:8082" }, "is not a loopback address"},
		{"public with permissions", func(c *Config) { c.Listen = "0.0.0.0:8082"; c.Auth.Permissions = perms }, ""},
		{"external brokers: broker_listen does not count", func(c *Config) { c.Brokers = []string{"k:9092"}; c.BrokerListen = "0.0.0.0:1" }, ""},
		{"users need permissions", func(c *Config) { c.Auth.Users = perms }, "auth.permissions: must be set when auth.users is"},
		{"bad algorithm", func(c *Config) { c.Auth.JWT.Algorithm = "none" }, "auth.jwt.algorithm"},
		{"bad trusted proxy", func(c *Config) { c.Auth.TrustedProxies = []string{"10.0.0.0/99"} }, "auth.trusted_proxies[0]"},
		{"https without files", func(c *Config) { c.Auth.Permissions = perms; c.Auth.HTTPS.Listen = "127.0.0.1:8443" }, "cert_file and key_file must be set"},
		{"require without CA", func(c *Config) {
			c.Auth.Permissions = perms
			c.Auth.HTTPS = HTTPS{Listen: "127.0.0.1:8443", CertFile: perms, KeyFile: perms, ClientAuth: "require", PrincipalFrom: "cn", ReloadInterval: 1}
		}, "client_ca_file: must be set when client_auth is require"},
		{"bad internal topic", func(c *Config) { c.Auth.Tokens.Topic = "a/b" }, "auth.tokens.topic"},
	}
	for _, tt := range tests {
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

func TestOpenMode(t *testing.T) {
	c := Default()
	if !c.OpenMode() {
		t.Error("defaults are not open mode")
	}
	c.Auth.Permissions = "p.yml"
	if c.OpenMode() {
		t.Error("a permissions file is still open mode")
	}
}
