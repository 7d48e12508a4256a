package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/app"
	"github.com/kgate/kgate/internal/app/worker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/consumer"
)

const handleUsage = `usage: kgate handle HANDLER [flags] [-- command args...]

Handlers:
  vault-colors  fetch each Kerberos Vault recording, decode a frame, report its dominant colours
  exec          run a command per record (record value on stdin, stdout is the output record)
  webhook       POST each record to a URL, signed with HMAC-SHA256

Secrets never go on the command line: set KGATE_HANDLE_VAULT_ACCESS_KEY,
KGATE_HANDLE_VAULT_SECRET_ACCESS_KEY, KGATE_HANDLE_S3_ACCESS_KEY_ID,
KGATE_HANDLE_S3_SECRET_ACCESS_KEY, KGATE_HANDLE_WEBHOOK_SECRET and
KGATE_KAFKA_SASL_PASSWORD, or point the *-file flags at files.

Flags:
`

// addHandleFlags registers the flags of `kgate handle`'s settings (the
// handle section): each maps onto one key of the config tree.
func addHandleFlags(cf *configFlags) *topicsFlag {
	h := func(c *config.Config) *config.Handle { return &c.Handle }
	add := func(name, usage string, get func(*config.Config) any) { cf.add(name, usage, field(get)) }
	topics := &topicsFlag{}
	cf.fs.Var(topics, "topic", "topic to consume; repeat or comma-separate (env KGATE_HANDLE_TOPICS)")
	cf.addDefault("group", "consumer group", config.Handle{}.GroupFor("HANDLER"), field(func(c *config.Config) any { return &h(c).Group }))
	add("output-topic", "topic for output records", func(c *config.Config) any { return &h(c).OutputTopic })
	cf.addDefault("dlq-topic", "dead-letter topic", config.Handle{}.DLQTopicFor("GROUP"), field(func(c *config.Config) any { return &h(c).DLQTopic }))
	add("create-topics", "create missing topics: true or false", func(c *config.Config) any { return &h(c).CreateTopics })
	add("concurrency", "records handled at once across partitions", func(c *config.Config) any { return &h(c).Concurrency })
	add("max-attempts", "attempts before a record is dead-lettered", func(c *config.Config) any { return &h(c).MaxAttempts })
	add("backoff-initial", "first pause between attempts", func(c *config.Config) any { return &h(c).BackoffInitial })
	add("backoff-max", "longest pause between attempts", func(c *config.Config) any { return &h(c).BackoffMax })
	add("handler-timeout", "bound of one attempt", func(c *config.Config) any { return &h(c).HandlerTimeout })
	add("revoke-grace", "time in-flight records get to finish on revoke or shutdown", func(c *config.Config) any { return &h(c).RevokeGrace })
	add("commit-interval", "least time between commits; 0 commits as soon as possible", func(c *config.Config) any { return &h(c).CommitInterval })
	add("session-timeout", "consumer group session timeout", func(c *config.Config) any { return &h(c).SessionTimeout })
	add("metrics-listen", "address of /metrics and /healthz; empty disables", func(c *config.Config) any { return &h(c).MetricsListen })
	add("progress", "one-line status on stderr: auto, on or off", func(c *config.Config) any { return &h(c).Progress })
	add("temp-dir", "directory for downloaded recordings (empty: the system's temporary directory)", func(c *config.Config) any { return &h(c).TempDir })
	// vault-colors
	add("vault-source", "where recordings come from: vault, s3 or dir", func(c *config.Config) any { return &h(c).Vault.Source })
	add("vault-url", "Kerberos Vault URL (its /api base or the site)", func(c *config.Config) any { return &h(c).Vault.URL })
	add("vault-access-key-file", "file holding the Vault access key", func(c *config.Config) any { return &h(c).Vault.AccessKeyFile })
	add("vault-secret-access-key-file", "file holding the Vault secret access key", func(c *config.Config) any { return &h(c).Vault.SecretAccessKeyFile })
	add("vault-dir", "local recordings directory (source dir)", func(c *config.Config) any { return &h(c).Vault.Dir })
	add("max-recording-bytes", "size cap of one recording", func(c *config.Config) any { return &h(c).Vault.MaxBytes })
	add("s3-endpoint", "S3-compatible endpoint URL (source s3)", func(c *config.Config) any { return &h(c).Vault.S3.Endpoint })
	add("s3-region", "S3 region", func(c *config.Config) any { return &h(c).Vault.S3.Region })
	add("s3-bucket", "S3 bucket (source s3)", func(c *config.Config) any { return &h(c).Vault.S3.Bucket })
	add("s3-prefix", "prefix before every recording key (source s3)", func(c *config.Config) any { return &h(c).Vault.S3.Prefix })
	add("s3-path-style", "path-style bucket addressing: true or false", func(c *config.Config) any { return &h(c).Vault.S3.PathStyle })
	add("s3-access-key-id-file", "file holding the S3 access key id", func(c *config.Config) any { return &h(c).Vault.S3.AccessKeyIDFile })
	add("s3-secret-access-key-file", "file holding the S3 secret access key", func(c *config.Config) any { return &h(c).Vault.S3.SecretAccessKeyFile })
	add("colors", "number of dominant colours", func(c *config.Config) any { return &h(c).Colors.K })
	add("frame-at", "time of the analysed frame, e.g. 1.5s; 0 is the first frame", func(c *config.Config) any { return &h(c).Colors.At })
	add("ffmpeg", "ffmpeg executable", func(c *config.Config) any { return &h(c).Colors.FFmpeg })
	// exec and webhook
	add("exec-timeout", "bound of one command run", func(c *config.Config) any { return &h(c).Exec.Timeout })
	add("exec-dir", "working directory of the command", func(c *config.Config) any { return &h(c).Exec.Dir })
	add("webhook-url", "URL records are POSTed to", func(c *config.Config) any { return &h(c).Webhook.URL })
	add("webhook-secret-file", "file holding the HMAC secret", func(c *config.Config) any { return &h(c).Webhook.SecretFile })
	add("webhook-timeout", "bound of one request", func(c *config.Config) any { return &h(c).Webhook.Timeout })
	add("schema-registry-url", "schema registry whose schemas decode values in Confluent's wire format to JSON before the handler sees them", func(c *config.Config) any { return &h(c).SchemaRegistry.URL })
	return topics
}

