package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const seedBody = `{"records":[{"value":{"deviceid": "AppleWatch4","heartrate": "72","timestamp":"2019-10-07 12:46:13"}}]}`

// TestSeedCurl runs the seed's request verbatim with curl (host aside).
func TestSeedCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	p := startServe(t, t.TempDir())
	out, err := exec.Command(curl, "-s", "-X", "POST", p.HTTP+"/topics/customer1",
		"-H", "Content-Type: application/vnd.kafka.json.v2+json", "-d", seedBody).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"offsets":[{"partition":0,"offset":0,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}`
	if string(out) != want {
		t.Fatalf("curl got %s\nwant %s", out, want)
	}
}

// TestRestartKeepsRecordsAndOffsets: produce, commit, SIGTERM, start again
// on the same data directory: records and committed offsets are there.
func TestRestartKeepsRecordsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir)
	for i := 0; i < 5; i++ {
		if code, b := post(t, p.HTTP+"/topics/durable", "application/vnd.kafka.json.v2+json", fmt.Sprintf(`{"records":[{"value":{"n":%d}}]}`, i)); code != 200 {
			t.Fatalf("produce: %d %s", code, b)
		}
	}
	inst := p.HTTP + "/consumers/dg/instances/c"
	ctype := "application/vnd.kafka.v2+json"
	if code, b := post(t, p.HTTP+"/consumers/dg", ctype, `{"name":"c","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false"}`); code != 200 {
		t.Fatalf("create: %d %s", code, b)
	}
	if code, b := post(t, inst+"/subscription", ctype, `{"topics":["durable"]}`); code != 204 {
		t.Fatalf("subscribe: %d %s", code, b)
	}
	read := 0
	for deadline := time.Now().Add(10 * time.Second); read < 3 && time.Now().Before(deadline); {
		req, _ := http.NewRequest("GET", inst+"/records?timeout=500&max_bytes=1", nil)
		req.Header.Set("Accept", "application/vnd.kafka.json.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var recs []json.RawMessage
		json.NewDecoder(resp.Body).Decode(&recs)
		resp.Body.Close()
		read += len(recs) // max_bytes=1: one record per read
	}
	if read < 3 {
		t.Fatalf("read %d records", read)
	}
	if code, b := post(t, inst+"/offsets", ctype, `{"offsets":[{"topic":"durable","partition":0,"offset":2}]}`); code != 200 {
		t.Fatalf("commit: %d %s", code, b)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.Logs())
	}
	for _, want := range []string{"shutting down", "embedded broker stopped"} {
		if !strings.Contains(p.Logs(), want) {
			t.Errorf("shutdown log lacks %q", want)
		}
	}

	p2 := startServe(t, dir)
	cl, err := kgo.NewClient(kgo.SeedBrokers(p2.BrokerAddr), kgo.ConsumeTopics("durable"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < 5 {
		fs := cl.PollFetches(ctxT(t))
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after restart: %v (got %v)", err, got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if fmt.Sprint(got) != `[{"n":0} {"n":1} {"n":2} {"n":3} {"n":4}]` {
		t.Fatalf("records after restart: %v", got)
	}
	offs, err := kadm.NewClient(cl).FetchOffsets(ctxT(t), "dg")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("durable", 0); !ok || o.At != 3 {
		t.Fatalf("committed offset after restart: %+v (present %v), want 3", o, ok)
	}
	// The v2 API serves the restarted data too.
	resp, err := http.Get(p2.HTTP + "/topics/durable/partitions/0/offsets")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `{"beginning_offset":0,"end_offset":5}` {
		t.Fatalf("offsets after restart: %s", b)
	}
}

// TestKill9DuringLoad: every record whose request got a 200 survives a
// kill -9 of the gateway in the middle of a produce load.
func TestKill9DuringLoad(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir)
	// Create the topic first so the load measures records, not creation.
	if code, b := post(t, p.HTTP+"/topics/load", "application/vnd.kafka.json.v2+json", `{"records":[{"value":"warmup"}]}`); code != 200 {
		t.Fatalf("warmup: %d %s", code, b)
	}
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		seq   atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				var ids []string
				var recs []string
				for i := 0; i < 10; i++ {
					id := fmt.Sprintf("r%d", seq.Add(1))
					ids = append(ids, id)
					recs = append(recs, fmt.Sprintf(`{"value":%q}`, id))
				}
				resp, err := client.Post(p.HTTP+"/topics/load", "application/vnd.kafka.json.v2+json", strings.NewReader(`{"records":[`+strings.Join(recs, ",")+`]}`))
				if err != nil {
					return // the gateway died
				}
				var pr struct {
					Offsets []struct {
						ErrorCode *int `json:"error_code"`
					} `json:"offsets"`
				}
				err = json.NewDecoder(resp.Body).Decode(&pr)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					continue
				}
				mu.Lock()
				for i, o := range pr.Offsets {
					if o.ErrorCode == nil {
						acked[ids[i]] = true
					}
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 100 {
		t.Fatalf("only %d records acknowledged before the kill; the load did not run", n)
	}

	p2 := startServe(t, dir)
	cl, err := kgo.NewClient(kgo.SeedBrokers(p2.BrokerAddr), kgo.ConsumeTopics("load"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	end, err := kadm.NewClient(cl).ListEndOffsets(ctxT(t), "load")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	end.Each(func(o kadm.ListedOffset) { total += o.Offset })
	found := map[string]bool{}
	var count int64
	for count < total {
		fs := cl.PollFetches(ctxT(t))
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after kill: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			count++
			var id string
			json.Unmarshal(r.Value, &id)
			found[id] = true
		})
	}
	lost := 0
	for id := range acked {
		if !found[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records lost after kill -9", lost, n)
	}
	t.Logf("%d acknowledged records, all present after kill -9 (%d in the log)", n, total)
}

// TestDataDirLocked: a second kgate on the same data directory fails with
// a clear message.
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	startServe(t, dir)
	out, err := exec.Command(kgateBin, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--broker-listen", "127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0").CombinedOutput()
	if err == nil {
		t.Fatal("second kgate on the same data directory started")
	}
	if !strings.Contains(string(out), "in use by another process") {
		t.Fatalf("unclear message: %s", out)
	}
}

// TestBadConfigExits2 lists every problem and exits with status 2.
func TestBadConfigExits2(t *testing.T) {
	cmd := exec.Command(kgateBin, "serve", "--listen", "nohost", "--brokers", "a:1,b")
	cmd.Env = append(cmd.Environ(), "KGATE_LOG_LEVEL=loud")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2: %s", err, out)
	}
	for _, k := range []string{"listen:", "brokers[1]:", "log.level:"} {
		if !strings.Contains(string(out), k) {
			t.Errorf("problem %s not listed:\n%s", k, out)
		}
	}
}

// TestSlowHeadersCannotHoldServer: a client that never finishes its
// headers is disconnected after the read-header timeout, and others are
// served meanwhile.
func TestSlowHeadersCannotHoldServer(t *testing.T) {
	p := startServe(t, t.TempDir(), "KGATE_HTTP_READ_HEADER_TIMEOUT=1s")
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.HTTP, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /topics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	if resp, err := http.Get(p.HTTP + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("another client was not served: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err = io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept the slow connection open")
	}
}

// TestFinding15DataDirOthersCanReadExits: kgate serve on a data directory
// with state in it that other users can read exits at once, saying how
// to fix it; after the fix it serves, and everything it and its broker
// wrote is its user's alone, though it was started with umask 022.
func TestFinding15DataDirOthersCanReadExits(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, dir) // a first run leaves state
	if code, _ := post(t, p.HTTP+"/topics/customer1", "application/vnd.kafka.json.v2+json", seedBody); code != 200 {
		t.Fatalf("produce: %d", code)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.Logs())
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if want := map[bool]os.FileMode{true: 0o700, false: 0o600}[d.IsDir()]; info.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", strings.TrimPrefix(path, dir), info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kgateBin, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--broker-listen", "127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("kgate serve on a 0755 data directory: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "chmod -R go-rwx "+dir) {
		t.Errorf("the message does not say how to fix it:\n%s", out)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	startServe(t, dir).stop(t, syscall.SIGTERM)
}

// TestServeReleasesStartupPages: on a first start, once ready, `kgate
// serve` gives back the executable's pages that start-up brought in (on
// this kernel, which has MADV_PAGEOUT): its debug line reports the
// file-backed resident bytes before and after, and no error.
func TestServeReleasesStartupPages(t *testing.T) {
	p := startServe(t, t.TempDir(), "KGATE_LOG_LEVEL=debug")
	var line map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for line == nil && time.Now().Before(deadline) {
		for _, l := range strings.Split(p.Logs(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "released start-up pages of the executable" {
				line = m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if line == nil {
		t.Fatalf("no release line in the log:\n%s", p.Logs())
	}
	before, _ := line["rss_file_before"].(float64)
	after, _ := line["rss_file_after"].(float64)
	if line["err"] != nil || before <= 0 || after < 0 || after > before/2 {
		t.Errorf("release: %v; want no error and at most half of the file-backed pages left", line)
	}
}
