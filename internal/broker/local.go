package broker

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
)

// maxSocketPath is the longest Unix socket path Linux takes (108 bytes
// with the terminating NUL), with room to spare.
const maxSocketPath = 100

// LocalSocket also accepts connections on a Unix socket at path (in the
// data directory, whose mode keeps other users out), overriding TCP only:
// kgate's own client of the embedded broker dials it (LocalDialer), which
// spares every produce and fetch the kernel's TCP path. The socket is not
// wrapped (the Kafka-port guard is for clients from outside the process);
// kfake still requires SASL on it when it is secured. A path too long
// for a Unix socket leaves the broker on TCP alone.
func LocalSocket(path string) Opt { return func(c *cfg) { c.local = path } }

// Local returns the Unix socket the broker also accepts on ("": none).
func (b *Broker) Local() string { return b.local }

// LocalDialer returns a dial function for franz-go (kgo.Dialer) that
// reaches the broker advertised at addr through its Unix socket sock and
// any other address over TCP.
func LocalDialer(addr, sock string) func(ctx context.Context, network, host string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		if host == addr {
			return d.DialContext(ctx, "unix", sock)
		}
		return d.DialContext(ctx, network, host)
	}
}

// listenLocal opens the Unix socket at path, replacing a stale one a
// crash left behind (the data directory's lock is already held).
func listenLocal(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// merged accepts from the TCP listener and the Unix one; its address is
// the TCP one (what kfake advertises). Closing it closes both.
type merged struct {
	tcp, local net.Listener
	conns      chan net.Conn
	errs       chan error
	done       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

func mergeListeners(tcp, local net.Listener) *merged {
	m := &merged{tcp: tcp, local: local, conns: make(chan net.Conn), errs: make(chan error, 2), done: make(chan struct{})}
	for _, ln := range []net.Listener{tcp, local} {
		m.wg.Add(1)
		go m.accept(ln)
	}
	return m
}

func (m *merged) accept(ln net.Listener) {
	defer m.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case m.errs <- err:
			case <-m.done:
			}
			return
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *merged) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *merged) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = errors.Join(m.tcp.Close(), m.local.Close())
		m.wg.Wait()
	})
	return err
}

func (m *merged) Addr() net.Addr { return m.tcp.Addr() }
