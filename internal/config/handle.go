package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Handle configures `kgate handle` workers and `kgate dlq replay`. Secrets
// (Vault and S3 keys, the webhook secret) come from the environment, the
// YAML file or *_file paths, never from command-line arguments.
type Handle struct {
	// Topics are consumed.
	Topics []string `yaml:"topics" env:"KGATE_HANDLE_TOPICS"`
	// Group is the consumer group (default kgate-handle-<handler>).
	Group string `yaml:"group" env:"KGATE_HANDLE_GROUP"`
	// OutputTopic receives the handler's output records ("": none).
	OutputTopic string `yaml:"output_topic" env:"KGATE_HANDLE_OUTPUT_TOPIC"`
	// DLQTopic receives dead letters (default <group>.dlq).
	DLQTopic string `yaml:"dlq_topic" env:"KGATE_HANDLE_DLQ_TOPIC"`
	// CreateTopics creates missing input, output and dead-letter topics
	// (default_partitions, default_replication_factor).
	CreateTopics bool `yaml:"create_topics" env:"KGATE_HANDLE_CREATE_TOPICS"`
	// Concurrency bounds records handled at once (across partitions).
	Concurrency int `yaml:"concurrency" env:"KGATE_HANDLE_CONCURRENCY"`
	// MaxAttempts is how often a record is tried before dead-lettering.
	MaxAttempts int `yaml:"max_attempts" env:"KGATE_HANDLE_MAX_ATTEMPTS"`
	// BackoffInitial and BackoffMax shape the exponential backoff with
	// jitter between attempts.
	BackoffInitial Duration `yaml:"backoff_initial" env:"KGATE_HANDLE_BACKOFF_INITIAL"`
	BackoffMax     Duration `yaml:"backoff_max" env:"KGATE_HANDLE_BACKOFF_MAX"`
	// HandlerTimeout bounds one attempt.
	HandlerTimeout Duration `yaml:"handler_timeout" env:"KGATE_HANDLE_HANDLER_TIMEOUT"`
	// RevokeGrace is how long in-flight records may finish on a revoke or
	// shutdown before they are abandoned (and handled again elsewhere).
	RevokeGrace Duration `yaml:"revoke_grace" env:"KGATE_HANDLE_REVOKE_GRACE"`
	// CommitInterval is the least time between offset commits; 0 commits
	// as soon as a record is finished (one commit in flight at a time).
	CommitInterval Duration `yaml:"commit_interval" env:"KGATE_HANDLE_COMMIT_INTERVAL"`
	// MaxQueued is how many fetched records a partition may buffer before
	// its fetching pauses.
	MaxQueued int `yaml:"max_queued" env:"KGATE_HANDLE_MAX_QUEUED"`
	// SessionTimeout and RebalanceTimeout are the consumer group's.
	SessionTimeout   Duration `yaml:"session_timeout" env:"KGATE_HANDLE_SESSION_TIMEOUT"`
	RebalanceTimeout Duration `yaml:"rebalance_timeout" env:"KGATE_HANDLE_REBALANCE_TIMEOUT"`
	// MetricsListen serves /metrics and /healthz ("" disables).
	MetricsListen string `yaml:"metrics_listen" env:"KGATE_HANDLE_METRICS_LISTEN"`
	// Progress is the one-line status display: auto (on a terminal), on
	// or off.
	Progress string `yaml:"progress" env:"KGATE_HANDLE_PROGRESS"`
	// TempDir holds downloaded recordings while they are analysed (""
	// is the system's temporary directory).
	TempDir string `yaml:"temp_dir" env:"KGATE_HANDLE_TEMP_DIR"`

	Vault   HandleVault   `yaml:"vault"`
	Colors  HandleColors  `yaml:"colors"`
	Exec    HandleExec    `yaml:"exec"`
	Webhook HandleWebhook `yaml:"webhook"`
	// SchemaRegistry, with a URL, decodes values in Confluent's wire
	// format to JSON before the handler sees them.
	SchemaRegistry HandleSchemaRegistry `yaml:"schema_registry"`
}

// HandleSchemaRegistry is the registry (kgate's or another
// Confluent-compatible one) whose schemas decode the values handlers see.
type HandleSchemaRegistry struct {
	URL          URL    `yaml:"url" env:"KGATE_HANDLE_SCHEMA_REGISTRY_URL"`
	Username     string `yaml:"username" env:"KGATE_HANDLE_SCHEMA_REGISTRY_USERNAME"`
	Password     Secret `yaml:"password" env:"KGATE_HANDLE_SCHEMA_REGISTRY_PASSWORD"`
	PasswordFile string `yaml:"password_file" env:"KGATE_HANDLE_SCHEMA_REGISTRY_PASSWORD_FILE"`
	Token        Secret `yaml:"token" env:"KGATE_HANDLE_SCHEMA_REGISTRY_TOKEN"`
	TokenFile    string `yaml:"token_file" env:"KGATE_HANDLE_SCHEMA_REGISTRY_TOKEN_FILE"`
	CAFile       string `yaml:"ca_file" env:"KGATE_HANDLE_SCHEMA_REGISTRY_CA_FILE"`
}

