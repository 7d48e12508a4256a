package consumer

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/tracing"
)

// Webhook request headers.
const (
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of the
	// body under the shared secret (GitHub's webhook convention).
	HeaderSignature = "X-Kgate-Signature-256"
	// HeaderDelivery identifies the record (topic/partition/offset); it
	// is the same on every retry, so receivers can drop duplicates.
	HeaderDelivery = "X-Kgate-Delivery"
)

// Webhook is the webhook handler: it POSTs each record's value to a URL,
// signed with HMAC-SHA256. A 2xx answer is success (a non-empty body is
// the output record); 429 and 5xx answers and network errors are retried
// (429's Retry-After is honoured); any other answer is permanent and
// dead-letters the record. Redirects are not followed. It is safe for
// concurrent use.
type Webhook struct {
	url     string
	secret  config.Secret
	client  *http.Client
	maxBody int64
}

// WebhookOptions configure NewWebhook.
type WebhookOptions struct {
	URL string
	// Secret keys the HMAC signature (required).
	Secret config.Secret
	// Timeout bounds one request (config's handle.webhook.timeout when
	// zero).
	Timeout time.Duration
	// MaxResponse caps the response body kept as output (default 8 MiB).
	MaxResponse int64
	// Transport replaces the default transport (tests).
	Transport http.RoundTripper
}

// NewWebhook checks o and returns the handler.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook url must be an absolute http(s) URL, got %q", o.URL)
	}
	if o.Secret == "" {
		return nil, errors.New("webhook secret is required (it signs every request)")
	}
	setDefault(&o.Timeout, config.DefaultHandle().Webhook.Timeout.D())
	if o.MaxResponse <= 0 {
		o.MaxResponse = 8 << 20
	}
	tr := o.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: o.Timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   64,
			ForceAttemptHTTP2:     true,
		}
	}
	return &Webhook{
		url:    u.String(),
		secret: o.Secret,
		client: &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		maxBody: o.MaxResponse,
	}, nil
}

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Handle implements Handler.
func (wh *Webhook) Handle(ctx context.Context, r *kgo.Record) ([]Output, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.url, bytes.NewReader(r.Value))
	if err != nil {
		return nil, Permanent(err)
	}
	tracing.Inject(ctx, req.Header) // the receiver continues the record's trace
	ct := "application/octet-stream"
	if json.Valid(r.Value) {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "kgate-webhook")
	req.Header.Set(HeaderSignature, Sign([]byte(wh.secret.Reveal()), r.Value))
	req.Header.Set(HeaderDelivery, r.Topic+"/"+strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10))
	req.Header.Set("X-Kgate-Topic", r.Topic)
	req.Header.Set("X-Kgate-Partition", strconv.Itoa(int(r.Partition)))
	req.Header.Set("X-Kgate-Offset", strconv.FormatInt(r.Offset, 10))
	if r.Key != nil {
		req.Header.Set("X-Kgate-Key", base64.StdEncoding.EncodeToString(r.Key))
	}
	resp, err := wh.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("webhook POST: %w", err) // network: retried
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		body, err := io.ReadAll(io.LimitReader(resp.Body, wh.maxBody+1))
		if err != nil {
			return nil, fmt.Errorf("webhook: reading response: %w", err)
		}
		if int64(len(body)) > wh.maxBody {
			return nil, Permanent(fmt.Errorf("webhook: response exceeds %d bytes", wh.maxBody))
		}
		if len(body) == 0 {
			return nil, nil
		}
		return []Output{{Value: body}}, nil
	case resp.StatusCode == http.StatusTooManyRequests:
		drain(resp.Body)
		return nil, RetryAfter(fmt.Errorf("webhook answered %d", resp.StatusCode), retryAfter(resp.Header.Get("Retry-After")))
	case resp.StatusCode >= 500:
		drain(resp.Body)
		return nil, fmt.Errorf("webhook answered %d", resp.StatusCode)
	default:
		drain(resp.Body)
		return nil, Permanent(fmt.Errorf("webhook answered %d", resp.StatusCode))
	}
}

func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10)) }

// retryAfter parses a Retry-After value (seconds or an HTTP date).
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
