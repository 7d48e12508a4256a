package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// AddrFile is the file in the data directory where a running embedded
// broker publishes its Kafka address, so that workers started beside it
// (kgate handle --data-dir) find it even when it listens on a port chosen
// at start.
const AddrFile = "broker.addr"

// ErrNotRunning is returned by RunningAddr when no live process serves the
// data directory's embedded broker.
var ErrNotRunning = errors.New("no embedded broker is running on this data directory")

func writeAddrFile(dir, addr string) error {
	tmp, err := os.CreateTemp(dir, AddrFile+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(addr + "\n"); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, AddrFile))
}

func removeAddrFile(dir string) { _ = os.Remove(filepath.Join(dir, AddrFile)) }

// RunningAddr returns the address of the embedded broker serving dataDir,
// read from AddrFile, after checking that the process holding the data
// directory's lock is alive (a killed kgate serve leaves a stale file).
func RunningAddr(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, AddrFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s: %w (start kgate serve with this --data-dir, or give --brokers)", dataDir, ErrNotRunning)
	}
	if err != nil {
		return "", fmt.Errorf("reading broker address: %w", err)
	}
	addr := strings.TrimSpace(string(b))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("%s holds %q, not host:port", AddrFile, addr)
	}
	holder, _ := os.ReadFile(filepath.Join(dataDir, lockName))
	pid, err := strconv.Atoi(strings.TrimSpace(string(holder)))
	if err != nil || pid <= 0 {
		return "", fmt.Errorf("%s: %w (stale %s)", dataDir, ErrNotRunning, AddrFile)
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return "", fmt.Errorf("%s: %w (pid %d is gone)", dataDir, ErrNotRunning, pid)
	}
	return addr, nil
}
