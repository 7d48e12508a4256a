// Package worker wires kgate's worker commands from the configuration and
// owns their lifecycles: `kgate handle` (the consumer runtime and its
// built-in handlers) and `kgate stream` (video to Kinesis Video Streams,
// Matroska or HLS). The gateway's own wiring is package app.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/app"
	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/consumer"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/media"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/record"
	"github.com/kgate/kgate/internal/schemareg"
	"github.com/kgate/kgate/internal/vault"
)

// SetupError is a problem with what the configuration asks for (a
// handler that cannot be built, a secret file that cannot be read): the
// command line answers it as a configuration error.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// Brokers returns the configured brokers, or the address of the embedded
// broker a kgate serve publishes in the data directory.
func Brokers(cfg config.Config) ([]string, error) {
	if len(cfg.Brokers) > 0 {
		return cfg.Brokers, nil
	}
	addr, err := broker.RunningAddr(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return []string{addr}, nil
}

// Handle runs the worker runtime of `kgate handle` with the named
// built-in handler until ctx ends, then drains and commits. started, if
// non-nil, gets the runtime once it exists (for a progress display).
//
// Lifecycle: the metrics listener stays up until the runtime has drained,
// so the last numbers can still be scraped; the producer is flushed and
// closed last.
func Handle(ctx context.Context, cfg config.Config, handler string, logger *slog.Logger, started func(*consumer.Runtime)) error {
	hc := &cfg.Handle
	brokers, err := Brokers(cfg)
	if err != nil {
		return err
	}
	creds, err := kafka.ResolveSASL(cfg.Kafka.SASL)
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry()
	kc, closeKafka, err := app.NewKafka(cfg, app.KafkaConn{Brokers: brokers, SASL: creds}, false, logger, metrics.NewKafka(reg))
	if err != nil {
		return err
	}
	defer closeKafka()

	h, err := buildHandler(handler, hc, logger)
	if err != nil {
		return &SetupError{err}
	}
	if h, err = decodeSchemas(h, hc.SchemaRegistry, logger); err != nil {
		return &SetupError{err}
	}
	rt, err := consumer.New(consumer.Options{
		Client:           kc,
		Topics:           hc.Topics,
		Group:            hc.Group,
		HandlerName:      handler,
		Handler:          h,
		OutputTopic:      hc.OutputTopic,
		DLQTopic:         hc.DLQTopic,
		Concurrency:      hc.Concurrency,
		MaxAttempts:      hc.MaxAttempts,
		Backoff:          consumer.Backoff{Initial: hc.BackoffInitial.D(), Max: hc.BackoffMax.D()},
		HandlerTimeout:   hc.HandlerTimeout.D(),
		RevokeGrace:      hc.RevokeGrace.D(),
		CommitInterval:   hc.CommitInterval.D(),
		MaxQueued:        hc.MaxQueued,
		CreateTopics:     hc.CreateTopics,
		Partitions:       int32(cfg.DefaultPartitions),
		Replication:      int16(cfg.DefaultReplicationFactor),
		SessionTimeout:   hc.SessionTimeout.D(),
		RebalanceTimeout: hc.RebalanceTimeout.D(),
		Logger:           logger,
	})
	if err != nil {
		return &SetupError{err}
	}
	reg.MustRegister(rt)
	if started != nil {
		started(rt)
	}
	if hc.MetricsListen != "" {
		_, stopOps, err := app.StartOps(hc.MetricsListen, reg, kc.Ping, cfg.HTTP, logger)
		if err != nil {
			return err
		}
		defer stopOps()
	}
	return rt.Run(ctx)
}

// buildHandler constructs the named built-in handler, reading its secrets.
func buildHandler(name string, hc *config.Handle, logger *slog.Logger) (consumer.Handler, error) {
	switch name {
	case "vault-colors":
		src, err := buildSource(hc, logger)
		if err != nil {
			return nil, err
		}
		if hc.TempDir != "" {
			if err := os.MkdirAll(hc.TempDir, 0o700); err != nil {
				return nil, fmt.Errorf("temp dir: %w", err)
			}
		}
		return &vault.ColorsHandler{
			Source:  src,
			Decoder: &media.FFmpeg{Path: hc.Colors.FFmpeg, Threads: hc.Colors.Threads, Timeout: hc.Colors.DecodeTimeout.D()},
			At:      hc.Colors.At.D(),
			Colors:  media.ColorOptions{K: hc.Colors.K, SampleSize: hc.Colors.SampleSize, Restarts: hc.Colors.Restarts},
			Logger:  logger,
		}, nil
	case "exec":
		return &consumer.Exec{Argv: hc.Exec.Command, Dir: hc.Exec.Dir, Timeout: hc.Exec.Timeout.D()}, nil
	case "webhook":
		secret, err := config.ReadSecret(hc.Webhook.Secret, hc.Webhook.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: %w", err)
		}
		return consumer.NewWebhook(consumer.WebhookOptions{URL: hc.Webhook.URL, Secret: secret, Timeout: hc.Webhook.Timeout.D()})
	}
	return nil, fmt.Errorf("unknown handler %q", name)
}

func buildSource(hc *config.Handle, logger *slog.Logger) (vault.Source, error) {
	v := hc.Vault
	fo := vault.FetchOptions{TempDir: hc.TempDir, MaxBytes: int64(v.MaxBytes), Timeout: v.FetchTimeout.D(), Attempts: v.FetchAttempts}
	switch v.Source {
	case "vault":
		ak, err := config.ReadSecret(v.AccessKey, v.AccessKeyFile)
		if err != nil {
			return nil, fmt.Errorf("vault access key: %w", err)
		}
		sk, err := config.ReadSecret(v.SecretAccessKey, v.SecretAccessKeyFile)
		if err != nil {
			return nil, fmt.Errorf("vault secret access key: %w", err)
		}
		return vault.NewBlobAPI(vault.BlobAPIOptions{URL: v.URL, AccessKey: ak, SecretAccessKey: sk, Fetch: fo, Logger: logger})
	case "s3":
		id, err := config.ReadSecret(v.S3.AccessKeyID, v.S3.AccessKeyIDFile)
		if err != nil {
			return nil, fmt.Errorf("s3 access key id: %w", err)
		}
		sk, err := config.ReadSecret(v.S3.SecretAccessKey, v.S3.SecretAccessKeyFile)
		if err != nil {
			return nil, fmt.Errorf("s3 secret access key: %w", err)
		}
		return vault.NewS3(vault.S3Options{Endpoint: v.S3.Endpoint, Region: v.S3.Region, Bucket: v.S3.Bucket, Prefix: v.S3.Prefix,
			AccessKeyID: id, SecretAccessKey: sk, PathStyle: v.S3.PathStyle, Fetch: fo, Logger: logger})
	case "dir":
		return vault.NewDir(v.Dir, fo)
	}
	return nil, fmt.Errorf("unknown recording source %q", v.Source)
}

// decodeSchemas wraps h so that values in Confluent's wire format (byte
// 0, a schema id) reach it as JSON, decoded with the schemas of the
// registry at rc.URL (none: h unchanged); other values pass unchanged.
// The runtime keeps the original record, so dead letters hold the bytes
// as they were. A value naming an id the registry does not have is
// malformed; a registry that does not answer fails the attempt, which is
// retried.
func decodeSchemas(h consumer.Handler, rc config.HandleSchemaRegistry, logger *slog.Logger) (consumer.Handler, error) {
	if rc.URL == "" {
		return h, nil
	}
	pw, err := config.ReadSecret(rc.Password, rc.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("handle.schema_registry.password_file: %w", err)
	}
	tok, err := config.ReadSecret(rc.Token, rc.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("handle.schema_registry.token_file: %w", err)
	}
	remote, err := schemareg.NewRemote(schemareg.RemoteOptions{URL: string(rc.URL), Username: rc.Username, Password: pw.Reveal(),
		Token: tok.Reveal(), CAFile: rc.CAFile, Logger: logger.With("component", "schema_registry")})
	if err != nil {
		return nil, err
	}
	formats := remote.Formats()
	return consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) ([]consumer.Output, error) {
		if len(r.Value) == 0 || r.Value[0] != 0 {
			return h.Handle(ctx, r)
		}
		js, err := formats.ShowWire(ctx, nil, r.Value)
		if err != nil {
			err = fmt.Errorf("decoding the value with its schema: %w", err)
			if record.KindOf(err) == record.KindUnavailable {
				return nil, err
			}
			return nil, consumer.Malformed(err)
		}
		decoded := *r
		decoded.Value = js
		return h.Handle(ctx, &decoded)
	}), nil
}
