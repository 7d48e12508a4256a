package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/gssapi"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/kafkaport"
	"github.com/kgate/kgate/internal/kafkaport/oauthbearer"
)

// embedded is the embedded broker. Unless kgate runs in open mode it is
// secured: its Kafka port requires SASL, which a guard terminates before
// the broker (see package kafkaport), and the broker enforces the
// permissions as ACLs.
type embedded struct {
	*broker.Broker
	// superuser is kgate's own identity on a secured broker.
	superuser kafka.Credentials
	guard     *kafkaport.Guard       // nil: not secured
	creds     *kafkaport.Credentials // the users' broker credentials
	// tokens checks OAUTHBEARER logins once the policy is loaded (the
	// guard starts before it).
	tokens atomic.Pointer[auth.Service]
	// certs serves the Kafka port's certificate (nil: no TLS).
	certs  *auth.CertReloader
	logger *slog.Logger
}

// kafkaCredentials returns whom kgate's Kafka client connects as:
// kafka.sasl as configured, or, on a secured embedded broker when none is
// configured, auth.broker_acl.superuser with a password generated into the
// data directory on first start.
func kafkaCredentials(cfg config.Config, securedBroker bool) (kafka.Credentials, error) {
	creds, err := kafka.ResolveSASL(cfg.Kafka.SASL)
	if err != nil || creds.Mechanism != "" || !securedBroker {
		return creds, err
	}
	pw, err := brokerSecret(cfg.DataDir)
	if err != nil {
		return kafka.Credentials{}, err
	}
	return kafka.Credentials{Mechanism: "SCRAM-SHA-512", Username: cfg.Auth.BrokerACL.Superuser, Password: config.Secret(pw)}, nil
}

