package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kgate/kgate/internal/config"
)

// CertReloader serves the HTTPS listener's certificate and client CAs from
// files and reloads them when they change (checked every reload interval)
// or on Reload (SIGHUP). A file that fails to load keeps the previous
// certificate in service. It is safe for concurrent use.
type CertReloader struct {
	cfg    config.HTTPS
	logger *slog.Logger
	what   string   // names the listener in errors and logs
	protos []string // ALPN protocols offered

	state atomic.Pointer[tlsState]

	mu    sync.Mutex // serializes reloads
	stamp string     // sizes and mtimes of the files last loaded
}

type tlsState struct {
	cert *tls.Certificate
	cas  *x509.CertPool // nil: no client certificates
}

// NewCertReloader loads the files once; an error here stops startup.
func NewCertReloader(cfg config.HTTPS, logger *slog.Logger) (*CertReloader, error) {
	return NewCertReloaderFor("HTTPS", []string{"h2", "http/1.1"}, cfg, logger)
}

// NewCertReloaderFor is NewCertReloader for another listener: what names
// it in errors and logs (say, "Kafka port"), protos are its ALPN
// protocols (none for Kafka).
func NewCertReloaderFor(what string, protos []string, cfg config.HTTPS, logger *slog.Logger) (*CertReloader, error) {
	c := &CertReloader{cfg: cfg, logger: logger, what: what, protos: protos}
	if err := c.load(true); err != nil {
		return nil, err
	}
	return c, nil
}

// Certificate returns the certificate in service.
func (c *CertReloader) Certificate() *tls.Certificate {
	if st := c.state.Load(); st != nil {
		return st.cert
	}
	return nil
}

func (c *CertReloader) files() []string {
	fs := []string{c.cfg.CertFile, c.cfg.KeyFile}
	if c.cfg.ClientCAFile != "" {
		fs = append(fs, c.cfg.ClientCAFile)
	}
	return fs
}

func (c *CertReloader) currentStamp() string {
	var b strings.Builder
	for _, f := range c.files() {
		fi, err := os.Stat(f)
		if err != nil {
			b.WriteString("missing;")
			continue
		}
		fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

func (c *CertReloader) load(force bool) error {
	_, err := c.loadChanged(force)
	return err
}

// loadChanged loads the files if they changed (or force) and reports
// whether it did.
func (c *CertReloader) loadChanged(force bool) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp := c.currentStamp()
	if !force && stamp == c.stamp {
		return false, nil
	}
	cert, err := tls.LoadX509KeyPair(c.cfg.CertFile, c.cfg.KeyFile)
	if err != nil {
		return false, fmt.Errorf("loading %s certificate: %w", c.what, err)
	}
	st := &tlsState{cert: &cert}
	if c.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(c.cfg.ClientCAFile)
		if err != nil {
			return false, fmt.Errorf("reading client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return false, fmt.Errorf("client CA file %s holds no PEM certificates", c.cfg.ClientCAFile)
		}
		st.cas = pool
	}
	c.state.Store(st)
	c.stamp = stamp
	return true, nil
}

// Reload reloads the files now if they changed since the last load.
func (c *CertReloader) Reload() error {
	changed, err := c.loadChanged(false)
	if err != nil {
		c.logger.Error(c.what+" certificate reload failed; the previous certificate stays in service", "err", err)
		return err
	}
	if changed {
		c.logger.Info(c.what+" certificate reloaded", "cert_file", c.cfg.CertFile)
	}
	return nil
}

// Run checks the files every reload interval until ctx is done.
func (c *CertReloader) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.ReloadInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = c.Reload()
		}
	}
}

// TLSConfig returns the listener's configuration: TLS 1.2 or later, the
// current certificate, and client certificates verified against the
// current CAs when a client CA file is configured.
func (c *CertReloader) TLSConfig() *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: c.protos}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		st := c.state.Load()
		if st == nil {
			return nil, errors.New("no certificate loaded")
		}
		cfg := &tls.Config{
			MinVersion:   tls.VersionTLS12,
			NextProtos:   c.protos,
			Certificates: []tls.Certificate{*st.cert},
		}
		if st.cas != nil {
			cfg.ClientCAs = st.cas
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
			if c.cfg.ClientAuth == "require" {
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
			}
		}
		return cfg, nil
	}
	return base
}
