package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/testutil"
)

// readmeCommands returns the shell commands of the README's code blocks
// between two headings, in order, with continued lines joined, and the
// comment that follows a command (its documented output), if any.
func readmeCommands(t *testing.T, from, to string) (cmds, outputs []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, from), strings.Index(s, to)
	if i < 0 || j < i {
		t.Fatalf("README has no section from %q to %q", from, to)
	}
	var cur strings.Builder
	prevCmd := false // the line before was a whole command
	for _, line := range strings.Split(s[i:j], "\n") {
		if !strings.HasPrefix(line, "    ") {
			prevCmd = false // prose, or the blank line between blocks
			continue
		}
		line = strings.TrimPrefix(line, "    ")
		if strings.HasPrefix(line, "# ") {
			// A JSON comment right after a command is its output; other
			// comments explain what follows.
			if out := strings.TrimPrefix(line, "# "); prevCmd && (strings.HasPrefix(out, "{") || strings.HasPrefix(out, "[")) {
				outputs[len(outputs)-1] = out
			}
			prevCmd = false
			continue
		}
		prevCmd = false
		cur.WriteString(strings.TrimSuffix(line, `\`))
		if strings.HasSuffix(line, `\`) {
			continue
		}
		cmds = append(cmds, cur.String())
		outputs = append(outputs, "")
		cur.Reset()
		prevCmd = true
	}
	return cmds, outputs
}

var statusLine = regexp.MustCompile(`\n__status__(\d{3})\n?$`)

// TestReadmeTryIt pastes the README's "Try it" commands, in the order they
// are written, against a first start of `kgate serve` (on random ports:
// the commands' localhost:8082 and 127.0.0.1:9092 are rewritten), as a
// newcomer would: every request answers 2xx, and the first produce answers
// what the README says it does.
func TestReadmeTryIt(t *testing.T) {
	testutil.RequireTool(t, "curl")
	testutil.RequireTool(t, "kcat")
	p := startServe(t, t.TempDir())
	cmds, outputs := readmeCommands(t, "## Try it", "Front an existing cluster")
	if len(cmds) < 10 {
		t.Fatalf("found only %d commands in the README's Try it section", len(cmds))
	}
	web := strings.TrimPrefix(p.HTTP, "http://")
	// curl reports the status of each request on a line of its own.
	prelude := `curl() { command curl -sS -w '\n__status__%{http_code}\n' "$@"; }; set -o pipefail; `
	for k, c := range cmds {
		run := strings.NewReplacer("localhost:8082", web, "127.0.0.1:9092", p.BrokerAddr).Replace(c)
		// A command that does not end (a stream without its limit) fails
		// here, not at the test binary's timeout.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", prelude+run)
		cmd.WaitDelay = time.Second
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("still running after a minute (a newcomer pasting it would wait forever): %w", err)
			}
			t.Fatalf("README command %d failed: %s\n%v\n%s%s", k+1, c, err, out.String(), stderr.String())
		}
		got := out.String()
		if strings.Contains(c, "curl") {
			m := statusLine.FindStringSubmatch(got)
			if m == nil {
				t.Fatalf("README command %d: no status in %q", k+1, got)
			}
			if m[1][0] != '2' {
				t.Fatalf("README command %d answered %s: %s\n%s", k+1, m[1], c, got)
			}
			got = statusLine.ReplaceAllString(got, "")
		}
		if want := outputs[k]; want != "" && strings.TrimSpace(got) != want {
			t.Errorf("README command %d: %s\nanswered %s\nthe README says %s", k+1, c, got, want)
		}
		if strings.HasPrefix(c, "curl localhost:8082/consumers/my-group/instances/me/records") && strings.Contains(got, "error_code") {
			t.Errorf("README command %d: the consumer read failed: %s", k+1, got)
		}
	}
	// The README's json consumer reads everything the README wrote to
	// customer1 (its first read may come before the group's assignment,
	// so read again as a newcomer would).
	base := p.HTTP + "/consumers/readme-check"
	if code, b := post(t, base, "application/vnd.kafka.v2+json", `{"name":"c","format":"json","auto.offset.reset":"earliest"}`); code != 200 {
		t.Fatalf("create: %d %s", code, b)
	}
	if code, b := post(t, base+"/instances/c/subscription", "application/vnd.kafka.v2+json", `{"topics":["customer1"]}`); code != 204 {
		t.Fatalf("subscribe: %d %s", code, b)
	}
	var n int
	for deadline := time.Now().Add(10 * time.Second); n < 2 && time.Now().Before(deadline); {
		req, _ := http.NewRequest("GET", base+"/instances/c/records?timeout=500", nil)
		req.Header.Set("Accept", "application/vnd.kafka.json.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var recs []json.RawMessage
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || json.Unmarshal(b, &recs) != nil {
			t.Fatalf("a json consumer of customer1, after the README: %d %s", resp.StatusCode, b)
		}
		n += len(recs)
	}
	if n < 2 {
		t.Fatalf("a json consumer of customer1 read %d records, want the two the README wrote (the seed's and v3's)", n)
	}
}
