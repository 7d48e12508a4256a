package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/testutil"
)

// lockedBuffer is a bytes.Buffer a running command may write from several
// goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveOnlyEnv holds settings meant for `kgate serve` in the same shell or
// container, some of which serve itself would refuse: the workers must not
// look at them.
var serveOnlyEnv = map[string]string{
	"KGATE_LISTEN":              "0.0.0.0:1", // beyond loopback in open mode
	"KGATE_USERS":               "/nonexistent-kgate/users.yml",
	"KGATE_PERMISSIONS":         "/nonexistent-kgate/permissions.yml",
	"KGATE_BROKER_LISTEN":       "not-an-address",
	"KGATE_ADVERTISED_URL":      "not a url",
	"KGATE_AUTO_CREATE_TOPICS":  "perhaps",
	"KGATE_HTTPS_LISTEN":        "0.0.0.0:8443",
	"KGATE_AUTH_FAILURE_BURST":  "lots",
	"KGATE_CONSUMERS_MAX_BYTES": "lots",
	"KGATE_BROKER_CLUSTER_ID":   "",
	"KGATE_METRICS_OPEN":        "perhaps",
	"KGATE_JWT_ALGORITHM":       "none",
	"KGATE_STREAM_FPS":          "lots", // and stream's, for handle
}

// The flags of serve's settings are not flags of the workers.
func TestWorkersRejectServeFlags(t *testing.T) {
	t.Parallel()
	serveFlags := [][]string{
		{"--listen", "0.0.0.0:1"},
		{"--users", "/nonexistent.yml"},
		{"--permissions", "/nonexistent.yml"},
		{"--broker-listen", "127.0.0.1:9092"},
		{"--advertised-url", "http://x:1"},
		{"--auto-create-topics", "true"},
	}
	commands := map[string][]string{
		"handle": {"handle", "exec", "--topic", "t"},
		"dlq":    {"dlq", "replay", "--dlq-topic", "t.dlq"},
		"stream": {"stream", "--input", "testsrc", "--mkv", "/tmp/x.mkv"},
	}
	for name, cmd := range commands {
		for _, f := range serveFlags {
			t.Run(name+f[0], func(t *testing.T) {
				args := append(append(append([]string{}, cmd...), f...), "--", "cat")
				if name != "handle" {
					args = append(append([]string{}, cmd...), f...)
				}
				env, _, stderr := testEnv(nil)
				if code := Run(t.Context(), args, env); code != exitConfig {
					t.Fatalf("exit %d, want %d\n%s", code, exitConfig, stderr)
				}
				if want := "flag provided but not defined: " + strings.TrimPrefix(f[0], "-"); !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			})
		}
	}
}

// A worker starts with serve's variables set, even ones serve would
// refuse; serve (and config validate, which checks serve's settings)
// ignores the workers' variables.
func TestEnvOfOtherCommandsIgnored(t *testing.T) {
	t.Parallel()
	addr := testutil.StartBroker(t)
	// handle creates the dead-letter topic dlq replay then reads.
	t.Run("handle", func(t *testing.T) {
		stderr := runUntilLogged(t, []string{"handle", "exec", "--brokers", addr, "--topic", "scope-in", "--metrics-listen", "",
			"--progress", "off", "--log-format", "json", "--", "cat"}, serveOnlyEnv, `"msg":"handling"`)
		if strings.Contains(stderr, "listen") || strings.Contains(stderr, "users") {
			t.Errorf("handle mentions serve's settings:\n%s", stderr)
		}
	})
	t.Run("dlq replay", func(t *testing.T) {
		env, out, stderr := testEnv(serveOnlyEnv)
		if code := Run(t.Context(), []string{"dlq", "replay", "--brokers", addr, "--dlq-topic", "kgate-handle-exec.dlq", "--dry-run", "--log-level", "error"}, env); code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
	})
	t.Run("config validate", func(t *testing.T) {
		t.Parallel()
		env, out, stderr := testEnv(map[string]string{"KGATE_HANDLE_CONCURRENCY": "lots", "KGATE_HANDLE_METRICS_LISTEN": "nohost",
			"KGATE_STREAM_FPS": "lots", "KGATE_STREAM_ENCODER": "vhs"})
		if code := Run(t.Context(), []string{"config", "validate"}, env); code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
	})
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		needEncoder(t)
		vars := map[string]string{"KGATE_HANDLE_CONCURRENCY": "lots", "KGATE_KAFKA_SASL_MECHANISM": "bogus", "KGATE_BROKERS": "nohost"}
		for k, v := range serveOnlyEnv {
			if !strings.HasPrefix(k, "KGATE_STREAM_") {
				vars[k] = v
			}
		}
		env, _, stderr := testEnv(vars)
		mkv := filepath.Join(t.TempDir(), "a.mkv")
		if code := Run(t.Context(), []string{"stream", "--input", "testsrc", "--width", "64", "--height", "48", "--frames", "5", "--realtime=false", "--mkv", mkv}, env); code != exitOK {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
}

// What a command uses it validates: each command stops on its own bad
// variables.
func TestEnvOfOwnSettingsValidated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"handle", "exec", "--topic", "t", "--", "cat"}, map[string]string{"KGATE_HANDLE_CONCURRENCY": "lots"}, "KGATE_HANDLE_CONCURRENCY"},
		{[]string{"handle", "exec", "--topic", "t", "--", "cat"}, map[string]string{"KGATE_HANDLE_METRICS_LISTEN": "nohost"}, "handle.metrics_listen"},
		{[]string{"handle", "exec", "--topic", "t", "--", "cat"}, map[string]string{"KGATE_KAFKA_SASL_MECHANISM": "bogus"}, "kafka.sasl.mechanism"},
		{[]string{"handle", "exec", "--topic", "t", "--", "cat"}, map[string]string{"KGATE_BROKERS": "nohost"}, "brokers[0]"},
		{[]string{"dlq", "replay", "--dlq-topic", "t.dlq"}, map[string]string{"KGATE_LOG_LEVEL": "loud"}, "log.level"},
		{[]string{"stream", "--input", "testsrc", "--mkv", "/tmp/x.mkv"}, map[string]string{"KGATE_STREAM_FPS": "lots"}, "KGATE_STREAM_FPS"},
		{[]string{"config", "validate"}, map[string]string{"KGATE_LISTEN": "0.0.0.0:1"}, "listen:"},
		{[]string{"config", "validate"}, map[string]string{"KGATE_USERS": "/nonexistent.yml"}, "auth.users"},
	}
	for _, tt := range tests {
		env, _, stderr := testEnv(tt.env)
		if code := Run(t.Context(), tt.args, env); code != exitConfig || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v with %v: exit %d, stderr %q, want %d and %q", tt.args, tt.env, code, stderr, exitConfig, tt.want)
		}
	}
}

