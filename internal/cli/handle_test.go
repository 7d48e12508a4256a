package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandleConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "kgate.yaml")
	yaml := "handle:\n  concurrency: 2\n  group: yaml-group\n  output_topic: yaml-out\n  topics: [yaml-topic]\n  vault:\n    access_key: yaml-secret\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(t *testing.T, conc int, group, out string, topics []string, ak string)
		wantErr string
	}{
		{
			name: "file only",
			check: func(t *testing.T, conc int, group, out string, topics []string, ak string) {
				if conc != 2 || group != "yaml-group" || out != "yaml-out" || strings.Join(topics, ",") != "yaml-topic" || ak != "yaml-secret" {
					t.Errorf("got %d %s %s %v %s", conc, group, out, topics, ak)
				}
			},
		},
		{
			name: "env over file, flags over env",
			env:  map[string]string{"KGATE_HANDLE_CONCURRENCY": "3", "KGATE_HANDLE_GROUP": "env-group", "KGATE_HANDLE_VAULT_ACCESS_KEY": "env-secret"},
			args: []string{"--concurrency", "5", "--topic", "a", "--topic", "b,c"},
			check: func(t *testing.T, conc int, group, out string, topics []string, ak string) {
				if conc != 5 || group != "env-group" || out != "yaml-out" || strings.Join(topics, ",") != "a,b,c" || ak != "env-secret" {
					t.Errorf("got %d %s %s %v %s", conc, group, out, topics, ak)
				}
			},
		},
		{name: "sasl needs a mechanism", args: []string{"--security-protocol", "SASL_PLAINTEXT"}, wantErr: "needs --sasl-mechanism"},
		{name: "unknown protocol", args: []string{"--security-protocol", "SSH"}, wantErr: "must be PLAINTEXT"},
		{name: "bad value", args: []string{"--concurrency", "0"}, wantErr: "handle.concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			cf, adjust := handleConfigFlags(fs)
			if err := fs.Parse(append([]string{"--config", file}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			env := Env{Stderr: &stderr, Getenv: func(k string) string { return tt.env[k] }}
			cfg, code := cf.loadValid(env, adjust)
			if tt.wantErr != "" {
				if code == exitOK || !strings.Contains(stderr.String(), tt.wantErr) {
					t.Fatalf("code %d, stderr %q, want %q", code, stderr.String(), tt.wantErr)
				}
				return
			}
			if code != exitOK {
				t.Fatalf("code %d: %s", code, stderr.String())
			}
			h := cfg.Handle
			tt.check(t, h.Concurrency, h.Group, h.OutputTopic, h.Topics, h.Vault.AccessKey.Reveal())
		})
	}
}

func TestSASLPlainFromSeed(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cf, adjust := handleConfigFlags(fs)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("xxx\n"), 0o600)
	if err := fs.Parse([]string{"--brokers", "broker1.kerberos.io:9094,broker2.kerberos.io:9094", "--security-protocol", "SASL_PLAINTEXT",
		"--sasl-mechanism", "PLAIN", "--sasl-username", "aaa", "--sasl-password-file", pw}); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cfg, code := cf.loadValid(Env{Stderr: &stderr, Getenv: func(string) string { return "" }}, adjust)
	if code != exitOK {
		t.Fatalf("code %d: %s", code, stderr.String())
	}
	if cfg.Kafka.TLS.Enabled || cfg.Kafka.SASL.Mechanism != "PLAIN" || cfg.Kafka.SASL.Username != "aaa" || len(cfg.Brokers) != 2 {
		t.Errorf("kafka %+v brokers %v", cfg.Kafka, cfg.Brokers)
	}
}

// Secrets have no flags: they would show in ps and shell history.
func TestNoSecretFlags(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	handleConfigFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		n := f.Name
		if (strings.Contains(n, "secret") || strings.Contains(n, "password") || strings.Contains(n, "key")) && !strings.HasSuffix(n, "-file") {
			t.Errorf("flag --%s takes a secret on the command line", n)
		}
	})
}

func TestHandleUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"handle"}, "usage: kgate handle HANDLER"},
		{[]string{"handle", "nope", "--topic", "t"}, "unknown handler"},
		{[]string{"handle", "webhook", "--topic", "t", "--", "extra"}, "only exec takes a command"},
		{[]string{"handle", "exec", "--topic", "t"}, "handle.exec.command"},
		{[]string{"handle", "exec", "--topic", "t", "--data-dir", "/nonexistent-kgate-dir", "--", "cat"}, "no embedded broker is running"},
		{[]string{"dlq"}, "usage: kgate dlq replay"},
		{[]string{"dlq", "replay", "--data-dir", "/nonexistent-kgate-dir"}, "--dlq-topic is required"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		env := Env{Stdout: &stderr, Stderr: &stderr, Getenv: func(string) string { return "" }}
		code := Run(t.Context(), tt.args, env)
		if code == exitOK || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: code %d, output %q, want %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}
