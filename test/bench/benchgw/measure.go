package benchgw

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Sample is what an idle-load benchmark reads of a running gateway.
type Sample struct {
	Heap, RSS   float64 // bytes
	Goroutines  float64
	FDs         float64
	BrokerConns float64 // connections to the embedded broker: its TCP port and its Unix socket
	// Metrics holds the other gauges of /metrics asked for by name.
	Metrics map[string]float64
}

// Measure reads the gateway's /metrics (heap, goroutines, descriptors,
// resident memory, and the gauges named in extra) and counts its broker
// connections from /proc.
func Measure(c *http.Client, g *Gateway, extra ...string) (Sample, error) {
	resp, err := c.Get(g.URL + "/metrics")
	if err != nil {
		return Sample{}, err
	}
	defer resp.Body.Close()
	s := Sample{Metrics: map[string]float64{}}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "go_memstats_heap_inuse_bytes":
			s.Heap = v
		case "go_goroutines":
			s.Goroutines = v
		case "process_open_fds":
			s.FDs = v
		case "process_resident_memory_bytes":
			s.RSS = v
		default:
			for _, name := range extra {
				if f[0] == name {
					s.Metrics[name] = v
				}
			}
		}
	}
	s.BrokerConns = float64(tcpConnections(g.Broker) + unixConnections(filepath.Join(g.dir, "data", "broker.sock")))
	return s, sc.Err()
}

// tcpConnections counts established TCP connections whose local end is
// addr's port (host:port of the broker: each connection once, at its
// broker end), from /proc/net/tcp.
func tcpConnections(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return 0
	}
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		return 0
	}
	hexPort := fmt.Sprintf(":%04X", port)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range bytes.Split(b, []byte("\n"))[1:] {
		f := strings.Fields(string(line))
		if len(f) < 4 || f[3] != "01" { // 01: ESTABLISHED
			continue
		}
		if strings.HasSuffix(f[1], hexPort) {
			n++
		}
	}
	return n
}

// unixConnections counts the connected sockets of the Unix socket at path
// (the gateway's own client reaches its embedded broker there; the
// broker's accepted ends carry the path), from /proc/net/unix.
func unixConnections(path string) int {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range bytes.Split(b, []byte("\n"))[1:] {
		f := strings.Fields(string(line))
		// Num RefCount Protocol Flags Type St Inode Path; St 03: connected.
		if len(f) == 8 && f[5] == "03" && f[7] == path {
			n++
		}
	}
	return n
}