// startEmbedded starts the embedded broker of cfg, secured with superuser
// as kgate's identity unless superuser is zero.
func startEmbedded(cfg config.Config, superuser kafka.Credentials, logger *slog.Logger) (*embedded, error) {
	e := &embedded{superuser: superuser, logger: logger}
	opts := []broker.Opt{
		broker.Listen(cfg.BrokerListen),
		broker.ClusterID(cfg.Broker.ClusterID),
		broker.CompactionInterval(cfg.Broker.CompactionInterval.D()),
		broker.Logger(logger),
	}
	if cfg.Broker.SyncWrites {
		opts = append(opts, broker.SyncWrites())
	}
	if t := cfg.Broker.TLS; t.Enabled() {
		var err error
		e.certs, err = auth.NewCertReloaderFor("Kafka port", nil,
			config.HTTPS{CertFile: t.CertFile, KeyFile: t.KeyFile, ReloadInterval: cfg.Auth.HTTPS.ReloadInterval}, logger)
		if err != nil {
			return nil, fmt.Errorf("broker.tls: %w", err)
		}
	}
	if superuser.Mechanism != "" {
		// kgate provisions the broker's SCRAM users from the users file
		// at every start, so the broker's persisted copy is only a cache;
		// dropping it lets the configured superuser password win over a
		// stale persisted one (kfake prefers persisted credentials). If
		// another kgate holds the directory, broker.Start fails next; that
		// process keeps its credentials in memory and rewrites the file.
		if err := os.Remove(filepath.Join(cfg.DataDir, "kafka", "sasl.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("resetting the embedded broker's SASL state: %w", err)
		}
		secret, err := dataSecret(cfg.DataDir, "kafka-port.secret", "the Kafka port's broker-credential secret")
		if err != nil {
			return nil, err
		}
		e.creds = kafkaport.NewCredentials([]byte(secret))
		mech, _ := config.NormalizeSASLMechanism(superuser.Mechanism)
		extra, err := saslMechanisms(cfg.Broker.SASL, &e.tokens)
		if err != nil {
			return nil, err
		}
		e.guard, err = kafkaport.New(kafkaport.Options{
			Mechanisms:            extra,
			Superuser:             superuser.Username,
			SuperuserPassword:     superuser.Password.Reveal(),
			SuperuserMechanism:    mech,
			SuperuserUnguessable:  cfg.Kafka.SASL.Mechanism == "" && cfg.Kafka.SASL.File == "", // kafkaCredentials generated the password
			Credentials:           e.creds,
			Enabled:               cfg.Broker.SASL.Offered(),
			PlainOverPlaintext:    cfg.Broker.SASL.PlainOverPlaintext,
			TLS:                   e.certs != nil,
			FailuresPerSecond:     cfg.Auth.FailuresPerSecond,
			FailureBurst:          cfg.Auth.FailureBurst,
			UserFailuresPerSecond: cfg.Broker.UserFailuresPerSecond,
			UserFailureBurst:      cfg.Broker.UserFailureBurst,
			MaxConnections:        cfg.Broker.MaxConnections,
			MaxConnectionsPerUser: cfg.Broker.MaxConnectionsPerUser,
			Logger:                logger,
		})
		if err != nil {
			return nil, err
		}
		opts = append(opts, broker.KfakeOpts(auth.BrokerOptions(mech, superuser.Username, superuser.Password.Reveal())...))
	}
	if e.guard != nil || e.certs != nil {
		// TLS first, then the guard: it reads the client's frames above
		// TLS.
		opts = append(opts, broker.WrapListener(func(ln net.Listener) net.Listener {
			if e.certs != nil {
				ln = tls.NewListener(ln, e.certs.TLSConfig())
			}
			if e.guard != nil {
				ln = e.guard.Listener(ln)
			}
			return ln
		}))
	}
	if e.certs == nil {
		// kgate's own client reaches the broker through a Unix socket in
		// the data directory (with TLS on the Kafka port it keeps TLS).
		opts = append(opts, broker.LocalSocket(filepath.Join(cfg.DataDir, localSocket)))
	}
	b, err := broker.Start(cfg.DataDir, opts...)
	if err != nil {
		return nil, err
	}
	e.Broker = b
	logger.Info("embedded broker started", "addr", b.Addr(), "data_dir", cfg.DataDir)
	return e, nil
}

// localSocket is the embedded broker's Unix socket in the data directory.
const localSocket = "broker.sock"

// dial is how kgate's own client reaches e: through its Unix socket when
// it has one (nil: over TCP).
func (e *embedded) dial() func(ctx context.Context, network, host string) (net.Conn, error) {
	if e == nil || e.Local() == "" {
		return nil
	}
	return broker.LocalDialer(e.Addr(), e.Local())
}

// tlsCerts is the Kafka port's certificate reloader (nil without TLS).
func (e *embedded) tlsCerts() *auth.CertReloader {
	if e == nil {
		return nil
	}
	return e.certs
}

// clientTLS is the TLS configuration of kgate's own client of e: nil
// without TLS, else one that accepts only the certificate e serves (kgate
// reaches its own broker at a loopback address the certificate need not
// name).
func (e *embedded) clientTLS() *tls.Config {
	if e == nil || e.certs == nil {
		return nil
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // VerifyConnection pins the certificate in service
		VerifyConnection: func(cs tls.ConnectionState) error {
			cur := e.certs.Certificate()
			if cur == nil || len(cs.PeerCertificates) == 0 || len(cur.Certificate) == 0 ||
				!bytes.Equal(cs.PeerCertificates[0].Raw, cur.Certificate[0]) {
				return errors.New("the embedded broker presented another certificate than broker.tls.cert_file's")
			}
			return nil
		},
	}
}

// secured reports whether e is an embedded broker that requires SASL.
func (e *embedded) secured() bool { return e != nil && e.guard != nil }

// secure prepares a secured broker for kgate's Kafka client kc: the SASL
// handshake is advertised, and the returned function makes the broker's
// SCRAM users and ACLs follow a policy (at start and after each reload).
func (e *embedded) secure(ctx context.Context, kc *kafka.Client) (func(context.Context, *auth.Policy) error, error) {
	if err := kafkaport.AdvertiseSASLHandshakeV0(ctx, e.Cluster(), kc.Kgo()); err != nil {
		return nil, err
	}
	return func(ctx context.Context, pol *auth.Policy) error {
		var extra map[string][]string
		if svc := e.tokens.Load(); svc != nil {
			extra = svc.ExternalPrincipals(time.Now()) // their ACLs stay while they are logged in
		}
		return auth.SyncBroker(ctx, kc.Kgo(), pol, e.superuser.Username, e.creds.SCRAM512, extra, e.logger)
	}, nil
}

// close stops the broker, persisting its state, and unlocks the data
// directory.
func (e *embedded) close() {
	e.Close()
	e.logger.Info("embedded broker stopped")
}

// brokerSecret returns kgate's password on the embedded broker, generated
// into the data directory (mode 0600) on first start.
func brokerSecret(dataDir string) (string, error) {
	return dataSecret(dataDir, "broker-superuser.secret", "the embedded broker's superuser secret")
}

// dataSecret returns the secret in the data directory's file name (at
// least 32 characters), generating 32 random bytes (hex) into it, mode
// 0600, when there is none.
func dataSecret(dataDir, name, what string) (string, error) {
	path := filepath.Join(dataDir, name)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("creating data directory: %w", err)
	}
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", what, err)
	}
	return pw, nil
}

