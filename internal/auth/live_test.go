package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
)

// copyTestdata copies the sample users and permissions files into a
// directory a test may change, and returns their paths.
func copyTestdata(t *testing.T) (users, perms string) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"users.yml", "permissions.yml"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "users.yml"), filepath.Join(dir, "permissions.yml")
}

// TestLiveFollowsReloads: a Live answers from its decisions until the
// policy changes, then re-decides; a changed password ends the principal
// for good; nothing changes for an unrelated reload.
func TestLiveFollowsReloads(t *testing.T) {
	users, perms := copyTestdata(t)
	s := testService(t, func(c *config.Auth) { c.Users, c.Permissions = users, perms })
	ctx := context.Background()
	p, err := s.Authenticate(request("127.0.0.1:5000", basicHeader("customer1", "password1")))
	if err != nil {
		t.Fatal(err)
	}
	live := s.Live(p)
	if err := live.Authorize(ctx, Produce, "customer1"); err != nil {
		t.Fatalf("customer1 may produce to its topic: %v", err)
	}
	changed := live.Changed()
	// Take produce away from everyone.
	b, _ := os.ReadFile(perms)
	if err := os.WriteFile(perms, []byte(strings.Replace(string(b), `  produce: ["{user}"]`, `  produce: []`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("Changed did not close on a reload")
	}
	var d *Denial
	if err := live.Authorize(ctx, Produce, "customer1"); !errors.As(err, &d) {
		t.Fatalf("after the reload: %v, want a denial", err)
	}
	if err := live.Check(time.Now()); err != nil {
		t.Fatalf("the principal itself still stands: %v", err)
	}
	// Change customer1's password (customer2's hash stands in).
	ub, _ := os.ReadFile(users)
	u := string(ub)
	i := strings.Index(u, "customer2:\n  password_hash: ")
	h2 := u[i+len("customer2:\n  password_hash: ") : i+len("customer2:\n  password_hash: ")+62]
	j := strings.Index(u, "  password_hash: ")
	u = u[:j] + "  password_hash: " + h2 + u[j+len("  password_hash: ")+62:]
	if err := os.WriteFile(users, []byte(u), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	var ae *Error
	if err := live.Check(time.Now()); !errors.As(err, &ae) || !strings.Contains(ae.Reason, "password changed") {
		t.Fatalf("after a password change: %v, want the principal to end", err)
	}
	if err := live.Authorize(ctx, Fetch, "customer1"); !errors.As(err, &ae) {
		t.Fatalf("a principal that ended is refused everything: %v", err)
	}
}

// TestLiveTokenExpiry: a bearer principal ends when its token expires.
func TestLiveTokenExpiry(t *testing.T) {
	s := testService(t, nil)
	p := &Principal{Name: "customer1", Method: MethodBearer, TokenID: "x", Expires: time.Now().Add(time.Minute),
		credential: fingerprint(s.Policy().users.Lookup("customer1"))}
	live := s.Live(p)
	var ae *Error
	if err := live.Check(time.Now().Add(2 * time.Minute)); !errors.As(err, &ae) || ae.Reason != "token expired" {
		t.Fatalf("after expiry: %v", err)
	}
}
