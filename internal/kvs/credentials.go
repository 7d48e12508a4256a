package kvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// RefreshWindow is how long before they expire refreshable credentials are
// renewed (as the seed's credentials handler does).
const RefreshWindow = 2 * time.Minute

// MaxFileValidity caps how long credentials read from a credentials file
// are trusted before the file is read again, like the KVS producer SDK's
// 40-minute enforced rotation. It also makes the static three-field form
// re-read periodically.
const MaxFileValidity = 40 * time.Minute

// Credential sources accepted by CredentialOptions.Source.
const (
	SourceAuto   = "auto"
	SourceStatic = "static"
	SourceEnv    = "env"
	SourceFile   = "file"
	SourceChain  = "chain"
)

// Sources lists the valid credential sources.
var Sources = []string{SourceAuto, SourceStatic, SourceEnv, SourceFile, SourceChain}

// ErrNoCredentials reports a credential source that yields nothing.
var ErrNoCredentials = errors.New("no AWS credentials")

// MaskKey shows enough of an access key id to tell keys apart in logs (its
// first four characters) and hides the rest.
func MaskKey(s string) string {
	if len(s) < 12 {
		return "****"
	}
	return s[:4] + "****"
}

// StaticProvider returns fixed keys. Its String, GoString and LogValue
// never show them. It is safe for concurrent use.
type StaticProvider struct {
	creds aws.Credentials
}

// NewStaticProvider returns a provider of fixed keys.
func NewStaticProvider(accessKeyID, secretAccessKey, sessionToken string) StaticProvider {
	return StaticProvider{creds: aws.Credentials{
		AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey, SessionToken: sessionToken,
		Source: "kgate static credentials",
	}}
}

// Retrieve implements aws.CredentialsProvider.
func (p StaticProvider) Retrieve(context.Context) (aws.Credentials, error) {
	if p.creds.AccessKeyID == "" || p.creds.SecretAccessKey == "" {
		return aws.Credentials{}, fmt.Errorf("%w: static access key id or secret access key is empty", ErrNoCredentials)
	}
	return p.creds, nil
}

func (p StaticProvider) String() string {
	return "static credentials (access key " + MaskKey(p.creds.AccessKeyID) + ")"
}

// GoString implements fmt.GoStringer without the keys.
func (p StaticProvider) GoString() string { return p.String() }

// LogValue implements slog.LogValuer without the keys.
func (p StaticProvider) LogValue() slog.Value { return slog.StringValue(p.String()) }

// EnvProvider reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN on every Retrieve. It is safe for concurrent use if
// Getenv is.
type EnvProvider struct {
	Getenv func(string) string
}

// Retrieve implements aws.CredentialsProvider.
func (p EnvProvider) Retrieve(context.Context) (aws.Credentials, error) {
	get := p.Getenv
	if get == nil {
		get = os.Getenv
	}
	ak := get("AWS_ACCESS_KEY_ID")
	if ak == "" {
		ak = get("AWS_ACCESS_KEY")
	}
	sk := get("AWS_SECRET_ACCESS_KEY")
	if sk == "" {
		sk = get("AWS_SECRET_KEY")
	}
	if ak == "" || sk == "" {
		return aws.Credentials{}, fmt.Errorf("%w: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set", ErrNoCredentials)
	}
	return aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk, SessionToken: get("AWS_SESSION_TOKEN"), Source: "environment"}, nil
}

func (p EnvProvider) String() string { return "environment credentials" }

// FileCredentials is the content of a KVS producer credentials file.
type FileCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expiry is zero for the static three-field form.
	Expiry time.Time
}

// maxCredentialsFile bounds the file (the producer SDK allows 10 KB).
const maxCredentialsFile = 10 << 10

// ErrInvalidCredentialsFile reports a credentials file that is not in the
// producer's format. Its messages never contain the file's fields.
var ErrInvalidCredentialsFile = errors.New("invalid KVS credentials file")