// HandleVault configures where vault-colors fetches recordings.
type HandleVault struct {
	// Source is vault (the blob API), s3 (the bucket directly) or dir (a
	// local directory).
	Source string `yaml:"source" env:"KGATE_HANDLE_VAULT_SOURCE"`
	// URL is Vault's address (its /api base or the site).
	URL                 string   `yaml:"url" env:"KGATE_HANDLE_VAULT_URL"`
	AccessKey           Secret   `yaml:"access_key" env:"KGATE_HANDLE_VAULT_ACCESS_KEY"`
	AccessKeyFile       string   `yaml:"access_key_file" env:"KGATE_HANDLE_VAULT_ACCESS_KEY_FILE"`
	SecretAccessKey     Secret   `yaml:"secret_access_key" env:"KGATE_HANDLE_VAULT_SECRET_ACCESS_KEY"`
	SecretAccessKeyFile string   `yaml:"secret_access_key_file" env:"KGATE_HANDLE_VAULT_SECRET_ACCESS_KEY_FILE"`
	S3                  HandleS3 `yaml:"s3"`
	// Dir is the local recordings directory (source dir).
	Dir string `yaml:"dir" env:"KGATE_HANDLE_VAULT_DIR"`
	// MaxBytes caps a recording's size.
	MaxBytes Bytes `yaml:"max_bytes" env:"KGATE_HANDLE_VAULT_MAX_BYTES"`
	// FetchTimeout bounds one download attempt; FetchAttempts is how
	// often 5xx answers and network errors are tried.
	FetchTimeout  Duration `yaml:"fetch_timeout" env:"KGATE_HANDLE_VAULT_FETCH_TIMEOUT"`
	FetchAttempts int      `yaml:"fetch_attempts" env:"KGATE_HANDLE_VAULT_FETCH_ATTEMPTS"`
}

// HandleS3 configures direct S3-compatible access (source s3).
type HandleS3 struct {
	Endpoint            string `yaml:"endpoint" env:"KGATE_HANDLE_S3_ENDPOINT"`
	Region              string `yaml:"region" env:"KGATE_HANDLE_S3_REGION"`
	Bucket              string `yaml:"bucket" env:"KGATE_HANDLE_S3_BUCKET"`
	Prefix              string `yaml:"prefix" env:"KGATE_HANDLE_S3_PREFIX"`
	AccessKeyID         Secret `yaml:"access_key_id" env:"KGATE_HANDLE_S3_ACCESS_KEY_ID"`
	AccessKeyIDFile     string `yaml:"access_key_id_file" env:"KGATE_HANDLE_S3_ACCESS_KEY_ID_FILE"`
	SecretAccessKey     Secret `yaml:"secret_access_key" env:"KGATE_HANDLE_S3_SECRET_ACCESS_KEY"`
	SecretAccessKeyFile string `yaml:"secret_access_key_file" env:"KGATE_HANDLE_S3_SECRET_ACCESS_KEY_FILE"`
	// PathStyle addresses endpoint/bucket/key (MinIO and most
	// S3-compatible stores).
	PathStyle bool `yaml:"path_style" env:"KGATE_HANDLE_S3_PATH_STYLE"`
}

// HandleColors configures the frame decoding and colour analysis.
type HandleColors struct {
	// K is the number of dominant colours.
	K int `yaml:"k" env:"KGATE_HANDLE_COLORS_K"`
	// At is the time of the analysed frame (0: the first frame).
	At Duration `yaml:"at" env:"KGATE_HANDLE_COLORS_AT"`
	// SampleSize is how many pixels k-means runs on; Restarts how many
	// seeded runs compete.
	SampleSize int `yaml:"sample_size" env:"KGATE_HANDLE_COLORS_SAMPLE_SIZE"`
	Restarts   int `yaml:"restarts" env:"KGATE_HANDLE_COLORS_RESTARTS"`
	// FFmpeg is the ffmpeg executable; Threads its decoding threads.
	FFmpeg        string   `yaml:"ffmpeg" env:"KGATE_HANDLE_COLORS_FFMPEG"`
	Threads       int      `yaml:"threads" env:"KGATE_HANDLE_COLORS_THREADS"`
	DecodeTimeout Duration `yaml:"decode_timeout" env:"KGATE_HANDLE_COLORS_DECODE_TIMEOUT"`
}

