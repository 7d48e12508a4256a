package broker

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRunningAddr(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := RunningAddr(dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("before start: %v", err)
	}
	b, err := Start(dir, Listen("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := RunningAddr(dir)
	if err != nil || addr != b.Addr() {
		t.Fatalf("RunningAddr = %q, %v; want %q", addr, err, b.Addr())
	}
	b.Close()
	if _, err := RunningAddr(dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after close: %v", err)
	}
	// A killed serve leaves the file and a dead pid in the lock file.
	os.WriteFile(filepath.Join(dir, AddrFile), []byte("127.0.0.1:1\n"), 0o600)
	os.WriteFile(filepath.Join(dir, lockName), []byte("999999999\n"), 0o600)
	if _, err := RunningAddr(dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stale file: %v", err)
	}
}
