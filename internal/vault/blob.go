package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kgate/kgate/internal/config"
)

// BlobAPI fetches recordings through Vault's GET /api/storage/blob. It is
// safe for concurrent use.
type BlobAPI struct {
	endpoint  string
	accessKey config.Secret
	secretKey config.Secret
	http      *http.Client
	opts      FetchOptions
	logger    *slog.Logger
}

// BlobAPIOptions configure NewBlobAPI.
type BlobAPIOptions struct {
	// URL is Vault's address: its API base (https://vault.example.com/api)
	// or the site (https://vault.example.com), to which /api is added.
	URL             string
	AccessKey       config.Secret
	SecretAccessKey config.Secret
	Fetch           FetchOptions
	// Transport replaces the default HTTP transport (tests).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// NewBlobAPI checks the options and returns a client.
func NewBlobAPI(o BlobAPIOptions) (*BlobAPI, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("vault url must be an absolute http(s) URL, got %q", o.URL)
	}
	if u.User != nil {
		return nil, errors.New("vault url must not carry credentials")
	}
	if o.AccessKey == "" || o.SecretAccessKey == "" {
		return nil, errors.New("vault access key and secret access key are required")
	}
	base := strings.TrimRight(u.String(), "/")
	if !strings.HasSuffix(base, "/api") {
		base += "/api"
	}
	tr := o.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
			ForceAttemptHTTP2:     true,
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &BlobAPI{
		endpoint:  base + "/storage/blob",
		accessKey: o.AccessKey,
		secretKey: o.SecretAccessKey,
		// Redirects would replay the key headers to another host.
		http: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		opts:   o.Fetch.withDefaults(),
		logger: logger,
	}, nil
}

// Name implements Source.
func (*BlobAPI) Name() string { return "vault" }

// Fetch implements Source: it sends the four X-Kerberos-Storage-* headers
// (the event's source as the provider) and streams the answer to a
// temporary file. 5xx answers and network errors are retried; 4xx are not.
func (c *BlobAPI) Fetch(ctx context.Context, ev *Event) (*Blob, error) {
	if ev.Source == "" {
		return nil, fmt.Errorf("%w: no source (the storage provider name) to fetch from vault", ErrMalformedEvent)
	}
	var blob *Blob
	attempt := 0
	err := withRetries(ctx, c.opts, func(ctx context.Context) error {
		attempt++
		b, err := c.fetchOnce(ctx, ev)
		if err != nil {
			c.logger.Debug("vault fetch failed", "key", ev.Key, "provider", ev.Source, "attempt", attempt, "err", err)
			return err
		}
		blob = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fetching %q from vault: %w", ev.Key, err)
	}
	return blob, nil
}

func (c *BlobAPI) fetchOnce(ctx context.Context, ev *Event) (*Blob, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Kerberos-Storage-FileName", ev.Key)
	req.Header.Set("X-Kerberos-Storage-Provider", ev.Source)
	req.Header.Set("X-Kerberos-Storage-AccessKey", c.accessKey.Reveal())
	req.Header.Set("X-Kerberos-Storage-SecretAccessKey", c.secretKey.Reveal())
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; never keep
		// the body: on 401 Vault echoes the submitted keys.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, &StatusError{Source: "vault", Status: resp.StatusCode}
	}
	if resp.ContentLength > c.opts.MaxBytes {
		return nil, fmt.Errorf("%w (%d bytes announced)", ErrTooLarge, resp.ContentLength)
	}
	// A body shorter than its Content-Length fails the copy with
	// io.ErrUnexpectedEOF, which is retried.
	return save(resp.Body, c.opts.TempDir, ev.Key, c.opts.MaxBytes)
}
