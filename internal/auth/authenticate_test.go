package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/config"
)

func testService(t testing.TB, mutate func(*config.Auth)) *Service {
	t.Helper()
	c := config.Default().Auth
	c.Users = "testdata/users.yml"
	c.Permissions = "testdata/permissions.yml"
	if mutate != nil {
		mutate(&c)
	}
	s, err := New(context.Background(), Options{Config: c, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Protected: []string{"_kgate_tokens"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func basicHeader(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func request(remote string, authz ...string) *http.Request {
	r := httptest.NewRequest("GET", "/topics", nil)
	r.RemoteAddr = remote
	for _, a := range authz {
		r.Header.Add("Authorization", a)
	}
	return r
}

func TestAuthenticateBasic(t *testing.T) {
	s := testService(t, nil)
	// The seed's header, verbatim.
	p, err := s.Authenticate(request("127.0.0.1:5000", "Basic Y3VzdG9tZXIxOnBhc3N3b3JkMQ=="))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "customer1" || p.Method != "basic" || !p.Authenticated() {
		t.Errorf("principal = %+v", p)
	}
	tests := []struct {
		name  string
		authz []string
	}{
		{"wrong password", []string{basicHeader("customer1", "password2")}},
		{"unknown user", []string{basicHeader("nobody", "password1")}},
		{"empty password", []string{basicHeader("customer1", "")}},
		{"no credentials", []string{"Basic"}},
		{"not base64", []string{"Basic !!!"}},
		{"no colon", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("customer1"))}},
		{"empty user", []string{basicHeader("", "password1")}},
		{"two headers", []string{"Basic Y3VzdG9tZXIxOnBhc3N3b3JkMQ==", "Basic Y3VzdG9tZXIxOnBhc3N3b3JkMQ=="}},
		{"unknown scheme", []string{"Digest username=customer1"}},
		{"bearer garbage", []string{"Bearer x.y.z"}},
		{"bearer empty", []string{"Bearer"}},
		{"user without password hash", []string{basicHeader("device-17", "x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Authenticate(request("127.0.0.2:5000", tt.authz...))
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("Authenticate = %+v, %v; want an *Error", p, err)
			}
			if ae.RetryAfter != 0 {
				t.Fatalf("rate limited too early: %v", ae)
			}
		})
	}
	// Scheme names are case-insensitive.
	if _, err := s.Authenticate(request("127.0.0.1:5000", "basic Y3VzdG9tZXIxOnBhc3N3b3JkMQ==")); err != nil {
		t.Errorf("lowercase basic: %v", err)
	}
	// No header: anonymous.
	p, err = s.Authenticate(request("127.0.0.1:5000"))
	if err != nil || p.Name != Anonymous || p.Authenticated() {
		t.Errorf("no header = %+v, %v", p, err)
	}
}

func TestUnknownUserPaysBcrypt(t *testing.T) {
	s := testService(t, nil)
	pol := s.Policy()
	if c, _ := bcrypt.Cost(pol.dummyHash()); c != 4 {
		t.Errorf("dummy hash cost = %d, want the users file's 4", c)
	}
	before := s.pw.bcrypts.Load()
	if _, err := s.Authenticate(request("127.0.0.3:1", basicHeader("nobody", "x"))); err == nil {
		t.Fatal("unknown user authenticated")
	}
	if got := s.pw.bcrypts.Load() - before; got != 1 {
		t.Errorf("unknown user cost %d bcrypt checks, want 1", got)
	}
}

func TestPasswordCache(t *testing.T) {
	s := testService(t, nil)
	ctx := context.Background()
	pol := s.Policy()
	n := func() int64 { return s.pw.bcrypts.Load() }
	if ok, _ := s.pw.check(ctx, pol, "customer1", "password1"); !ok {
		t.Fatal("right password refused")
	}
	start := n()
	for range 100 {
		if ok, _ := s.pw.check(ctx, pol, "customer1", "password1"); !ok {
			t.Fatal("right password refused")
		}
	}
	if n() != start {
		t.Errorf("cached checks ran %d bcrypts", n()-start)
	}
	// A wrong password is never answered from the cache.
	if ok, _ := s.pw.check(ctx, pol, "customer1", "password1x"); ok {
		t.Fatal("wrong password accepted")
	}
	if n() != start+1 {
		t.Errorf("wrong password ran %d bcrypts, want 1", n()-start)
	}
	// A changed hash (a reload) is not answered from the cache.
	u2 := *pol.users
	u2.byName = map[string]*User{}
	for k, v := range pol.users.byName {
		u2.byName[k] = v
	}
	changed := *u2.byName["customer1"]
	changed.PasswordHash, _ = bcrypt.GenerateFromPassword([]byte("new"), bcrypt.MinCost)
	u2.byName["customer1"] = &changed
	pol2 := NewPolicy(&u2, pol.perms, nil)
	if ok, _ := s.pw.check(ctx, pol2, "customer1", "password1"); ok {
		t.Error("old password accepted after the hash changed")
	}
}

func TestPasswordCacheExpires(t *testing.T) {
	s := testService(t, func(c *config.Auth) { c.PasswordCacheTTL = config.Duration(time.Nanosecond) })
	ctx := context.Background()
	pol := s.Policy()
	s.pw.check(ctx, pol, "customer1", "password1")
	time.Sleep(time.Millisecond)
	before := s.pw.bcrypts.Load()
	s.pw.check(ctx, pol, "customer1", "password1")
	if s.pw.bcrypts.Load() != before+1 {
		t.Error("an expired cache entry was used")
	}
}

func TestPasswordSingleflight(t *testing.T) {
	// A slower hash so that the concurrent checks overlap.
	hash, err := bcrypt.GenerateFromPassword([]byte("slowpw"), 8)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.yml")
	if err := os.WriteFile(path, []byte("slow:\n  password_hash: \""+string(hash)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testService(t, func(c *config.Auth) { c.Users = path })
	pol := s.Policy()
	before := s.pw.bcrypts.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := s.pw.check(context.Background(), pol, "slow", "slowpw"); !ok || err != nil {
				t.Errorf("check = %v, %v", ok, err)
			}
		}()
	}
	wg.Wait()
	if got := s.pw.bcrypts.Load() - before; got > 2 {
		t.Errorf("50 concurrent checks ran %d bcrypts, want 1 (2 at worst)", got)
	}
}

func TestFailureLimit(t *testing.T) {
	s := testService(t, func(c *config.Auth) { c.FailuresPerSecond = 0.001; c.FailureBurst = 3 })
	for i := range 3 {
		_, err := s.Authenticate(request("192.0.2.1:1", basicHeader("customer1", "bad")))
		var ae *Error
		if !errors.As(err, &ae) || ae.RetryAfter != 0 {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	before := s.pw.bcrypts.Load()
	_, err := s.Authenticate(request("192.0.2.1:1", basicHeader("customer1", "password1")))
	var ae *Error
	if !errors.As(err, &ae) || ae.RetryAfter <= 0 {
		t.Fatalf("4th attempt from the address = %v, want refused with a retry time", err)
	}
	if s.pw.bcrypts.Load() != before {
		t.Error("a refused address still cost a bcrypt")
	}
	// Another address is not affected.
	if _, err := s.Authenticate(request("192.0.2.2:1", basicHeader("customer1", "password1"))); err != nil {
		t.Errorf("another address: %v", err)
	}
}

func TestClientIP(t *testing.T) {
	s := testService(t, func(c *config.Auth) { c.TrustedProxies = []string{"10.0.0.0/8"} })
	tests := []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:1", "", "192.0.2.1"},
		{"192.0.2.1:1", "10.1.1.1", "192.0.2.1"}, // untrusted peer: header ignored
		{"10.0.0.1:1", "198.51.100.7", "198.51.100.7"},
		{"10.0.0.1:1", "203.0.113.9, 198.51.100.7, 10.0.0.2", "198.51.100.7"},
		{"10.0.0.1:1", "garbage", "10.0.0.1"},
		{"[::ffff:10.0.0.1]:1", "198.51.100.7", "198.51.100.7"},
	}
	for _, tt := range tests {
		r := request(tt.remote)
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := s.ClientIP(r).String(); got != tt.want {
			t.Errorf("ClientIP(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

func FuzzAuthorizationHeader(f *testing.F) {
	f.Add("Basic Y3VzdG9tZXIxOnBhc3N3b3JkMQ==")
	f.Add(basicHeader("customer2", "password2"))
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("a:b:c")))
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.")
	f.Add("bEaReR    x")
	f.Add("Basic\x00\xff")
	f.Add("")
	s := testService(f, func(c *config.Auth) { c.FailuresPerSecond = 1e9; c.FailureBurst = 1 << 30 })
	f.Fuzz(func(t *testing.T, h string) {
		r := request("127.0.0.1:1")
		r.Header["Authorization"] = []string{h}
		p, err := s.Authenticate(r)
		if err != nil {
			return
		}
		// Success only for a valid Basic credential of a known user.
		if p.Method != "basic" {
			t.Fatalf("authenticated %q as %+v", h, p)
		}
		scheme, cred, _ := strings.Cut(strings.TrimSpace(h), " ")
		user, pw, ok := ParseBasic(strings.TrimSpace(cred))
		if !strings.EqualFold(scheme, "basic") || !ok || user != p.Name {
			t.Fatalf("authenticated %q as %q", h, p.Name)
		}
		hash := s.Policy().users.Lookup(user).PasswordHash
		if bcrypt.CompareHashAndPassword(hash, []byte(pw)) != nil {
			t.Fatalf("accepted a wrong password for %s", user)
		}
	})
}