// addKafkaFlags registers the workers' Kafka client security flags, in
// the seed's terms; --security-protocol is applied by securityProtocol.
func addKafkaFlags(cf *configFlags) {
	add := func(name, usage string, get func(*config.Config) any) { cf.add(name, usage, field(get)) }
	// Kafka security, in the seed's terms.
	add("security-protocol", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", func(c *config.Config) any { return new(string) })
	add("sasl-mechanism", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", func(c *config.Config) any { return &c.Kafka.SASL.Mechanism })
	add("sasl-username", "SASL user name", func(c *config.Config) any { return &c.Kafka.SASL.Username })
	add("sasl-password-file", "file holding the SASL password (or set KGATE_KAFKA_SASL_PASSWORD)", func(c *config.Config) any { return &c.Kafka.SASL.PasswordFile })
	add("tls-ca-file", "CA certificates for the brokers' TLS", func(c *config.Config) any { return &c.Kafka.TLS.CAFile })
	add("tls-cert-file", "client certificate for TLS", func(c *config.Config) any { return &c.Kafka.TLS.CertFile })
	add("tls-key-file", "client key for TLS", func(c *config.Config) any { return &c.Kafka.TLS.KeyFile })
}

// topicsFlag is a repeatable, comma-separating --topic.
type topicsFlag struct {
	list []string
	set  bool
}

func (t *topicsFlag) String() string { return strings.Join(t.list, ",") }

func (t *topicsFlag) Set(s string) error {
	t.set = true
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			t.list = append(t.list, p)
		}
	}
	return nil
}