// HandleExec configures the exec handler.
type HandleExec struct {
	// Command is the program and its arguments (no shell). On the
	// command line it follows "--".
	Command []string `yaml:"command"`
	Dir     string   `yaml:"dir" env:"KGATE_HANDLE_EXEC_DIR"`
	Timeout Duration `yaml:"timeout" env:"KGATE_HANDLE_EXEC_TIMEOUT"`
}

// HandleWebhook configures the webhook handler.
type HandleWebhook struct {
	URL        string   `yaml:"url" env:"KGATE_HANDLE_WEBHOOK_URL"`
	Secret     Secret   `yaml:"secret" env:"KGATE_HANDLE_WEBHOOK_SECRET"`
	SecretFile string   `yaml:"secret_file" env:"KGATE_HANDLE_WEBHOOK_SECRET_FILE"`
	Timeout    Duration `yaml:"timeout" env:"KGATE_HANDLE_WEBHOOK_TIMEOUT"`
}

// DefaultHandle returns the handle section's defaults.
func DefaultHandle() Handle {
	return Handle{
		CreateTopics:     true,
		Concurrency:      4,
		MaxAttempts:      5,
		BackoffInitial:   Duration(500 * time.Millisecond),
		BackoffMax:       Duration(30 * time.Second),
		HandlerTimeout:   Duration(2 * time.Minute),
		RevokeGrace:      Duration(10 * time.Second),
		MaxQueued:        1000,
		SessionTimeout:   Duration(45 * time.Second),
		RebalanceTimeout: Duration(60 * time.Second),
		MetricsListen:    "127.0.0.1:8083",
		Progress:         "auto",
		Vault: HandleVault{
			Source:        "vault",
			MaxBytes:      1 << 30,
			FetchTimeout:  Duration(2 * time.Minute),
			FetchAttempts: 3,
			S3:            HandleS3{Region: "us-east-1", PathStyle: true},
		},
		Colors: HandleColors{
			K:             3,
			SampleSize:    20000,
			Restarts:      4,
			FFmpeg:        "ffmpeg",
			Threads:       1,
			DecodeTimeout: Duration(30 * time.Second),
		},
		Exec:    HandleExec{Timeout: Duration(30 * time.Second)},
		Webhook: HandleWebhook{Timeout: Duration(10 * time.Second)},
	}
}

// GroupFor returns the consumer group of handler: Group, or
// kgate-handle-<handler> when it is not set.
func (h Handle) GroupFor(handler string) string {
	if h.Group != "" {
		return h.Group
	}
	return "kgate-handle-" + handler
}

// DLQTopicFor returns the dead-letter topic of group: DLQTopic, or
// <group>.dlq when it is not set.
func (h Handle) DLQTopicFor(group string) string {
	if h.DLQTopic != "" {
		return h.DLQTopic
	}
	return group + ".dlq"
}

