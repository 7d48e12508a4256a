// Package kafka is kgate's thin layer over franz-go: client construction
// (seeds, TLS, SASL, logging), the gateway's shared idempotent producer,
// explicit topic creation and a topic-metadata cache.
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/kgate/kgate/internal/config"
)

// Credentials are resolved SASL credentials.
type Credentials struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty for none
	Username  string
	Password  config.Secret
}

// ResolveSASL reads the SASL credentials of s: inline, from password_file,
// or from a KastleX-style file (username, password, mechanism).
func ResolveSASL(s config.SASL) (Credentials, error) {
	if s.File != "" {
		b, err := os.ReadFile(s.File)
		if err != nil {
			return Credentials{}, fmt.Errorf("reading SASL file: %w", err)
		}
		var f struct {
			Username  string        `yaml:"username"`
			Password  config.Secret `yaml:"password"`
			Mechanism string        `yaml:"mechanism"`
		}
		if err := config.Decode(s.File, b, &f); err != nil {
			return Credentials{}, fmt.Errorf("SASL file: %w", err)
		}
		if f.Mechanism == "" {
			f.Mechanism = "plain" // KastleX's default
		}
		mech, ok := config.NormalizeSASLMechanism(f.Mechanism)
		if !ok {
			return Credentials{}, fmt.Errorf("SASL file %s: unknown mechanism %q", s.File, f.Mechanism)
		}
		if f.Username == "" || f.Password == "" {
			return Credentials{}, fmt.Errorf("SASL file %s: username and password are required", s.File)
		}
		return Credentials{Mechanism: mech, Username: f.Username, Password: f.Password}, nil
	}
	if s.Mechanism == "" {
		return Credentials{}, nil
	}
	mech, ok := config.NormalizeSASLMechanism(s.Mechanism)
	if !ok {
		return Credentials{}, fmt.Errorf("unknown SASL mechanism %q", s.Mechanism)
	}
	pw, err := config.ReadSecret(s.Password, s.PasswordFile)
	if err != nil {
		return Credentials{}, fmt.Errorf("SASL password: %w", err)
	}
	return Credentials{Mechanism: mech, Username: s.Username, Password: pw}, nil
}

func (c Credentials) saslMechanism() sasl.Mechanism {
	switch c.Mechanism {
	case "PLAIN":
		return plain.Auth{User: c.Username, Pass: c.Password.Reveal()}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: c.Username, Pass: c.Password.Reveal()}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.Username, Pass: c.Password.Reveal()}.AsSha512Mechanism()
	}
	return nil
}

// TLSConfig builds the client TLS configuration of t, or nil when TLS is
// off.
func TLSConfig(t config.TLS) (*tls.Config, error) {
	if !t.Enabled && t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificates", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// ConnOpts returns the franz-go options that connect to brokers as k says:
// seeds, client id, TLS, SASL and logging through slog.
func ConnOpts(brokers []string, k config.Kafka, logger *slog.Logger) ([]kgo.Opt, error) {
	if len(brokers) == 0 {
		return nil, errors.New("no brokers")
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(k.ClientID),
	}
	if logger != nil {
		opts = append(opts, kgo.WithLogger(kslog.New(logger.With("component", "kafka"))))
	}
	tc, err := TLSConfig(k.TLS)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	creds, err := ResolveSASL(k.SASL)
	if err != nil {
		return nil, err
	}
	if m := creds.saslMechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}