// runUntilLogged runs a long-running command until its log shows want,
// then stops it as SIGTERM would and expects exit 0.
func runUntilLogged(t *testing.T, args []string, vars map[string]string, want string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr lockedBuffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &stderr, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
	done := make(chan int, 1)
	go func() { done <- Run(ctx, args, env) }()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(stderr.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("%v exited %d before logging %s:\n%s", args, code, want, stderr.String())
		case <-deadline:
			t.Fatalf("%v did not log %s within 30s:\n%s", args, want, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("%v exited %d after the stop:\n%s", args, code, stderr.String())
	}
	return stderr.String()
}

// config validate and print check and show serve's configuration, or that
// of the command named after them, with that command's flags and
// variables.
func TestConfigOfACommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"serve by default", []string{"config", "validate"}, map[string]string{"KGATE_LISTEN": "0.0.0.0:1"}, exitConfig, "listen:"},
		{"handle ignores serve's", []string{"config", "validate", "handle"}, serveOnlyEnv, exitOK, "configuration is valid (kgate handle)"},
		{"handle's variables", []string{"config", "validate", "handle"}, map[string]string{"KGATE_HANDLE_CONCURRENCY": "0"}, exitConfig, "handle.concurrency: must be at least 1"},
		{"handle's flags", []string{"config", "print", "handle", "--concurrency", "7", "--topic", "a,b"}, nil, exitOK, "concurrency: 7"},
		{"no serve flags for handle", []string{"config", "validate", "handle", "--listen", "127.0.0.1:1"}, nil, exitConfig, "flag provided but not defined: -listen"},
		{"dlq", []string{"config", "validate", "dlq", "--dlq-topic", "bad topic"}, serveOnlyEnv, exitConfig, "handle.dlq_topic"},
		{"dlq ignores the rest of handle", []string{"config", "validate", "dlq"}, map[string]string{"KGATE_HANDLE_CONCURRENCY": "0"}, exitOK, "configuration is valid (kgate dlq replay)"},
		{"stream", []string{"config", "validate", "stream", "--fps", "500"}, map[string]string{"KGATE_LISTEN": "0.0.0.0:1"}, exitConfig, "stream.fps"},
		{"stray argument", []string{"config", "validate", "stream", "extra"}, nil, exitConfig, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, out, stderr := testEnv(tt.env)
			code := Run(t.Context(), tt.args, env)
			if all := out.String() + stderr.String(); code != tt.code || !strings.Contains(all, tt.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tt.code, tt.want, all)
			}
		})
	}
}

// One file for every command: a worker validates its own sections of it,
// not serve's (and serve not the workers').
func TestSharedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kgate.yaml")
	doc := "listen: 0.0.0.0:1\nauth: {users: /nonexistent/users.yml}\nhandle: {concurrency: 0}\nstream: {fps: 500}\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cmd  string
		want []string
		not  []string
	}{
		{"serve", []string{"auth.users: cannot be read"}, []string{"handle.", "stream."}},
		{"handle", []string{"handle.concurrency:"}, []string{"listen", "auth.", "stream."}},
		{"dlq", nil, nil},
		{"stream", []string{"stream.fps:"}, []string{"listen", "auth.", "handle."}},
	} {
		env, _, stderr := testEnv(map[string]string{"KGATE_CONFIG": path})
		code := Run(t.Context(), []string{"config", "validate", tt.cmd}, env)
		if (code == exitOK) != (len(tt.want) == 0) {
			t.Errorf("config validate %s: exit %d\n%s", tt.cmd, code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("config validate %s: stderr lacks %q:\n%s", tt.cmd, w, stderr)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(stderr.String(), n) {
				t.Errorf("config validate %s: stderr mentions %q:\n%s", tt.cmd, n, stderr)
			}
		}
	}
}
