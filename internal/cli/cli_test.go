package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testEnv(env map[string]string) (Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}, &out, &errb
}

func TestConfigValidateExitCodes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: nohost\nbrokers: [x]\nlog: {level: loud}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want []string
	}{
		{"defaults", []string{"config", "validate"}, nil, 0, []string{"configuration is valid"}},
		{"every problem", []string{"config", "validate", "--config", bad}, nil, 2, []string{"listen:", "brokers[0]:", "log.level:"}},
		{"env file", []string{"config", "validate"}, map[string]string{"KGATE_CONFIG": bad}, 2, []string{"log.level:"}},
		{"flag beats env", []string{"config", "validate", "--listen", "127.0.0.1:1"}, map[string]string{"KGATE_LISTEN": "bad"}, 0, nil},
		{"bad flag value", []string{"config", "validate", "--auto-create-topics", "perhaps"}, nil, 2, []string{"--auto-create-topics"}},
		{"unknown flag", []string{"serve", "--nope"}, nil, 2, nil},
		{"unknown command", []string{"frobnicate"}, nil, 2, []string{"unknown command"}},
		{"no command", nil, nil, 2, []string{"usage"}},
		{"missing file", []string{"config", "print", "--config", "/nonexistent.yaml"}, nil, 2, []string{"reading config"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, out, errb := testEnv(c.env)
			if code := Run(context.Background(), c.args, env); code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, errb)
			}
			all := out.String() + errb.String()
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestConfigPrintPrecedenceAndMasking(t *testing.T) {
	file := filepath.Join(t.TempDir(), "k.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:7000\ndata_dir: /from-file\nkafka: {sasl: {mechanism: PLAIN, username: u, password: s3cr3t}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, out, errb := testEnv(map[string]string{"KGATE_DATA_DIR": "/from-env", "KGATE_LISTEN": "127.0.0.1:7001"})
	code := Run(context.Background(), []string{"config", "print", "--config", file, "--listen", "127.0.0.1:7002"}, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	s := out.String()
	for _, w := range []string{"listen: 127.0.0.1:7002", "data_dir: /from-env", "password: '[redacted]'"} {
		if !strings.Contains(s, w) {
			t.Errorf("config print lacks %q:\n%s", w, s)
		}
	}
	if strings.Contains(s, "s3cr3t") {
		t.Fatalf("config print shows the secret:\n%s", s)
	}
}

func TestVersion(t *testing.T) {
	env, out, _ := testEnv(nil)
	if Run(context.Background(), []string{"version"}, env) != 0 || !strings.HasPrefix(out.String(), "kgate ") {
		t.Fatalf("version: %q", out)
	}
}

// The file's problems (with line and key path), the variables', the
// flags' and the values' are listed together.
func TestConfigValidateListsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("listen: nohost\nhttp:\n  max_body_byte: 5\n  max_body_bytes: lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, _, stderr := testEnv(map[string]string{"KGATE_LOG_LEVEL": "loud", "KGATE_DEFAULT_PARTITIONS": "many"})
	if code := Run(context.Background(), []string{"config", "validate", "--config", path, "--auto-create-topics", "perhaps"}, env); code != exitConfig {
		t.Fatalf("exit %d, want %d", code, exitConfig)
	}
	for _, want := range []string{
		path + `:3: http.max_body_byte: unknown key`,
		path + `:4: http.max_body_bytes: "lots" is not a size`,
		`KGATE_DEFAULT_PARTITIONS: invalid integer "many"`,
		`--auto-create-topics: invalid boolean "perhaps"`,
		`listen: must be host:port, got "nohost"`,
		`log.level: must be debug, info, warn or error, got "loud"`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}
