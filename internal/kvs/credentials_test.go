package kvs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"
)

// Realistic-looking test keys (not real ones).
const (
	testAK    = "AKIAKGATETESTKEY0001"
	testSK    = "kgateTestSecretKey0001/abcdefghijklmnopqrs"
	testToken = "FwoGZXIvYXdzEkgateTestSessionToken0001=="
)

func TestParseCredentialsFile(t *testing.T) {
	exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name    string
		in      string
		want    FileCredentials
		wantErr string
	}{
		{"temporary", "CREDENTIALS\tAK1\t2031-05-06T07:08:09Z\tSK1\tTOK1", FileCredentials{"AK1", "SK1", "TOK1", exp}, ""},
		{"temporary with newline", "CREDENTIALS\tAK1\t2031-05-06T07:08:09Z\tSK1\tTOK1\n", FileCredentials{"AK1", "SK1", "TOK1", exp}, ""},
		{"static", "CREDENTIALS\tAK1\tSK1", FileCredentials{AccessKeyID: "AK1", SecretAccessKey: "SK1"}, ""},
		{"spaces instead of tabs", "CREDENTIALS AK1 SK1\n", FileCredentials{AccessKeyID: "AK1", SecretAccessKey: "SK1"}, ""},
		{"no token", "CREDENTIALS\tAK1\t2031-05-06T07:08:09Z\tSK1", FileCredentials{"AK1", "SK1", "", exp}, ""},
		{"rfc3339 offset", "CREDENTIALS\tAK1\t2031-05-06T09:08:09+02:00\tSK1\tT", FileCredentials{"AK1", "SK1", "T", exp}, ""},
		{"empty", "", FileCredentials{}, "empty"},
		{"wrong marker", "CREDENTIAL\tAK1\tSK1", FileCredentials{}, "CREDENTIALS"},
		{"two fields", "CREDENTIALS\tAK1", FileCredentials{}, "got 2"},
		{"six fields", "CREDENTIALS a b c d e", FileCredentials{}, "got 6"},
		{"bad expiry", "CREDENTIALS\tAK1\tnot-a-time-SECRET\tSK1\tTOK1", FileCredentials{}, "expiry"},
		{"too big", "CREDENTIALS " + strings.Repeat("x", maxCredentialsFile), FileCredentials{}, "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredentialsFile([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidCredentialsFile) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "SK1") || strings.Contains(err.Error(), "TOK1") {
					t.Fatalf("error %q quotes a field", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func FuzzParseCredentialsFile(f *testing.F) {
	f.Add([]byte("CREDENTIALS\tAKIA\t2031-05-06T07:08:09Z\tSECRET\tTOKEN\n"))
	f.Add([]byte("CREDENTIALS AKIA SECRET"))
	f.Add([]byte("CREDENTIALS\tA\t9999-99-99T99:99:99Z\tS\tT"))
	f.Add([]byte("\x00CREDENTIALS\t\t\t"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fc, err := ParseCredentialsFile(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidCredentialsFile) {
				t.Fatalf("error %v is not ErrInvalidCredentialsFile", err)
			}
			// Errors never quote the content (beyond the fixed marker).
			for _, field := range strings.Fields(string(b)) {
				if len(field) >= 12 && strings.Contains(err.Error(), field) {
					t.Fatalf("error %q quotes field %q", err, field)
				}
			}
			return
		}
		if fc.AccessKeyID == "" || fc.SecretAccessKey == "" {
			t.Fatalf("parsed empty keys from %q", b)
		}
		if strings.ContainsAny(fc.AccessKeyID+fc.SecretAccessKey+fc.SessionToken, " \t\n") {
			t.Fatalf("a key contains whitespace: %q", b)
		}
	})
}

func writeCreds(t *testing.T, path, ak string, expiry time.Time, sk, token string) {
	t.Helper()
	line := fmt.Sprintf("CREDENTIALS\t%s\t%s\t%s\t%s", ak, expiry.UTC().Format("2006-01-02T15:04:05Z"), sk, token)
	if expiry.IsZero() {
		line = fmt.Sprintf("CREDENTIALS\t%s\t%s", ak, sk)
	}
	// Written in place (truncate, write) like the seed's handler does.
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The cache re-reads the file two minutes before the declared expiry, and
// a file rewritten with a new key is then picked up, before the old
// credentials expire. The clock is synctest's, and the old credentials
// expire just after midnight UTC, so the refresh crosses a date change.
// The keys are long random-looking strings: the log holds timestamps and
// paths, in which a short secret like "T1" could appear by chance.
func TestFileProviderRefreshesBeforeExpiry(t *testing.T) {
	const (
		ak1, sk1, tok1 = "AKIAQ7ZKX3OLDKEY9F2M", "kq8Vw3/oldSecretR5tYx0pLm2NbZcJ7dHs4GfUe", "FwoGZXIvYXdzOldTokenP4vN8xQ2mRk7LsW9bJ3cT6yH"
		ak2, sk2, tok2 = "AKIAW4JRN8NEWKEY2H6Q", "Zp3Xc9/newSecretM1qVb7nKw5EoLj2HgTs8DyRa", "FwoGZXIvYXdzNewTokenA6tE3kQ9wPz1VmC5nYr8Lu2J"
	)
	synctest.Test(t, func(t *testing.T) {
		// synctest's clock starts at 2000-01-01 00:00 UTC: go to a minute
		// before the next midnight.
		time.Sleep(24*time.Hour - time.Minute)
		path := filepath.Join(t.TempDir(), "credentials.txt")
		start := time.Now()
		expiry1 := start.Add(RefreshWindow + 90*time.Second) // 00:02:30 the next day
		writeCreds(t, path, ak1, expiry1, sk1, tok1)
		var logs bytes.Buffer
		cache := Refreshing(&FileProvider{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		ctx := t.Context()
		c, err := cache.Retrieve(ctx)
		if err != nil || c.AccessKeyID != ak1 || c.SessionToken != tok1 {
			t.Fatalf("first Retrieve = %s, %v", MaskKey(c.AccessKeyID), err)
		}
		writeCreds(t, path, ak2, start.Add(time.Hour), sk2, tok2)
		refreshAt := expiry1.Add(-RefreshWindow)
		for {
			c, err := cache.Retrieve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if c.AccessKeyID == ak2 {
				if now.Before(refreshAt) {
					t.Fatalf("new key picked up at %s, before the refresh point %s", now, refreshAt)
				}
				if !now.Before(expiry1) {
					t.Fatalf("new key picked up at %s, after the old expiry %s", now, expiry1)
				}
				if c.SecretAccessKey != sk2 || c.SessionToken != tok2 {
					t.Fatal("new key picked up without its secret and token")
				}
				break
			}
			if !now.Before(refreshAt.Add(time.Second)) {
				t.Fatalf("at %s, after the refresh point %s, the old key is still used", now, refreshAt)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := logs.String(); !strings.Contains(got, "access_key=AKIA****") {
			t.Errorf("the log does not show the masked key:\n%s", got)
		}
		for _, s := range []string{ak1, sk1, tok1, ak2, sk2, tok2} {
			if strings.Contains(logs.String(), s) {
				t.Errorf("log contains a key (%.6s...):\n%s", s, logs.String())
			}
		}
	})
}

func TestFileProviderKeepsCredentialsWhenRewriteFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials.txt")
	now := time.Now()
	clock := now
	p := &FileProvider{Path: path, Now: func() time.Time { return clock }}
	writeCreds(t, path, "AK1", now.Add(time.Hour), "SK1", "T1")
	if _, err := p.Retrieve(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil { // mid-rewrite
		t.Fatal(err)
	}
	_, err := p.Retrieve(t.Context())
	if err == nil {
		t.Fatal("Retrieve of an empty file succeeded")
	}
	c, err := p.HandleFailToRefresh(t.Context(), aws.Credentials{}, err)
	if err != nil || c.AccessKeyID != "AK1" {
		t.Fatalf("HandleFailToRefresh = %q, %v; want the previous key", c.AccessKeyID, err)
	}
	clock = now.Add(2 * time.Hour) // past expiry: no more fallback
	if _, err := p.HandleFailToRefresh(t.Context(), aws.Credentials{}, errors.New("x")); err == nil {
		t.Fatal("HandleFailToRefresh kept expired credentials")
	}
}

func TestFileProviderStaticFormAndExpired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials.txt")
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &FileProvider{Path: path, Now: func() time.Time { return now }}
	writeCreds(t, path, "AK1", time.Time{}, "SK1", "")
	c, err := p.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !c.CanExpire || !c.Expires.Equal(now.Add(MaxFileValidity)) {
		t.Errorf("static form: CanExpire=%v Expires=%s, want a re-read after %s", c.CanExpire, c.Expires, MaxFileValidity)
	}
	writeCreds(t, path, "AK1", now.Add(-time.Minute), "SK1", "T")
	if _, err := p.Retrieve(t.Context()); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired file: err = %v", err)
	}
	writeCreds(t, path, "AK1", now.Add(10*time.Hour), "SK1", "T")
	c, _ = p.Retrieve(t.Context())
	if !c.Expires.Equal(now.Add(MaxFileValidity)) {
		t.Errorf("long expiry not capped: %s", c.Expires)
	}
}

func TestStaticProviderNeverPrintsKeys(t *testing.T) {
	p := NewStaticProvider(testAK, testSK, testToken)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("x", "provider", p)
	out := fmt.Sprintf("%v %+v %#v %s", p, p, p, p) + logs.String()
	for _, s := range []string{testAK, testSK, testToken} {
		if strings.Contains(out, s) {
			t.Errorf("output contains a key: %s", out)
		}
	}
	if !strings.Contains(out, "AKIA****") {
		t.Errorf("output lacks the masked key: %s", out)
	}
}

func TestEnvProvider(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T"}
	c, err := EnvProvider{Getenv: func(k string) string { return env[k] }}.Retrieve(context.Background())
	if err != nil || c.AccessKeyID != "A" || c.SecretAccessKey != "S" || c.SessionToken != "T" {
		t.Fatalf("Retrieve = %+v, %v", c, err)
	}
	if _, err := (EnvProvider{Getenv: func(string) string { return "" }}).Retrieve(context.Background()); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("empty env: %v", err)
	}
}

func TestResolvedSource(t *testing.T) {
	tests := []struct {
		o    CredentialOptions
		want string
	}{
		{CredentialOptions{}, SourceChain},
		{CredentialOptions{Source: "auto", AccessKeyID: "a", SecretAccessKey: "b"}, SourceStatic},
		{CredentialOptions{File: "/x"}, SourceFile},
		{CredentialOptions{Source: SourceEnv, File: "/x"}, SourceEnv},
	}
	for _, tt := range tests {
		if got := tt.o.ResolvedSource(); got != tt.want {
			t.Errorf("%+v: got %s, want %s", tt.o, got, tt.want)
		}
	}
}

func TestLoadAWSConfigChainProfile(t *testing.T) {
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "credentials")
	cfgFile := filepath.Join(dir, "config")
	os.WriteFile(credsFile, []byte("[cam]\naws_access_key_id = AKPROFILE\naws_secret_access_key = SKPROFILE\n"), 0o600)
	os.WriteFile(cfgFile, []byte("[profile cam]\nregion = eu-central-1\n"), 0o600)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile)
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, desc, err := LoadAWSConfig(t.Context(), "", CredentialOptions{Source: SourceChain, Profile: "cam"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-central-1" {
		t.Errorf("region = %q, want the profile's", cfg.Region)
	}
	c, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil || c.AccessKeyID != "AKPROFILE" {
		t.Fatalf("Retrieve = %q, %v", c.AccessKeyID, err)
	}
	if strings.Contains(desc, "SKPROFILE") || !strings.Contains(desc, "cam") {
		t.Errorf("description %q", desc)
	}
}
