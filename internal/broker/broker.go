// Package broker runs kgate's embedded Kafka-protocol broker: franz-go's
// kfake with a persistent data directory, locked so that only one process
// uses it, listening on loopback unless configured otherwise.
//
// kfake auto-creates topics only in memory (they are lost on a crash and
// corrupt the log when re-created), so the broker never enables
// auto-creation: kgate creates topics explicitly with CreateTopics.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kgate/kgate/internal/config"
)

// ErrLocked is returned by Start when another process holds the data
// directory.
var ErrLocked = errors.New("data directory is in use by another process")

// Broker is a running embedded broker. Its methods are safe for concurrent
// use.
type Broker struct {
	cluster *kfake.Cluster
	lock    *os.File
	addr    string
	dir     string
	local   string
}

type cfg struct {
	listen             string
	dataDir            string
	clusterID          string
	syncWrites         bool
	compactionInterval time.Duration
	logger             *slog.Logger
	extra              []kfake.Opt
	wrap               func(net.Listener) net.Listener
	local              string
}

// Opt configures Start.
type Opt func(*cfg)

// Listen sets the Kafka listen address, overriding config's broker_listen
// default. Port 0 picks a free port; Addr reports it.
func Listen(addr string) Opt { return func(c *cfg) { c.listen = addr } }

// ClusterID sets the cluster id reported to clients, overriding config's
// broker.cluster_id default.
func ClusterID(id string) Opt { return func(c *cfg) { c.clusterID = id } }

// SyncWrites fsyncs every produced batch, overriding the default of
// relying on the page cache (which survives a process crash, not a power
// loss).
func SyncWrites() Opt { return func(c *cfg) { c.syncWrites = true } }

// CompactionInterval sets how often compacted topics are compacted,
// overriding config's broker.compaction_interval default (kfake's own
// default is one hour).
func CompactionInterval(d time.Duration) Opt { return func(c *cfg) { c.compactionInterval = d } }

// Logger routes the broker's warnings and errors to l, overriding
// discarding them.
func Logger(l *slog.Logger) Opt { return func(c *cfg) { c.logger = l } }

// WrapListener wraps the Kafka listener before the broker uses it
// (kgate's Kafka-port guard), overriding using the listener as opened.
func WrapListener(fn func(net.Listener) net.Listener) Opt { return func(c *cfg) { c.wrap = fn } }

// KfakeOpts passes further options to kfake (SASL users, ACLs, ...).
func KfakeOpts(opts ...kfake.Opt) Opt { return func(c *cfg) { c.extra = append(c.extra, opts...) } }

// Start locks dataDir, loads any state persisted there and starts
// listening. The directory is created if needed.
func Start(dataDir string, opts ...Opt) (*Broker, error) {
	d := config.Default() // the embedded broker's defaults, written once
	c := cfg{
		listen:             d.BrokerListen,
		dataDir:            dataDir,
		clusterID:          d.Broker.ClusterID,
		compactionInterval: d.Broker.CompactionInterval.D(),
	}
	for _, o := range opts {
		o(&c)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	lock, err := lockDir(dataDir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		unlock(lock)
		return nil, fmt.Errorf("embedded broker listening on %s: %w", c.listen, err)
	}
	if c.wrap != nil {
		ln = c.wrap(ln)
	}
	var local string
	if c.local != "" {
		lln, err := listenLocal(c.local)
		if err != nil {
			ln.Close()
			unlock(lock)
			return nil, fmt.Errorf("embedded broker listening on %s: %w", c.local, err)
		}
		if lln != nil {
			ln, local = mergeListeners(ln, lln), c.local
		}
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DataDir(filepath.Join(dataDir, "kafka")),
		kfake.ClusterID(c.clusterID),
		// kfake calls ListenFn with its own loopback address; we hand
		// it the listener we already opened on the configured one.
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
		kfake.BrokerConfigs(map[string]string{
			"log.cleaner.backoff.ms": strconv.FormatInt(c.compactionInterval.Milliseconds(), 10),
		}),
	}
	if c.syncWrites {
		kopts = append(kopts, kfake.SyncWrites())
	}
	if c.logger != nil {
		kopts = append(kopts, kfake.WithLogger(slogAdapter{c.logger}))
	}
	kopts = append(kopts, c.extra...)
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		ln.Close()
		unlock(lock)
		return nil, fmt.Errorf("starting embedded broker: %w", err)
	}
	b := &Broker{cluster: cluster, lock: lock, addr: ln.Addr().String(), dir: dataDir, local: local}
	if err := writeAddrFile(dataDir, b.addr); err != nil {
		b.Close()
		return nil, fmt.Errorf("writing %s: %w", AddrFile, err)
	}
	return b, nil
}

// Addr returns the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// Cluster returns the underlying kfake cluster, for control hooks.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops the broker cleanly (persisting its state) and releases the
// data directory. It is safe to call more than once.
func (b *Broker) Close() {
	removeAddrFile(b.dir)
	b.cluster.Close()
	if b.local != "" {
		_ = os.Remove(b.local)
	}
	unlock(b.lock)
}

const lockName = "kgate.lock"

func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		who := strings.TrimSpace(string(holder))
		if who != "" {
			who = " (pid " + who + ")"
		}
		return nil, fmt.Errorf("%s%s: %w; stop it or use another --data-dir", dir, who, ErrLocked)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

func unlock(f *os.File) {
	if f == nil {
		return
	}
	_ = f.Truncate(0)
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	_ = f.Close()
}

// slogAdapter routes kfake's warnings and errors to slog; kfake's info and
// debug levels log every request and stay off.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		a.l.Error(fmt.Sprintf(format, args...), "component", "broker")
	case kfake.LogLevelWarn:
		a.l.Warn(fmt.Sprintf(format, args...), "component", "broker")
	}
}
