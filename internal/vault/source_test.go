package vault

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/vault/vaulttest"
)

const (
	testAccessKey = "AK-visible-in-401-body-7f3a"
	testSecretKey = "SK-must-never-be-logged-91c2"
)

var fastFetch = FetchOptions{Attempts: 3, Backoff: time.Millisecond, Timeout: 5 * time.Second}

func readBlob(t *testing.T, b *Blob) []byte {
	t.Helper()
	got, err := os.ReadFile(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBlobAPI(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("recording-bytes "), 4096)
	const key = "acc/1606164482_6-818812_cam_1-2-3-4_5_6.mp4"
	tests := []struct {
		name       string
		ak, sk     string
		ev         Event
		failN      int
		failStatus int
		max        int64
		wantErr    error // nil: success
		permanent  bool
		requests   int64
	}{
		{name: "ok", ak: testAccessKey, sk: testSecretKey, ev: Event{Source: "gcp", Key: key}, requests: 1},
		{name: "5xx retried", ak: testAccessKey, sk: testSecretKey, ev: Event{Source: "gcp", Key: key}, failN: 2, failStatus: 503, requests: 3},
		{name: "5xx exhausted", ak: testAccessKey, sk: testSecretKey, ev: Event{Source: "gcp", Key: key}, failN: 5, failStatus: 502,
			wantErr: &StatusError{}, requests: 3},
		{name: "bad keys not retried", ak: "wrong-" + testAccessKey, sk: "wrong-" + testSecretKey, ev: Event{Source: "gcp", Key: key},
			wantErr: &StatusError{}, permanent: true, requests: 1},
		{name: "missing file not retried", ak: testAccessKey, sk: testSecretKey, ev: Event{Source: "gcp", Key: "nope.mp4"},
			wantErr: &StatusError{}, permanent: true, requests: 1},
		{name: "wrong provider", ak: testAccessKey, sk: testSecretKey, ev: Event{Source: "kstorage", Key: key},
			wantErr: &StatusError{}, permanent: true, requests: 1},
		{name: "429 not retried", ak: testAccessKey, sk: testSecretKey, ev: Event{Source: "gcp", Key: key}, failN: 1, failStatus: 429,
			wantErr: &StatusError{}, permanent: true, requests: 1},
		{name: "too large", ak: testAccessKey, sk: testSecretKey, ev: Event{Source: "gcp", Key: key}, max: 1000,
			wantErr: ErrTooLarge, permanent: true, requests: 1},
		{name: "no source", ak: testAccessKey, sk: testSecretKey, ev: Event{Key: key}, wantErr: ErrMalformedEvent, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := vaulttest.New(t, testAccessKey, testSecretKey)
			srv.Put("gcp", key, content)
			srv.FailNext(tt.failN, tt.failStatus)
			var logs bytes.Buffer
			fo := fastFetch
			fo.TempDir = t.TempDir()
			fo.MaxBytes = tt.max
			c, err := NewBlobAPI(BlobAPIOptions{
				URL: srv.URL, AccessKey: config.Secret(tt.ak), SecretAccessKey: config.Secret(tt.sk), Fetch: fo,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.Fetch(t.Context(), &tt.ev)
			if got := srv.Requests.Load(); got != tt.requests {
				t.Errorf("requests = %d, want %d", got, tt.requests)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				if !bytes.Equal(readBlob(t, b), content) || b.Size != int64(len(content)) {
					t.Fatalf("content differs (%d bytes)", b.Size)
				}
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				if entries, _ := os.ReadDir(fo.TempDir); len(entries) != 0 {
					t.Errorf("temporary files left: %v", entries)
				}
				return
			}
			if err == nil {
				b.Close()
				t.Fatal("no error")
			}
			var se *StatusError
			if _, ok := tt.wantErr.(*StatusError); ok && !errors.As(err, &se) {
				t.Fatalf("err = %v, want a StatusError", err)
			} else if !ok && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, !tt.permanent, tt.permanent)
			}
			// Vault's 401 body echoes the keys: neither the error nor
			// the logs may contain them.
			for _, secret := range []string{tt.ak, tt.sk, testAccessKey, testSecretKey} {
				if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
					t.Errorf("a key leaked:\nerr: %v\nlogs: %s", err, logs.String())
				}
			}
			if entries, _ := os.ReadDir(fo.TempDir); len(entries) != 0 {
				t.Errorf("temporary files left: %v", entries)
			}
		})
	}
}

