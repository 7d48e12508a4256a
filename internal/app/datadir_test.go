package app_test

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/app"
	"github.com/kgate/kgate/internal/testutil"
)

// TestFinding15DataDirOthersCanReadRefused: kgate refuses to start on a
// data directory with state in it that other users can read or write,
// and says how to fix it; after the fix it starts.
func TestFinding15DataDirOthersCanReadRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o755, 0o770, 0o701} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := testutil.GatewayConfig(t)
			users, perms := secureFiles(t)
			cfg.Auth.Users, cfg.Auth.Permissions = users, perms
			// state of an earlier run
			if err := os.WriteFile(filepath.Join(cfg.DataDir, "node-id"), []byte("node-1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(cfg.DataDir, mode); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := app.Serve(ctx, cfg, testutil.Logger(), func(app.Info) { t.Error("the gateway started"); cancel() })
			if err == nil {
				t.Fatal("Serve returned no error")
			}
			if want := "chmod -R go-rwx " + cfg.DataDir; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			g := testutil.StartGatewayConfig(t, cfg)
			if r := do(t, "GET", g.URL+"/healthz", ""); r.status != http.StatusOK {
				t.Errorf("after chmod: %d", r.status)
			}
		})
	}
}

// TestFinding15DataFilesPrivate: everything kgate and its embedded
// broker write into a fresh data directory (the broker's SCRAM store
// sasl.json with the superuser's salted password, partition files, the
// signing key, ...) is readable by kgate's user only: files 0600,
// directories 0700, whatever the umask kgate was started with.
func TestFinding15DataFilesPrivate(t *testing.T) {
	cfg := testutil.GatewayConfig(t)
	cfg.DataDir = filepath.Join(cfg.DataDir, "fresh") // kgate creates it
	users, perms := secureFiles(t)
	cfg.Auth.Users, cfg.Auth.Permissions = users, perms
	g := testutil.StartGatewayConfig(t, cfg)
	if r := produceV2(t, g, "customer1", "Authorization", seedAuth); r.status != http.StatusOK {
		t.Fatalf("produce: %d %s", r.status, r.body)
	}
	login(t, g.URL, "customer1") // the token topic
	if r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops")); r.status != http.StatusOK {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	g.Stop() // the broker persists everything on the way out
	files := 0
	sawSASL := false
	err := filepath.WalkDir(cfg.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700 | os.ModeDir
		} else {
			files++
		}
		if d.Name() == "sasl.json" {
			sawSASL = true
		}
		if got := info.Mode()&^os.ModeType | info.Mode()&os.ModeDir; got != want {
			t.Errorf("%s: mode %v, want %v", strings.TrimPrefix(path, cfg.DataDir), info.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 || !sawSASL {
		t.Errorf("checked %d files (sasl.json among them: %v); the broker wrote less than expected", files, sawSASL)
	}
}

// TestFinding15EmptyDataDirMadePrivate: an empty directory made for kgate
// with a loose mode (a package's /var/lib/kgate, a volume mount) holds
// nothing to protect yet: kgate makes it private and starts.
func TestFinding15EmptyDataDirMadePrivate(t *testing.T) {
	cfg := testutil.GatewayConfig(t)
	if err := os.Chmod(cfg.DataDir, 0o777); err != nil {
		t.Fatal(err)
	}
	testutil.StartGatewayConfig(t, cfg)
	fi, err := os.Stat(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %04o, want 0700", fi.Mode().Perm())
	}
}