// securityProtocol maps --security-protocol onto kafka.tls.enabled; the
// SASL protocols need a SASL mechanism.
func securityProtocol(cf *configFlags) func(*config.Config) error {
	return func(cfg *config.Config) error {
		p := *cf.values["security-protocol"]
		if p == "" {
			return nil
		}
		switch strings.ToUpper(p) {
		case "PLAINTEXT":
		case "SSL":
			cfg.Kafka.TLS.Enabled = true
		case "SASL_PLAINTEXT", "SASL_SSL":
			cfg.Kafka.TLS.Enabled = strings.HasSuffix(strings.ToUpper(p), "SSL")
			if cfg.Kafka.SASL.Mechanism == "" && cfg.Kafka.SASL.File == "" {
				return fmt.Errorf("--security-protocol %s needs --sasl-mechanism", p)
			}
		default:
			return fmt.Errorf("--security-protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, got %q", p)
		}
		return nil
	}
}

// handleConfigFlags registers every flag of kgate handle on fs. adjust
// applies --topic and --security-protocol, which are not single keys.
func handleConfigFlags(fs *flag.FlagSet) (cf *configFlags, adjust func(*config.Config) error) {
	cf = newConfigFlags(fs, config.HandleCommand)
	cf.addClusterFlags()
	addKafkaFlags(cf)
	topics := addHandleFlags(cf)
	protocol := securityProtocol(cf)
	return cf, func(cfg *config.Config) error {
		if topics.set {
			cfg.Handle.Topics = topics.list
		}
		return protocol(cfg)
	}
}

func runHandle(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("kgate handle", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), handleUsage)
		fs.PrintDefaults()
	}
	cf, adjust := handleConfigFlags(fs)
	var handler string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		handler, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args, env.Stderr); !ok {
		return code
	}
	rest := fs.Args()
	if handler == "" && len(rest) > 0 {
		handler, rest = rest[0], rest[1:]
	}
	if handler == "" {
		fs.Usage()
		return exitConfig
	}
	cfg, code := cf.loadValid(env, adjust)
	if code != exitOK {
		return code
	}
	if len(rest) > 0 {
		if handler != "exec" {
			return errorf(env, exitConfig, "handle", "unexpected arguments %q (only exec takes a command after --)", rest)
		}
		cfg.Handle.Exec.Command = rest
	}
	if err := cfg.Handle.CheckHandler(handler); err != nil {
		return errorf(env, exitConfig, "handle", "%v", err)
	}
	hc := &cfg.Handle
	hc.Group = hc.GroupFor(handler)
	hc.DLQTopic = hc.DLQTopicFor(hc.Group)

	app.PrivateFiles() // recordings, frames and temporary files are the user's alone
	var rt atomic.Pointer[consumer.Runtime]
	logger := newLogger(env, cfg.Log)
	if showProgress(env, hc.Progress) {
		progress := consumer.NewProgress(env.Stderr, func() consumer.Stats {
			if r := rt.Load(); r != nil {
				return r.Stats()
			}
			return consumer.Stats{}
		})
		logger = progressLogger(progress.Writer(), cfg.Log)
		pctx, stopProgress := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); progress.Run(pctx, 500*time.Millisecond) }()
		defer func() { stopProgress(); <-done }()
	}
	var release sync.Once
	err := worker.Handle(ctx, cfg, handler, logger, func(r *consumer.Runtime) {
		rt.Store(r)
		// Start-up is over: its pages of the executable can go.
		release.Do(func() {
			before, after, err := releaseStartupPages()
			logger.Debug("released start-up pages of the executable", "rss_file_before", before, "rss_file_after", after, "err", err)
		})
	})
	var se *worker.SetupError
	switch {
	case errors.As(err, &se):
		return errorf(env, exitConfig, "handle", "%v", err)
	case err != nil:
		logger.Error("kgate handle failed", "err", err)
		return exitFail
	}
	return exitOK
}

func showProgress(env Env, mode string) bool {
	switch strings.ToLower(mode) {
	case "on":
		return true
	case "off":
		return false
	}
	f, ok := env.Stderr.(interface{ Fd() uintptr })
	return ok && env.IsTerminal != nil && env.IsTerminal(f.Fd())
}

// progressLogger logs as text (the display is on a terminal) through the
// progress line's writer.
func progressLogger(w io.Writer, lc config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(lc.Level))
	opts := &slog.HandlerOptions{Level: level}
	if strings.ToLower(lc.Format) == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
