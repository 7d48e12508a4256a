// Package e2e runs the built kgate binary as a user would: as a process,
// stopped by signals or killed, restarted on the same data directory.
package e2e

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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var kgateBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kgate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kgateBin = filepath.Join(dir, "kgate")
	build := exec.Command("go", "build", "-o", kgateBin, "github.com/kgate/kgate/cmd/kgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kgate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running kgate serve.
type proc struct {
	cmd        *exec.Cmd
	HTTP       string // http://127.0.0.1:port
	BrokerAddr string
	// SchemaRegistry is the registry listener's address (host:port).
	SchemaRegistry string
	done           chan error
	mu             sync.Mutex
	logs           strings.Builder
}

// startServe runs `kgate serve` on dataDir with random ports and waits
// until it serves. Extra env entries are KEY=VALUE.
func startServe(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	return startServeArgs(t, []string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--broker-listen", "127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0"}, env...)
}

// startServeArgs runs `kgate serve` with args (JSON logs) and waits until
// it serves.
func startServeArgs(t *testing.T, args []string, env ...string) *proc {
	t.Helper()
	return startServeWith(t, append(args, "--log-format", "json"), append(os.Environ(), env...))
}

// startServeWith runs `kgate serve` with these arguments and exactly this
// environment (it must ask for JSON logs), and waits until it serves.
func startServeWith(t *testing.T, args, env []string) *proc {
	t.Helper()
	cmd := exec.Command(kgateBin, append([]string{"serve"}, args...)...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan struct{})
	// Wait closes the pipe once the process exits, so it waits for the
	// reader to have read to the end: else the last lines (those of the
	// shutdown) may be lost.
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			switch m["msg"] {
			case "embedded broker started":
				p.BrokerAddr, _ = m["addr"].(string)
			case "kgate serving":
				p.HTTP, _ = m["http"].(string)
				p.SchemaRegistry, _ = m["schema_registry"].(string)
				once.Do(func() { close(ready) })
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-read
		p.done <- cmd.Wait()
	}()
	select {
	case <-ready:
	case err := <-p.done:
		t.Fatalf("kgate exited before serving: %v\n%s", err, p.Logs())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("kgate did not start\n%s", p.Logs())
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop sends sig and waits for the exit, returning the exit code.
func (p *proc) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("kgate did not exit after %v\n%s", sig, p.Logs())
	}
	return p.cmd.ProcessState.ExitCode()
}

func post(t *testing.T, url, ctype, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var _ = syscall.SIGTERM
