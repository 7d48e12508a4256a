package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/kgate/kgate/internal/app"
	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// takenAddr returns an address held by another listener until the test
// ends.
func takenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestStartupFailureReleasesEverything: when a component fails to start,
// Serve returns its error having stopped what had started before it: the
// HTTP port can be bound again, the data directory is unlocked (a second
// gateway on it starts, on the same HTTP port) and no goroutine is left
// behind (the state-topic followers of a secured gateway included).
func TestStartupFailureReleasesEverything(t *testing.T) {
	ca := testutil.NewCA(t)
	certDir := t.TempDir()
	certFile, keyFile := filepath.Join(certDir, "server.crt"), filepath.Join(certDir, "server.key")
	c, k := ca.Issue(t, "localhost", true)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	badCert := filepath.Join(certDir, "bad.crt")
	writeFile(t, badCert, []byte("not a certificate"))

	for _, tc := range []struct {
		name   string
		mutate func(*config.Config)
	}{
		{"https address taken", func(c *config.Config) {
			c.Auth.HTTPS = config.HTTPS{Listen: takenAddr(t), CertFile: certFile, KeyFile: keyFile, ReloadInterval: config.Duration(time.Second)}
		}},
		{"bad https certificate", func(c *config.Config) {
			c.Auth.HTTPS = config.HTTPS{Listen: "127.0.0.1:0", CertFile: badCert, KeyFile: keyFile, ReloadInterval: config.Duration(time.Second)}
		}},
		{"http address taken", func(c *config.Config) { c.Listen = takenAddr(t) }},
		{"broker address taken", func(c *config.Config) { c.BrokerListen = takenAddr(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
				// This test's HTTP client, not the gateway.
				goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
				goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
			users, perms := secureFiles(t)
			good := testutil.GatewayConfig(t)
			good.Listen = freeAddr(t)
			good.Auth.Users, good.Auth.Permissions = users, perms
			bad := good
			tc.mutate(&bad)

			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := app.Serve(ctx, bad, testutil.Logger(), func(app.Info) { t.Error("a gateway that failed to start reported ready") })
			if err == nil {
				t.Fatal("Serve started")
			}
			t.Logf("Serve: %v", err)
			if bad.Listen == good.Listen {
				ln, err := net.Listen("tcp", good.Listen)
				if err != nil {
					t.Fatalf("the HTTP port is still held: %v", err)
				}
				ln.Close()
			}
			if _, err := os.Stat(filepath.Join(good.DataDir, broker.AddrFile)); err == nil {
				t.Error("the broker's address file is left behind")
			}
			g := testutil.StartGatewayConfig(t, good)
			if code, body := get(t, g.URL+"/healthz"); code != 200 {
				t.Fatalf("second gateway: %d %s", code, body)
			}
			g.Stop()
		})
	}
}

// stopLog records the components' "component stopped" log lines in order.
type stopLog struct {
	mu      sync.Mutex
	stopped []string
}

func (l *stopLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *stopLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *stopLog) WithGroup(string) slog.Handler            { return l }
func (l *stopLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "component stopped" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "component" {
			l.mu.Lock()
			l.stopped = append(l.stopped, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// TestShutdownOrder: on shutdown a v3 stream still open is answered and
// ends, and every record it acknowledged is on disk; a v2 consumer
// instance with auto-commit commits what it returned as it leaves its
// group, which it can only do because the broker is still up; and the
// components stop in the written order, the embedded broker last.
func TestShutdownOrder(t *testing.T) {
	cfg := testutil.GatewayConfig(t)
	cfg.Auth.HTTPS = config.HTTPS{Listen: "127.0.0.1:0", ClientAuth: "optional", PrincipalFrom: "cn", ReloadInterval: config.Duration(time.Hour)}
	ca := testutil.NewCA(t)
	c, k := ca.Issue(t, "localhost", true)
	cfg.Auth.HTTPS.CertFile, cfg.Auth.HTTPS.KeyFile = filepath.Join(t.TempDir(), "s.crt"), filepath.Join(t.TempDir(), "s.key")
	writeFile(t, cfg.Auth.HTTPS.CertFile, c)
	writeFile(t, cfg.Auth.HTTPS.KeyFile, k)
	// Long enough that a stream holding the drain open would show.
	cfg.HTTP.ShutdownTimeout = config.Duration(20 * time.Second)
	log := &stopLog{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan app.Info, 1)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, slog.New(log), func(i app.Info) { ready <- i }) }()
	var info app.Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	base := "http://" + info.HTTPAddr

	// A consumer instance reads three records with auto-commit on.
	for i := range 5 {
		if code, body := post(t, base+"/topics/orders", mtJSONv2, fmt.Sprintf(`{"records":[{"value":%d}]}`, i)); code != 200 {
			t.Fatalf("produce: %d %s", code, body)
		}
	}
	inst := base + "/consumers/og/instances/c"
	if code, body := post(t, base+"/consumers/og", "application/vnd.kafka.v2+json",
		`{"name":"c","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"true"}`); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := post(t, inst+"/subscription", "application/vnd.kafka.v2+json", `{"topics":["orders"]}`); code != 204 {
		t.Fatalf("subscribe: %d %s", code, body)
	}
	read := 0
	for deadline := time.Now().Add(15 * time.Second); read < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("read %d records", read)
		}
		_, body := get(t, inst+"/records?timeout=500&max_bytes=1", "Accept", mtJSONv2) // one record per read
		var recs []json.RawMessage
		if err := json.Unmarshal([]byte(body), &recs); err != nil {
			t.Fatalf("records: %s", body)
		}
		read += len(recs)
	}

	// A stream is open, with records answered, when shutdown starts.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/v3/clusters/kgate-embedded/topics/streamed/records", pr)
	req.Header.Set("Content-Type", "application/json")
	record := func(i int) string { return fmt.Sprintf(`{"value":{"type":"STRING","data":"s%d"}}`, i) }
	go func() { _, _ = io.WriteString(pw, record(0)) }()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	defer pw.Close()
	rd := bufio.NewReader(resp.Body)
	acked := map[string]bool{}
	answered := 0 // receipts come in the order of the records
	var end error
	receipt := func() bool {
		line, err := rd.ReadString('\n')
		if err != nil {
			end = err
			return false
		}
		var r struct {
			ErrorCode int `json:"error_code"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("receipt %q: %v", line, err)
		}
		switch r.ErrorCode {
		case 200:
			acked[fmt.Sprintf("s%d", answered)] = true
		case 503: // arrived after the drain began: refused, not produced
		default:
			t.Errorf("receipt %q", line)
		}
		answered++
		return true
	}
	for i := 1; i <= 3; i++ {
		if !receipt() {
			t.Fatal("stream ended early")
		}
		_, _ = io.WriteString(pw, record(i))
	}
	start := time.Now()
	cancel()
	for receipt() { // the client never closes its body: the drain ends the stream
	}
	if end != io.EOF {
		t.Errorf("the stream did not end cleanly: %v", end)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not stop")
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("shutdown took %v: the stream held the drain", el)
	}

	// Components stop in reverse start order, each after the ones that
	// use it.
	want := []string{"drain", "http", "schema registry", "membership", "v2 consumers", "sighup", "https certificates", "limits", "auth", "audit", "kafka client", "embedded broker"}
	if diff := cmp.Diff(want, log.stopped); diff != "" {
		t.Errorf("stop order (-want +got):\n%s", diff)
	}

	// Restarted on the same data directory: the acknowledged records and
	// the consumer's commit are there.
	g := testutil.StartGatewayConfig(t, cfg)
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr), kgo.ConsumeTopics("streamed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stored := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); len(stored) < len(acked) && time.Now().Before(deadline); {
		pctx, pcancel := context.WithTimeout(t.Context(), time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { stored[string(r.Value)] = true })
		pcancel()
	}
	for v := range acked {
		if !stored[v] {
			t.Errorf("acknowledged record %s was lost (stored %v)", v, stored)
		}
	}
	if len(acked) < 3 {
		t.Errorf("only %d records acknowledged", len(acked))
	}
	offs, err := kadm.NewClient(cl).FetchOffsets(t.Context(), "og")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("orders", 0); !ok || o.At != int64(read) {
		t.Errorf("committed offset after restart: %+v (present %v), want %d", o, ok, read)
	}
}
