package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/kgate/kgate/internal/config"
)

// Source fetches recordings. Implementations are safe for concurrent use.
type Source interface {
	// Fetch stores the recording named by ev.Key in a new temporary file
	// and returns it. The caller closes the Blob, which removes the file.
	Fetch(ctx context.Context, ev *Event) (*Blob, error)
	// Name names the source kind for logs and output records ("vault",
	// "s3", "dir").
	Name() string
}

// Blob is a fetched recording in a temporary file.
type Blob struct {
	Path string
	Size int64
}

// Close removes the temporary file.
func (b *Blob) Close() error {
	if b == nil || b.Path == "" {
		return nil
	}
	err := os.Remove(b.Path)
	b.Path = ""
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// ErrTooLarge is returned for a recording larger than the size cap.
var ErrTooLarge = errors.New("recording exceeds the size cap")

// ErrNotFound is returned when the recording does not exist.
var ErrNotFound = errors.New("recording not found")

// StatusError is a storage service's non-success HTTP answer. Its message
// never includes the response body (Vault's 401 body echoes the keys).
type StatusError struct {
	Source string // "vault" or "s3"
	Status int
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s answered HTTP %d %s", e.Source, e.Status, http.StatusText(e.Status))
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		msg += " (credentials rejected; the response body is withheld because it echoes them)"
	}
	return msg
}

// Permanent reports whether a retry cannot help: 4xx answers.
func (e *StatusError) Permanent() bool { return e.Status >= 400 && e.Status < 500 }

// IsPermanent reports whether a fetch error will not go away by retrying:
// 4xx answers, missing or oversized recordings, malformed events.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	if errors.As(err, &p) {
		return p.Permanent()
	}
	return errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrMalformedEvent)
}

// FetchOptions are shared by the sources.
type FetchOptions struct {
	// TempDir holds the temporary files ("" is os.TempDir()).
	TempDir string
	// MaxBytes caps a recording's size (config's handle.vault.max_bytes
	// when zero).
	MaxBytes int64
	// Timeout bounds one download attempt (handle.vault.fetch_timeout
	// when zero).
	Timeout time.Duration
	// Attempts is how often a download is tried on 5xx answers and
	// network errors (handle.vault.fetch_attempts when zero).
	Attempts int
	// Backoff is the first pause between attempts, doubled each time
	// with jitter (default 250ms).
	Backoff time.Duration
}

func (o FetchOptions) withDefaults() FetchOptions {
	d := config.DefaultHandle().Vault // kgate handle's defaults, written once
	if o.MaxBytes <= 0 {
		o.MaxBytes = int64(d.MaxBytes)
	}
	if o.Timeout <= 0 {
		o.Timeout = d.FetchTimeout.D()
	}
	if o.Attempts <= 0 {
		o.Attempts = d.FetchAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	return o
}

// save streams r into a new temporary file, refusing more than max bytes.
func save(r io.Reader, dir, key string, max int64) (*Blob, error) {
	ext := path.Ext(key)
	if len(ext) > 8 || strings.ContainsAny(ext, `/\*`) {
		ext = ""
	}
	f, err := os.CreateTemp(dir, "kgate-recording-*"+ext)
	if err != nil {
		return nil, fmt.Errorf("creating temporary file: %w", err)
	}
	b := &Blob{Path: f.Name()}
	n, err := io.Copy(f, io.LimitReader(r, max+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > max {
		err = fmt.Errorf("%w (%d bytes)", ErrTooLarge, max)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	b.Size = n
	return b, nil
}

// withRetries runs fn up to attempts times while it fails with an error
// that is not permanent, sleeping an exponentially growing, jittered
// pause in between.
func withRetries(ctx context.Context, o FetchOptions, fn func(ctx context.Context) error) error {
	var err error
	pause := o.Backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, o.Timeout)
		err = fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil || IsPermanent(err) || attempt >= o.Attempts {
			return err
		}
		jittered := pause/2 + time.Duration(rand.Int64N(int64(pause)))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(jittered):
		}
		pause *= 2
	}
}