// saslMechanisms are the Kafka port's mechanisms beyond the guard's own:
// OAUTHBEARER with kgate's tokens, checked by tokens once it is set, and
// GSSAPI when Kerberos is configured.
func saslMechanisms(c config.BrokerSASL, tokens *atomic.Pointer[auth.Service]) (map[string]kafkaport.NewSession, error) {
	m := map[string]kafkaport.NewSession{
		oauthbearer.Mechanism: func(c kafkaport.Conn) kafkaport.Session {
			b := &bearerSession{tokens: tokens, ip: c.IP, claim: c.Claim}
			b.s = oauthbearer.Start(b)
			return b
		},
	}
	if k := c.Kerberos; k.Enabled() {
		acc, err := gssapi.New(gssapi.Config{Keytab: k.Keytab, ServicePrincipal: k.ServicePrincipal, Rules: k.PrincipalToLocalRules})
		if err != nil {
			return nil, fmt.Errorf("broker.sasl.kerberos: %w", err)
		}
		m["GSSAPI"] = func(c kafkaport.Conn) kafkaport.Session {
			return &kerberosSession{s: acc.Start(c.IP), claim: c.Claim}
		}
	}
	return m, nil
}

// bearerSession is an OAUTHBEARER exchange carrying one of kgate's tokens
// (from POST /login): the token is checked as over HTTP, and the
// connection lasts while it does (expiry, revocation on any replica, a
// password change: see kafkaport.Lasting).
type bearerSession struct {
	s      *oauthbearer.Session
	tokens *atomic.Pointer[auth.Service]
	ip     netip.Addr
	claim  func(string) error
	p      *auth.Principal // once the token checked out
}

func (b *bearerSession) Step(ctx context.Context, msg []byte) ([]byte, bool, error) {
	// The address's failure limits hold before a token costs a
	// signature check.
	if err := b.claim(""); err != nil {
		return nil, true, err
	}
	reply, done, err := b.s.Step(ctx, msg)
	if err != nil {
		var f *kafkaport.Failure
		if errors.As(err, &f) {
			return nil, true, f
		}
		var ae *auth.Error
		if errors.As(err, &ae) && ae.TokenExpired() {
			return nil, true, kafkaport.TokenExpired("", "OAUTHBEARER: "+ae.Reason)
		}
		name := ""
		if ae != nil {
			name = ae.Name
		}
		return nil, true, kafkaport.BadCredentials(name, "OAUTHBEARER: "+err.Error())
	}
	return reply, done, nil
}

// VerifyBearer is the oauthbearer.Verifier of the session's token.
func (b *bearerSession) VerifyBearer(ctx context.Context, token string) (oauthbearer.Identity, error) {
	svc := b.tokens.Load()
	if svc == nil {
		return oauthbearer.Identity{}, &kafkaport.Failure{Class: kafkaport.ClassUnavailable, Detail: "the gateway is starting; retry.",
			Cause: "the gateway is starting"}
	}
	p, err := svc.BearerPrincipal(ctx, b.ip, token)
	if err != nil {
		return oauthbearer.Identity{}, err
	}
	b.p = p
	return oauthbearer.Identity{User: p.Name, Expires: p.Expires}, nil
}

func (b *bearerSession) User() string { return b.s.User() }

// Expires is the token's expiry.
func (b *bearerSession) Expires() time.Time { return b.s.Expires() }

// Stands re-checks the token's principal: still a user with the same
// password, the token not revoked nor expired, the address allowed.
func (b *bearerSession) Stands(now time.Time) error {
	svc := b.tokens.Load()
	if b.p == nil || svc == nil {
		return errors.New("no token")
	}
	if err := svc.Recheck(b.p, now); err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) {
			return errors.New(ae.Reason)
		}
		return err
	}
	return nil
}

// kerberosSession is a GSSAPI exchange as the guard runs sessions: the
// user is known once the ticket checked out, and is claimed then (its
// failure limits and address rules apply).
type kerberosSession struct {
	s     *gssapi.Session
	claim func(string) error
}

func (k *kerberosSession) Step(ctx context.Context, msg []byte) ([]byte, bool, error) {
	reply, done, err := k.s.Step(ctx, msg)
	if err != nil {
		switch r := gssapi.ReasonOf(err); r {
		case gssapi.ReasonExpired:
			return nil, true, kafkaport.TokenExpired(k.s.User(), "Kerberos: "+err.Error())
		default:
			return nil, true, kafkaport.BadCredentials(k.s.User(), "Kerberos: "+err.Error())
		}
	}
	if done {
		if err := k.claim(k.s.User()); err != nil {
			return nil, true, err
		}
	}
	return reply, done, nil
}

func (k *kerberosSession) User() string { return k.s.User() }

// Expires is the end time of the client's ticket: the connection is
// closed then (the client reconnects with a renewed ticket).
func (k *kerberosSession) Expires() time.Time { return k.s.Expires() }

// Stands refuses a ticket already at its end (the acceptor tolerates the
// clock skew on it).
func (k *kerberosSession) Stands(now time.Time) error {
	if e := k.s.Expires(); !e.IsZero() && !now.Before(e) {
		return errors.New("the Kerberos ticket expired")
	}
	return nil
}