// ParseCredentialsFile parses the KVS producer credentials format: one
// whitespace-separated line "CREDENTIALS <access key> <expiry> <secret>
// <token>", or "CREDENTIALS <access key> <secret>" for static keys. The
// expiry is UTC in %Y-%m-%dT%H:%M:%SZ (any RFC 3339 time is accepted).
// Errors never quote the fields, which are secrets.
func ParseCredentialsFile(b []byte) (FileCredentials, error) {
	if len(b) > maxCredentialsFile {
		return FileCredentials{}, fmt.Errorf("%w: larger than %d bytes", ErrInvalidCredentialsFile, maxCredentialsFile)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return FileCredentials{}, fmt.Errorf("%w: empty", ErrInvalidCredentialsFile)
	}
	if f[0] != "CREDENTIALS" {
		return FileCredentials{}, fmt.Errorf("%w: does not start with CREDENTIALS", ErrInvalidCredentialsFile)
	}
	var fc FileCredentials
	switch len(f) {
	case 3:
		fc.AccessKeyID, fc.SecretAccessKey = f[1], f[2]
	case 4, 5:
		fc.AccessKeyID, fc.SecretAccessKey = f[1], f[3]
		if len(f) == 5 {
			fc.SessionToken = f[4]
		}
		t, err := time.Parse("2006-01-02T15:04:05Z", f[2])
		if err != nil {
			t, err = time.Parse(time.RFC3339, f[2])
		}
		if err != nil {
			return FileCredentials{}, fmt.Errorf("%w: the expiry (third field) is not a time like 2006-01-02T15:04:05Z", ErrInvalidCredentialsFile)
		}
		fc.Expiry = t.UTC()
	default:
		return FileCredentials{}, fmt.Errorf("%w: want 3 fields (CREDENTIALS, access key, secret) or 5 (CREDENTIALS, access key, expiry, secret, token), got %d", ErrInvalidCredentialsFile, len(f))
	}
	return fc, nil
}

// FileProvider reads a KVS producer credentials file. Each Retrieve reads
// the file again; wrap it with Refreshing so that it is read when the
// credentials are two minutes from their expiry (or MaxFileValidity after
// the last read). If a re-read fails while the previous credentials are
// still valid, those are kept (a writer may be rewriting the file). It is
// safe for concurrent use.
type FileProvider struct {
	Path string
	// Now is time.Now unless a test sets it.
	Now func() time.Time
	// Logger receives a line when the file yields new keys; may be nil.
	Logger *slog.Logger

	mu         sync.Mutex
	last       aws.Credentials
	lastExpiry time.Time
}

func (p *FileProvider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Retrieve implements aws.CredentialsProvider.
func (p *FileProvider) Retrieve(context.Context) (aws.Credentials, error) {
	b, err := readLimited(p.Path, maxCredentialsFile)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("reading KVS credentials file %s: %w", p.Path, err)
	}
	fc, err := ParseCredentialsFile(b)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("KVS credentials file %s: %w", p.Path, err)
	}
	now := p.now()
	expires := now.Add(MaxFileValidity)
	if !fc.Expiry.IsZero() {
		if !fc.Expiry.After(now) {
			return aws.Credentials{}, fmt.Errorf("KVS credentials file %s: credentials expired at %s", p.Path, fc.Expiry.Format(time.RFC3339))
		}
		if fc.Expiry.Before(expires) {
			expires = fc.Expiry
		}
	}
	c := aws.Credentials{
		AccessKeyID: fc.AccessKeyID, SecretAccessKey: fc.SecretAccessKey, SessionToken: fc.SessionToken,
		Source: "KVS credentials file", CanExpire: true, Expires: expires,
	}
	p.mu.Lock()
	changed := p.last.AccessKeyID != c.AccessKeyID || p.last.SecretAccessKey != c.SecretAccessKey || p.last.SessionToken != c.SessionToken
	p.last, p.lastExpiry = c, expires
	p.mu.Unlock()
	if p.Logger != nil {
		level := slog.LevelDebug
		if changed {
			level = slog.LevelInfo
		}
		var declared any = "none (static form)"
		if !fc.Expiry.IsZero() {
			declared = fc.Expiry
		}
		p.Logger.Log(context.Background(), level, "read kvs credentials file", "path", p.Path,
			"access_key", MaskKey(c.AccessKeyID), "expiry", declared, "reread_at", expires.Add(-RefreshWindow), "changed", changed)
	}
	return c, nil
}

// HandleFailToRefresh implements aws.HandleFailRefreshCredentialsCacheStrategy:
// while the last credentials read are still valid, a failed re-read keeps
// them (and the next Retrieve reads the file again).
func (p *FileProvider) HandleFailToRefresh(_ context.Context, _ aws.Credentials, err error) (aws.Credentials, error) {
	p.mu.Lock()
	last, exp := p.last, p.lastExpiry
	p.mu.Unlock()
	if last.AccessKeyID == "" || !p.now().Before(exp) {
		return aws.Credentials{}, err
	}
	if p.Logger != nil {
		p.Logger.Warn("re-reading kvs credentials file failed; keeping the current credentials until they expire", "path", p.Path, "expires", exp, "err", err)
	}
	// Expire the kept copy soon so that the file is tried again.
	last.Expires = minTime(exp, p.now().Add(RefreshWindow+5*time.Second))
	return last, nil
}

