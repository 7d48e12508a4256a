package broker

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestLocalSocket: a client dialing through the broker's Unix socket
// produces and consumes like one over TCP; the socket is the owner's
// alone, replaces one a crash left behind, and goes at Close; TCP keeps
// working beside it.
func TestLocalSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "b.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil { // a crash's leftover
		t.Fatal(err)
	}
	b, err := Start(dir, Listen("127.0.0.1:0"), LocalSocket(sock))
	if err != nil {
		t.Fatal(err)
	}
	if b.Local() != sock {
		t.Fatalf("Local() = %q, want %q", b.Local(), sock)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v, want a socket with mode 0600", fi.Mode(), err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var viaUnix, viaTCP atomic.Int32
	dial := LocalDialer(b.Addr(), sock)
	counted := func(ctx context.Context, network, host string) (net.Conn, error) {
		c, err := dial(ctx, network, host)
		if err == nil {
			if c.RemoteAddr().Network() == "unix" {
				viaUnix.Add(1)
			} else {
				viaTCP.Add(1)
			}
		}
		return c, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.Dialer(counted), kgo.DefaultProduceTopic("local"),
		kgo.ConsumeTopics("local"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "local"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("through the socket")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "through the socket" {
		t.Fatalf("consumed %v", recs)
	}
	if viaUnix.Load() == 0 || viaTCP.Load() != 0 {
		t.Errorf("connections: %d through the socket, %d over TCP; want all through the socket", viaUnix.Load(), viaTCP.Load())
	}
	// TCP clients are served as before.
	tcp, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	if err := tcp.Ping(ctx); err != nil {
		t.Fatalf("over TCP: %v", err)
	}
	tcp.Close()
	cl.Close()
	b.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket outlives the broker: %v", err)
	}
}

// TestLocalSocketTooLong: a path a Unix socket cannot take leaves the
// broker on TCP alone.
func TestLocalSocketTooLong(t *testing.T) {
	dir := t.TempDir()
	b, err := Start(dir, Listen("127.0.0.1:0"), LocalSocket(filepath.Join(dir, strings.Repeat("s", 120))))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Local() != "" {
		t.Errorf("Local() = %q, want none", b.Local())
	}
}
