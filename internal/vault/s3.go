package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/kgate/kgate/internal/config"
)

// S3 fetches recordings straight from the S3-compatible bucket Vault
// stores them in (AWS S3, MinIO, ...), bypassing Vault. It is safe for
// concurrent use.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
	opts   FetchOptions
	logger *slog.Logger
}

// S3Options configure NewS3.
type S3Options struct {
	// Endpoint is the service URL (empty: AWS for Region).
	Endpoint string
	// Region defaults to us-east-1.
	Region string
	Bucket string
	// Prefix is put before every key (a "/" is added if missing).
	Prefix          string
	AccessKeyID     config.Secret
	SecretAccessKey config.Secret
	// PathStyle addresses buckets as endpoint/bucket/key (MinIO and most
	// S3-compatible stores need it).
	PathStyle bool
	Fetch     FetchOptions
	// HTTPClient replaces the SDK's default client (tests).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// NewS3 checks the options and returns a source.
func NewS3(o S3Options) (*S3, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3 bucket is required")
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3 endpoint must be an absolute http(s) URL, got %q", o.Endpoint)
		}
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return nil, errors.New("s3 access key id and secret access key must be set together")
	}
	region := o.Region
	if region == "" {
		region = "us-east-1"
	}
	fo := o.Fetch.withDefaults()
	so := s3.Options{
		Region:       region,
		UsePathStyle: o.PathStyle,
		// The SDK's standard retryer retries 5xx, throttling and
		// network errors, never other 4xx.
		Retryer: retry.NewStandard(func(ro *retry.StandardOptions) {
			ro.MaxAttempts = fo.Attempts
			ro.MaxBackoff = 8 * fo.Backoff
			ro.Backoff = retry.NewExponentialJitterBackoff(ro.MaxBackoff)
		}),
	}
	if o.Endpoint != "" {
		so.BaseEndpoint = aws.String(o.Endpoint)
	}
	if o.AccessKeyID != "" {
		so.Credentials = credentials.NewStaticCredentialsProvider(o.AccessKeyID.Reveal(), o.SecretAccessKey.Reveal(), "")
	} else {
		so.Credentials = aws.AnonymousCredentials{}
	}
	if o.HTTPClient != nil {
		so.HTTPClient = o.HTTPClient
	}
	prefix := o.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &S3{client: s3.New(so), bucket: o.Bucket, prefix: prefix, opts: fo, logger: logger}, nil
}

// Name implements Source.
func (*S3) Name() string { return "s3" }

// Fetch implements Source.
func (s *S3) Fetch(ctx context.Context, ev *Event) (*Blob, error) {
	key := s.prefix + ev.Key
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("fetching s3://%s/%s: %w", s.bucket, key, s3Error(err))
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > s.opts.MaxBytes {
		return nil, fmt.Errorf("s3://%s/%s: %w (%d bytes)", s.bucket, key, ErrTooLarge, *out.ContentLength)
	}
	b, err := save(out.Body, s.opts.TempDir, ev.Key, s.opts.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s: %w", s.bucket, key, err)
	}
	return b, nil
}

// s3Error maps SDK errors onto this package's: a missing key is
// ErrNotFound, other HTTP answers a StatusError (without the body).
func s3Error(err error) error {
	var nsk *types.NoSuchKey
	var nsb *types.NoSuchBucket
	if errors.As(err, &nsk) || errors.As(err, &nsb) {
		return ErrNotFound
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		if re.HTTPStatusCode() == http.StatusNotFound {
			return ErrNotFound
		}
		return &StatusError{Source: "s3", Status: re.HTTPStatusCode()}
	}
	return err
}