func (p *FileProvider) String() string { return "KVS credentials file " + p.Path }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}

// Refreshing wraps p in a cache that renews credentials RefreshWindow
// before they expire. Providers of credentials that cannot expire are read
// once.
func Refreshing(p aws.CredentialsProvider) *aws.CredentialsCache {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = RefreshWindow })
}

// CredentialOptions selects where AWS credentials come from.
type CredentialOptions struct {
	// Source is auto, static, env, file or chain. Auto picks static when
	// keys are set, file when File is set, and the AWS chain otherwise.
	Source string
	// AccessKeyID, SecretAccessKey and SessionToken are static keys.
	AccessKeyID, SecretAccessKey, SessionToken string
	// File is a KVS producer credentials file.
	File string
	// Profile is the shared-config profile of the chain.
	Profile string
	// RoleARN, when set, is assumed (with STS) using the credentials above.
	RoleARN string
	// STSEndpoint overrides the STS URL used to assume RoleARN (tests,
	// VPC endpoints).
	STSEndpoint string
	// Getenv reads the environment for the env source (os.Getenv if nil).
	Getenv func(string) string
	Logger *slog.Logger
}

// ResolvedSource returns the source auto stands for.
func (o CredentialOptions) ResolvedSource() string {
	if o.Source != "" && o.Source != SourceAuto {
		return o.Source
	}
	switch {
	case o.AccessKeyID != "" || o.SecretAccessKey != "":
		return SourceStatic
	case o.File != "":
		return SourceFile
	}
	return SourceChain
}

// LoadAWSConfig returns an aws.Config for region whose Credentials follow
// o, cached and renewed RefreshWindow before expiry. With the chain source
// the region may come from the shared configuration when region is empty.
// The description it returns names the source without secrets.
func LoadAWSConfig(ctx context.Context, region string, o CredentialOptions) (aws.Config, string, error) {
	var cfg aws.Config
	var desc string
	src := o.ResolvedSource()
	switch src {
	case SourceStatic:
		sp := NewStaticProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)
		if _, err := sp.Retrieve(ctx); err != nil {
			return cfg, "", err
		}
		cfg = aws.Config{Region: region, Credentials: Refreshing(sp)}
		desc = sp.String()
	case SourceEnv:
		ep := EnvProvider{Getenv: o.Getenv}
		if _, err := ep.Retrieve(ctx); err != nil {
			return cfg, "", err
		}
		cfg = aws.Config{Region: region, Credentials: Refreshing(ep)}
		desc = ep.String()
	case SourceFile:
		if o.File == "" {
			return cfg, "", fmt.Errorf("%w: the file source needs a credentials file path", ErrNoCredentials)
		}
		fp := &FileProvider{Path: o.File, Logger: o.Logger}
		cfg = aws.Config{Region: region, Credentials: Refreshing(fp)}
		desc = fp.String()
	case SourceChain:
		opts := []func(*awsconfig.LoadOptions) error{
			awsconfig.WithCredentialsCacheOptions(func(co *aws.CredentialsCacheOptions) { co.ExpiryWindow = RefreshWindow }),
		}
		if region != "" {
			opts = append(opts, awsconfig.WithRegion(region))
		}
		if o.Profile != "" {
			opts = append(opts, awsconfig.WithSharedConfigProfile(o.Profile))
		}
		var err error
		cfg, err = awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return cfg, "", fmt.Errorf("loading the AWS configuration chain: %w", err)
		}
		desc = "AWS default credential chain"
		if o.Profile != "" {
			desc += " (profile " + o.Profile + ")"
		}
	default:
		return cfg, "", fmt.Errorf("unknown credential source %q (want one of %s)", o.Source, strings.Join(Sources, ", "))
	}
	if cfg.Region == "" {
		return cfg, "", errors.New("no AWS region: set --region (or AWS_REGION / the profile's region for the chain)")
	}
	if o.RoleARN != "" {
		stsClient := sts.NewFromConfig(cfg, func(so *sts.Options) {
			if o.STSEndpoint != "" {
				so.BaseEndpoint = aws.String(o.STSEndpoint)
			}
		})
		cfg.Credentials = Refreshing(stscreds.NewAssumeRoleProvider(stsClient, o.RoleARN, func(ao *stscreds.AssumeRoleOptions) {
			ao.RoleSessionName = "kgate-stream"
		}))
		desc += ", assuming role " + o.RoleARN
	}
	return cfg, desc, nil
}
