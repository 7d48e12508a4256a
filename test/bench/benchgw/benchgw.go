// Package benchgw runs a built kgate gateway as a separate process for the
// benchmark commands under test/bench, so that its CPU time and peak RSS
// are its own.
package benchgw

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Gateway is a running `kgate serve` on its embedded broker.
type Gateway struct {
	Proc
	dir string
	// URL is the HTTP API's base URL; Broker the embedded broker's address.
	URL    string
	Broker string
}

// Start builds kgate into a temporary directory and runs `kgate serve` on
// an embedded broker there, on random loopback ports, with extra
// KEY=VALUE environment entries.
func Start(env ...string) (*Gateway, error) { return StartBinary("", env...) }

// StartBinary is Start with an already built kgate binary (empty: build
// this checkout), so that a benchmark can hold another build, say the one
// before a change, against this one in the same run.
func StartBinary(bin string, env ...string) (*Gateway, error) {
	dir, err := os.MkdirTemp("", "kgate-bench")
	if err != nil {
		return nil, err
	}
	if bin == "" {
		if bin, err = Build(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--broker-listen", "127.0.0.1:0", "--log-format", "json")
	// The registry's port through the environment, not a flag: a baseline
	// built before the registry existed ignores the variable but would
	// refuse the flag.
	cmd.Env = append(append(os.Environ(), "KGATE_SCHEMA_REGISTRY_LISTEN=127.0.0.1:0"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	g := &Gateway{Proc: Proc{cmd: cmd}, dir: dir}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		closed := false
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			switch m["msg"] {
			case "embedded broker started":
				g.Broker, _ = m["addr"].(string)
			case "kgate serving":
				g.URL, _ = m["http"].(string)
				if !closed {
					close(ready)
					closed = true
				}
			}
			if closed {
				break // the rest (access log lines) is not parsed: the load generator shares the machine
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ready:
		return g, nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("gateway did not start")
	}
}

// Build builds this checkout's kgate into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "kgate")
	build := exec.Command("go", "build", "-o", bin, "github.com/kgate/kgate/cmd/kgate")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building kgate: %w", err)
	}
	return bin, nil
}

// Stop shuts the gateway down and removes its directory.
func (g *Gateway) Stop() {
	_ = g.cmd.Process.Signal(os.Interrupt)
	_ = g.cmd.Wait()
	os.RemoveAll(g.dir)
}

// Proc is a process a benchmark started, whose CPU time and peak RSS
// are its own.
type Proc struct {
	cmd *exec.Cmd
}

// StartProcLine starts name with args and extra environment as a Proc,
// its standard error on this process's, waits up to 30 s for its first
// line on standard output (say, the address it listens on) and returns it.
func StartProcLine(name string, args []string, env ...string) (*Proc, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		s, _ := br.ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, br)
	}()
	select {
	case s := <-line:
		if s == "" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, "", fmt.Errorf("%s printed no line", name)
		}
		return &Proc{cmd: cmd}, s, nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", fmt.Errorf("%s did not start", name)
	}
}

// StartProcQuiet starts name with args and extra environment as a Proc,
// its output discarded.
func StartProcQuiet(name string, args []string, env ...string) (*Proc, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Proc{cmd: cmd}, nil
}

// Stop interrupts the process and waits for it.
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// ResetPeakRSS starts a new high-water mark of the resident set, so that
// PeakRSS tells one scenario's peak (Linux: clear_refs 5).
func (p *Proc) ResetPeakRSS() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}

// CPU is the process's user+system CPU time so far.
func (p *Proc) CPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name: utime is field 14 and
	// stime 15 of the line, in clock ticks of 10 ms.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// SelfCPU is this (the load generator's) process's CPU time so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSS is the process's high-water resident set (VmHWM).
func (p *Proc) PeakRSS() string {
	n := p.PeakRSSBytes()
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// PeakRSSBytes is PeakRSS in bytes (-1: unknown).
func (p *Proc) PeakRSSBytes() int64 { return p.status("VmHWM:") }

// RSSBytes is the process's resident set now (VmRSS) in bytes (-1:
// unknown).
func (p *Proc) RSSBytes() int64 { return p.status("VmRSS:") }

// status is a size field of /proc/PID/status in bytes (-1: unknown).
func (p *Proc) status(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			if f := strings.Fields(line); len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return -1
}

// Direct produces value with franz-go straight to broker for d, keeping
// the producer buffer full (100 000 records), and returns how many
// records the broker acknowledged and failed, and the elapsed time. With
// gatewaySettings it uses kgate's shared producer's settings (idempotent,
// acks=all, no linger); otherwise franz-go's defaults (10 ms linger).
func Direct(broker, topic string, value []byte, d time.Duration, gatewaySettings bool) (acked, failed int64, elapsed time.Duration, err error) {
	opts := []kgo.Opt{kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic), kgo.MaxBufferedRecords(100000)}
	if gatewaySettings {
		opts = append(opts, kgo.ProducerLinger(0), kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cl.Close()
	var ok, bad atomic.Int64
	ctx := context.Background()
	start := time.Now()
	deadline := start.Add(d)
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					bad.Add(1)
					return
				}
				ok.Add(1)
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, 0, err
	}
	return ok.Load(), bad.Load(), time.Since(start), nil
}

// ClusterID returns the only cluster id the gateway at base lists.
func ClusterID(base string) (string, error) {
	resp, err := http.Get(base + "/v3/clusters")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var cl struct {
		Data []struct {
			ClusterID string `json:"cluster_id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cl); err != nil || len(cl.Data) != 1 {
		return "", fmt.Errorf("listing clusters: %v", err)
	}
	return cl.Data[0].ClusterID, nil
}

// CreateTopic creates topic, one partition, through the gateway's v3 API.
func CreateTopic(base, cid, topic string) error {
	resp, err := http.Post(base+"/v3/clusters/"+cid+"/topics", "application/json",
		strings.NewReader(`{"topic_name":"`+topic+`","partitions_count":1}`))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("creating %s: %s", topic, resp.Status)
	}
	return nil
}
