package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHandleDefaultsValid(t *testing.T) {
	t.Parallel()
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestHandleValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Handle)
		keys   []string
	}{
		{"bad topic", func(h *Handle) { h.Topics = []string{"ok", "not ok"} }, []string{"handle.topics[1]"}},
		{"bad output", func(h *Handle) { h.OutputTopic = "a/b" }, []string{"handle.output_topic"}},
		{"numbers", func(h *Handle) { h.Concurrency, h.MaxAttempts, h.MaxQueued = 0, 0, 0 },
			[]string{"handle.concurrency", "handle.max_attempts", "handle.max_queued"}},
		{"backoff", func(h *Handle) { h.BackoffInitial, h.BackoffMax = Duration(time.Second), Duration(time.Millisecond) },
			[]string{"handle.backoff_max"}},
		{"grace", func(h *Handle) { h.RevokeGrace = h.RebalanceTimeout }, []string{"handle.revoke_grace"}},
		{"enums", func(h *Handle) { h.Progress, h.Vault.Source = "sometimes", "ftp" }, []string{"handle.progress", "handle.vault.source"}},
		{"colors", func(h *Handle) { h.Colors.K, h.Colors.At, h.Colors.SampleSize = 65, -1, 5 },
			[]string{"handle.colors.k", "handle.colors.at", "handle.colors.sample_size"}},
		{"files", func(h *Handle) { h.Vault.AccessKeyFile, h.Webhook.SecretFile = "/no/such/file", "/no/such/file" },
			[]string{"handle.vault.access_key_file", "handle.webhook.secret_file"}},
		{"metrics listen", func(h *Handle) { h.MetricsListen = "8083" }, []string{"handle.metrics_listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.mutate(&cfg.Handle)
			err := cfg.Validate()
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v", err)
			}
			got := map[string]bool{}
			for _, p := range ps {
				got[p.Key] = true
			}
			for _, k := range tt.keys {
				if !got[k] {
					t.Errorf("no problem for %s in %v", k, ps)
				}
			}
			if len(ps) != len(tt.keys) {
				t.Errorf("problems %v, want only %v", ps, tt.keys)
			}
		})
	}
}

func TestCheckHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		handler string
		mutate  func(*Handle)
		keys    []string
	}{
		{"vault-colors", nil, []string{"handle.vault.url", "handle.vault.access_key", "handle.vault.secret_access_key"}},
		{"vault-colors", func(h *Handle) { h.Vault.URL, h.Vault.AccessKey, h.Vault.SecretAccessKeyFile = "http://v", "a", "/f" }, nil},
		{"vault-colors", func(h *Handle) { h.Vault.Source = "s3" }, []string{"handle.vault.s3.bucket"}},
		{"vault-colors", func(h *Handle) { h.Vault.Source = "dir" }, []string{"handle.vault.dir"}},
		{"exec", nil, []string{"handle.exec.command"}},
		{"exec", func(h *Handle) { h.Exec.Command = []string{"cat"} }, nil},
		{"webhook", nil, []string{"handle.webhook.url", "handle.webhook.secret"}},
		{"webhook", func(h *Handle) { h.Webhook.URL, h.Webhook.Secret = "http://x", "s" }, nil},
		{"nope", nil, []string{"handler"}},
	}
	for _, tt := range tests {
		h := DefaultHandle()
		h.Topics = []string{"t"}
		if tt.mutate != nil {
			tt.mutate(&h)
		}
		err := h.CheckHandler(tt.handler)
		var ps Problems
		errors.As(err, &ps)
		if len(ps) != len(tt.keys) {
			t.Errorf("%s: problems %v, want %v", tt.handler, ps, tt.keys)
			continue
		}
		for i, k := range tt.keys {
			if ps[i].Key != k {
				t.Errorf("%s: problem %d is %s, want %s", tt.handler, i, ps[i].Key, k)
			}
		}
	}
	h := DefaultHandle()
	h.Exec.Command = []string{"cat"}
	if err := h.CheckHandler("exec"); err == nil || !strings.Contains(err.Error(), "handle.topics") {
		t.Errorf("no topics: %v", err)
	}
}

func TestHandleEnvAndSecrets(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"KGATE_HANDLE_TOPICS":                  "a, b",
		"KGATE_HANDLE_VAULT_ACCESS_KEY":        "AK-123",
		"KGATE_HANDLE_VAULT_SECRET_ACCESS_KEY": "SK-456",
		"KGATE_HANDLE_COLORS_AT":               "1500",
		"KGATE_HANDLE_CREATE_TOPICS":           "false",
	}
	cfg := Default()
	if err := ApplyEnv(&cfg, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	h := cfg.Handle
	if strings.Join(h.Topics, "|") != "a|b" || h.Vault.AccessKey.Reveal() != "AK-123" || h.Colors.At.D() != 1500*time.Millisecond || h.CreateTopics {
		t.Errorf("env not applied: %+v", h)
	}
	out, err := Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "AK-123") || strings.Contains(string(out), "SK-456") {
		t.Errorf("config print shows a secret:\n%s", out)
	}

	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	if s, err := ReadSecret("inline", file); err != nil || s.Reveal() != "from-file" {
		t.Errorf("ReadSecret = %q, %v", s.Reveal(), err)
	}
	if s, err := ReadSecret("inline", ""); err != nil || s.Reveal() != "inline" {
		t.Errorf("ReadSecret without file = %q, %v", s.Reveal(), err)
	}
	if _, err := ReadSecret("", "/no/such/file"); err == nil {
		t.Error("missing file: no error")
	}
}