// validate checks what holds for every handler.
func (h *Handle) validate(ps *Problems, prefix string) {
	for i, t := range h.Topics {
		if !validTopic(t) {
			ps.Add(fmt.Sprintf("%s.topics[%d]", prefix, i), "invalid topic name %q", t)
		}
	}
	if h.OutputTopic != "" && !validTopic(h.OutputTopic) {
		ps.Add(prefix+".output_topic", "invalid topic name %q", h.OutputTopic)
	}
	if h.DLQTopic != "" && !validTopic(h.DLQTopic) {
		ps.Add(prefix+".dlq_topic", "invalid topic name %q", h.DLQTopic)
	}
	atLeast(ps, prefix+".concurrency", h.Concurrency, 1)
	atLeast(ps, prefix+".max_attempts", h.MaxAttempts, 1)
	atLeast(ps, prefix+".max_queued", h.MaxQueued, 1)
	positive(ps, prefix+".backoff_initial", h.BackoffInitial)
	if h.BackoffMax < h.BackoffInitial {
		ps.Add(prefix+".backoff_max", "must be at least backoff_initial (%s), got %s", h.BackoffInitial, h.BackoffMax)
	}
	positive(ps, prefix+".handler_timeout", h.HandlerTimeout)
	positive(ps, prefix+".revoke_grace", h.RevokeGrace)
	if h.CommitInterval < 0 {
		ps.Add(prefix+".commit_interval", "must not be negative")
	}
	positive(ps, prefix+".session_timeout", h.SessionTimeout)
	positive(ps, prefix+".rebalance_timeout", h.RebalanceTimeout)
	if h.RevokeGrace >= h.RebalanceTimeout {
		ps.Add(prefix+".revoke_grace", "must be shorter than rebalance_timeout (%s), got %s", h.RebalanceTimeout, h.RevokeGrace)
	}
	if h.MetricsListen != "" {
		CheckHostPort(ps, prefix+".metrics_listen", h.MetricsListen)
	}
	if !slices.Contains([]string{"auto", "on", "off"}, strings.ToLower(h.Progress)) {
		ps.Add(prefix+".progress", "must be auto, on or off, got %q", h.Progress)
	}
	v := h.Vault
	if !slices.Contains([]string{"vault", "s3", "dir"}, v.Source) {
		ps.Add(prefix+".vault.source", "must be vault, s3 or dir, got %q", v.Source)
	}
	if v.MaxBytes < 1 {
		ps.Add(prefix+".vault.max_bytes", "must be positive, got %d", v.MaxBytes)
	}
	positive(ps, prefix+".vault.fetch_timeout", v.FetchTimeout)
	atLeast(ps, prefix+".vault.fetch_attempts", v.FetchAttempts, 1)
	fileReadable(ps, prefix+".vault.access_key_file", v.AccessKeyFile)
	fileReadable(ps, prefix+".vault.secret_access_key_file", v.SecretAccessKeyFile)
	fileReadable(ps, prefix+".vault.s3.access_key_id_file", v.S3.AccessKeyIDFile)
	fileReadable(ps, prefix+".vault.s3.secret_access_key_file", v.S3.SecretAccessKeyFile)
	c := h.Colors
	if c.K < 1 || c.K > 64 {
		ps.Add(prefix+".colors.k", "must be between 1 and 64, got %d", c.K)
	}
	if c.At < 0 {
		ps.Add(prefix+".colors.at", "must not be negative")
	}
	atLeast(ps, prefix+".colors.sample_size", c.SampleSize, 100)
	atLeast(ps, prefix+".colors.restarts", c.Restarts, 1)
	atLeast(ps, prefix+".colors.threads", c.Threads, 0)
	positive(ps, prefix+".colors.decode_timeout", c.DecodeTimeout)
	positive(ps, prefix+".exec.timeout", h.Exec.Timeout)
	positive(ps, prefix+".webhook.timeout", h.Webhook.Timeout)
	fileReadable(ps, prefix+".webhook.secret_file", h.Webhook.SecretFile)
	registryClient{URL: h.SchemaRegistry.URL, Username: h.SchemaRegistry.Username, Password: h.SchemaRegistry.Password,
		PasswordFile: h.SchemaRegistry.PasswordFile, Token: h.SchemaRegistry.Token, TokenFile: h.SchemaRegistry.TokenFile,
		CAFile: h.SchemaRegistry.CAFile}.validate(ps, prefix+".schema_registry")
}

// CheckHandler reports what handler (vault-colors, exec or webhook)
// needs beyond the defaults: a Vault URL and keys, a bucket, a command,
// a webhook URL and secret. It runs when `kgate handle` starts, not in
// Validate, so that serve does not depend on handler settings.
func (h *Handle) CheckHandler(handler string) error {
	var ps Problems
	if len(h.Topics) == 0 {
		ps.Add("handle.topics", "at least one topic is required (--topic)")
	}
	switch handler {
	case "vault-colors":
		v := h.Vault
		switch v.Source {
		case "vault":
			if v.URL == "" {
				ps.Add("handle.vault.url", "is required with source vault (--vault-url)")
			}
			if v.AccessKey == "" && v.AccessKeyFile == "" {
				ps.Add("handle.vault.access_key", "is required with source vault (env KGATE_HANDLE_VAULT_ACCESS_KEY or access_key_file)")
			}
			if v.SecretAccessKey == "" && v.SecretAccessKeyFile == "" {
				ps.Add("handle.vault.secret_access_key", "is required with source vault (env KGATE_HANDLE_VAULT_SECRET_ACCESS_KEY or secret_access_key_file)")
			}
		case "s3":
			if v.S3.Bucket == "" {
				ps.Add("handle.vault.s3.bucket", "is required with source s3 (--s3-bucket)")
			}
		case "dir":
			if v.Dir == "" {
				ps.Add("handle.vault.dir", "is required with source dir (--vault-dir)")
			}
		}
	case "exec":
		if len(h.Exec.Command) == 0 {
			ps.Add("handle.exec.command", "is required (kgate handle exec [flags] -- command args...)")
		}
	case "webhook":
		if h.Webhook.URL == "" {
			ps.Add("handle.webhook.url", "is required (--webhook-url)")
		}
		if h.Webhook.Secret == "" && h.Webhook.SecretFile == "" {
			ps.Add("handle.webhook.secret", "is required (env KGATE_HANDLE_WEBHOOK_SECRET or secret_file)")
		}
	default:
		ps.Add("handler", "unknown handler %q (want vault-colors, exec or webhook)", handler)
	}
	return ps.Err()
}

func atLeast(ps *Problems, key string, v, min int) {
	if v < min {
		ps.Add(key, "must be at least %d, got %d", min, v)
	}
}

// validTopic mirrors Kafka's topic name rules.
func validTopic(name string) bool {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