func TestBlobAPITimeoutRetried(t *testing.T) {
	t.Parallel()
	var calls int
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			select { // hang until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Write([]byte("ok"))
	}))
	defer ts.Close()
	defer close(release)
	fo := FetchOptions{Attempts: 2, Backoff: time.Millisecond, Timeout: 200 * time.Millisecond, TempDir: t.TempDir()}
	c, err := NewBlobAPI(BlobAPIOptions{URL: ts.URL + "/api", AccessKey: "a", SecretAccessKey: "b", Fetch: fo})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Fetch(t.Context(), &Event{Source: "p", Key: "k.mp4"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := string(readBlob(t, b)); got != "ok" || calls != 2 {
		t.Fatalf("got %q after %d calls", got, calls)
	}
}

func TestNewBlobAPIErrors(t *testing.T) {
	t.Parallel()
	for _, o := range []BlobAPIOptions{
		{URL: "vault.example.com", AccessKey: "a", SecretAccessKey: "b"},
		{URL: "ftp://vault.example.com", AccessKey: "a", SecretAccessKey: "b"},
		{URL: "https://u:p@vault.example.com", AccessKey: "a", SecretAccessKey: "b"},
		{URL: "https://vault.example.com"},
	} {
		if _, err := NewBlobAPI(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestS3(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	faker := gofakes3.New(backend)
	ts := httptest.NewServer(faker.Server())
	defer ts.Close()

	// Upload with the SDK itself, as Vault would.
	up := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("id", "secret", ""),
	})
	ctx := t.Context()
	if _, err := up.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("recordings")}); err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte{1, 2, 3, 4}, 10000)
	if _, err := up.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("recordings"), Key: aws.String("vault/acc/clip.mp4"),
		Body: bytes.NewReader(content)}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		prefix  string
		key     string
		max     int64
		wantErr error
	}{
		{name: "ok", prefix: "vault", key: "acc/clip.mp4"},
		{name: "prefix with slash", prefix: "vault/", key: "acc/clip.mp4"},
		{name: "missing", prefix: "vault", key: "acc/none.mp4", wantErr: ErrNotFound},
		{name: "too large", prefix: "vault", key: "acc/clip.mp4", max: 100, wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fo := fastFetch
			fo.TempDir = t.TempDir()
			fo.MaxBytes = tt.max
			src, err := NewS3(S3Options{Endpoint: ts.URL, Bucket: "recordings", Prefix: tt.prefix, PathStyle: true,
				AccessKeyID: "id", SecretAccessKey: "secret", Fetch: fo})
			if err != nil {
				t.Fatal(err)
			}
			b, err := src.Fetch(t.Context(), &Event{Key: tt.key})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !IsPermanent(err) {
					t.Fatalf("err = %v, want permanent %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if !bytes.Equal(readBlob(t, b), content) {
				t.Fatal("content differs")
			}
		})
	}
}

func TestS3ServerErrorRetried(t *testing.T) {
	t.Parallel()
	var calls int
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Length", "2")
		w.Write([]byte("ok"))
	}))
	defer ts.Close()
	fo := fastFetch
	fo.TempDir = t.TempDir()
	src, err := NewS3(S3Options{Endpoint: ts.URL, Bucket: "b", PathStyle: true, Fetch: fo})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Fetch(t.Context(), &Event{Key: "k"})
	if err != nil {
		t.Fatalf("after %d calls: %v", calls, err)
	}
	defer b.Close()
	if calls != 3 {
		t.Errorf("calls = %d, want 3", calls)
	}
}

func TestDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "acc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "acc", "clip.mp4"), []byte("video"), 0o600)
	os.WriteFile(filepath.Join(outside, "secret.mp4"), []byte("secret"), 0o600)
	os.Symlink(filepath.Join(outside, "secret.mp4"), filepath.Join(root, "acc", "link.mp4"))
	os.Symlink(outside, filepath.Join(root, "out"))

	tests := []struct {
		key     string
		max     int64
		want    string
		wantErr error
	}{
		{key: "acc/clip.mp4", want: "video"},
		{key: "acc/missing.mp4", wantErr: ErrNotFound},
		{key: "acc", wantErr: ErrNotFound},
		{key: "acc/link.mp4", wantErr: ErrNotFound},
		{key: "out/secret.mp4", wantErr: ErrNotFound},
		{key: "../secret.mp4", wantErr: ErrMalformedEvent},
		{key: "acc/clip.mp4", max: 2, wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			fo := fastFetch
			fo.TempDir = t.TempDir()
			fo.MaxBytes = tt.max
			d, err := NewDir(root, fo)
			if err != nil {
				t.Fatal(err)
			}
			b, err := d.Fetch(context.Background(), &Event{Key: tt.key})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !IsPermanent(err) {
					t.Fatalf("err = %v, want permanent %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := string(readBlob(t, b)); got != tt.want {
				t.Fatalf("got %q", got)
			}
		})
	}
}
