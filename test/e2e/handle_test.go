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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/cli"
	"github.com/kgate/kgate/internal/consumer"
	"github.com/kgate/kgate/internal/media/mediatest"
	"github.com/kgate/kgate/internal/testutil"
	"github.com/kgate/kgate/internal/vault"
	"github.com/kgate/kgate/internal/vault/vaulttest"
)

// kgateProc is kgate running as a child process.
type kgateProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startKgate runs the built `kgate args...` (see TestMain) with extra
// environment variables; the process is killed when the test ends.
func startKgate(t *testing.T, env []string, args ...string) *kgateProc {
	t.Helper()
	cmd := exec.Command(kgateBin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &kgateProc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("kgate %s output:\n%s", args[0], tail(p.stderr.String(), 4000))
		}
	})
	return p
}

func (p *kgateProc) kill() {
	_ = p.cmd.Process.Kill() // SIGKILL
	<-p.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *kgateProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Error("kgate did not stop within 30s of SIGTERM")
		p.kill()
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("kgate exited with %d", code)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// produceJSON posts records through the gateway's Confluent v2 API.
func produceJSON(t *testing.T, gw *testutil.Gateway, topic string, records ...map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"records": records})
	resp, err := http.Post(gw.URL+"/topics/"+topic, "application/vnd.kafka.json.v2+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("producing to %s: HTTP %d", topic, resp.StatusCode)
	}
}

// consumeN reads topic from its start until n records arrived.
func consumeN(t *testing.T, brokers []string, topic string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	if len(out) < n {
		t.Fatalf("%s: %d records after %s, want %d", topic, len(out), timeout, n)
	}
	return out
}

func header(r *kgo.Record, k string) string {
	v, _ := consumer.Header(r, k)
	return v
}

const (
	vaultAK = "e2e-access-key-4e1d"
	vaultSK = "e2e-secret-key-b77a"
)

// TestHandleVaultColors: a Vault event produced through kgate's HTTP API
// is handled by `kgate handle vault-colors` (found through the data
// directory, keys from the environment) and its colours read from the
// output topic; a poison record, a missing recording and a record that
// meets wrong keys go to the dead-letter topic, and the keys never reach
// the logs or the dead letters.
func TestHandleVaultColors(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	gw := testutil.StartGateway(t, nil)
	bands := []mediatest.Band{{RGB: [3]uint8{210, 60, 40}, Height: 144}, {RGB: [3]uint8{20, 120, 60}, Height: 96}}
	clip := mediatest.Make(t, t.TempDir(), "clip.mp4", mediatest.Clip{Width: 320, Bands: bands})
	b, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	const key = "acc/1606164482_6-818812_Driveway_12-91-92-183_121_605.mp4"
	srv := vaulttest.New(t, vaultAK, vaultSK)
	srv.Put("gcp-europe-west1", key, b)

	common := []string{"--data-dir", gw.Config.DataDir, "--topic", "kcloud-event-queue", "--output-topic", "colors",
		"--vault-url", srv.URL + "/api", "--metrics-listen", "127.0.0.1:0", "--progress", "off", "--log-level", "debug",
		"--backoff-initial", "10ms", "--max-attempts", "2", "--session-timeout", "6s"}
	p := startKgate(t, []string{"KGATE_HANDLE_VAULT_ACCESS_KEY=" + vaultAK, "KGATE_HANDLE_VAULT_SECRET_ACCESS_KEY=" + vaultSK},
		append([]string{"handle", "vault-colors"}, common...)...)

	event := func(k string) map[string]any {
		return map[string]any{"key": "cam-1", "value": map[string]any{
			"date": 1606164482, "source": "gcp-europe-west1", "provider": "kstorage",
			"payload": map[string]any{"fileSize": len(b), "key": k, "metadata": map[string]any{"event-instancename": "Driveway"}},
		}}
	}
	produceJSON(t, gw, "kcloud-event-queue", event(key), map[string]any{"value": "not an event"}, event("acc/missing.mp4"))

	brokers := gw.Info.Brokers
	outs := consumeN(t, brokers, "colors", 1, 60*time.Second)
	var res vault.ColorsResult
	if err := json.Unmarshal(outs[0].Value, &res); err != nil {
		t.Fatal(err)
	}
	if res.Key != key || res.Provider != "gcp-europe-west1" || res.Frame.Width != 320 || res.Frame.Height != 240 || len(res.Colors) != 2 {
		t.Fatalf("result %s", outs[0].Value)
	}
	for i, c := range res.Colors {
		for j := range 3 {
			if d := int(c.RGB[j]) - int(bands[i].RGB[j]); d < -6 || d > 6 {
				t.Errorf("colour %d = %v, want %v", i, c.RGB, bands[i].RGB)
			}
		}
		if want := float64(bands[i].Height) / 240; c.Share < want-0.01 || c.Share > want+0.01 {
			t.Errorf("colour %d share %.4f, want %.4f", i, c.Share, want)
		}
	}
	if string(outs[0].Key) != `"cam-1"` || header(outs[0], consumer.HeaderOriginTopic) != "kcloud-event-queue" {
		t.Errorf("output key %q headers %v", outs[0].Key, outs[0].Headers)
	}

	// The metrics listener (port chosen at start, read from the log).
	metrics := scrapeMetrics(t, p)
	for _, want := range []string{
		`kgate_handle_records_handled_total{handler="vault-colors"} 1`,
		`kgate_handle_lag_records{partition="0",topic="kcloud-event-queue"} 0`,
		`kgate_handle_duration_seconds_count{handler="vault-colors",outcome="handled"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	dlq := consumeN(t, brokers, "kgate-handle-vault-colors.dlq", 2, 30*time.Second)
	reasons := map[string]string{}
	for _, r := range dlq {
		reasons[header(r, consumer.HeaderDLQOriginOffset)] = header(r, consumer.HeaderDLQReason)
	}
	if reasons["1"] != consumer.ReasonMalformed || reasons["2"] != consumer.ReasonPermanent {
		t.Errorf("dead letters by origin offset: %v", reasons)
	}
	p.stop(t)

	// The same worker with wrong keys: Vault answers 401 with the keys
	// in the body.
	const wrongAK, wrongSK = "wrong-ak-0a9f", "wrong-sk-5c3e"
	p2 := startKgate(t, []string{"KGATE_HANDLE_VAULT_ACCESS_KEY=" + wrongAK, "KGATE_HANDLE_VAULT_SECRET_ACCESS_KEY=" + wrongSK},
		append([]string{"handle", "vault-colors"}, common...)...)
	produceJSON(t, gw, "kcloud-event-queue", event(key))
	dlq = consumeN(t, brokers, "kgate-handle-vault-colors.dlq", 3, 30*time.Second)
	p2.stop(t)
	last := dlq[len(dlq)-1]
	if header(last, consumer.HeaderDLQReason) != consumer.ReasonPermanent || !strings.Contains(header(last, consumer.HeaderDLQError), "401") {
		t.Errorf("dead letter after 401: %v", last.Headers)
	}
	for _, secret := range []string{vaultAK, vaultSK, wrongAK, wrongSK} {
		for _, r := range dlq {
			for _, h := range r.Headers {
				if strings.Contains(string(h.Value), secret) {
					t.Errorf("dead letter header %s holds a key", h.Key)
				}
			}
		}
		if strings.Contains(p.stderr.String(), secret) || strings.Contains(p2.stderr.String(), secret) {
			t.Errorf("a Vault key reached the logs")
		}
	}
	if !strings.Contains(p2.stderr.String(), "401") {
		t.Errorf("the 401 was not logged at all")
	}
}

// TestHandleKill9 kills a worker with SIGKILL in the middle of a stream
// and starts another: no record is lost, no record committed before the
// kill is handled again, and the duplicates are at most the records in
// flight at the kill (handled or being handled, not yet committed). With
// the default commit policy (commit as soon as a record is finished) that
// is a few records; with a commit interval it is what that interval let
// pile up.
func TestHandleKill9(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		commitInterval string
		maxInFlight    int
	}{
		{"commit at once", "0", 3 * (3 + 3)},
		{"commit every 300ms", "300ms", 3 * 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kill9(t, tt.commitInterval, tt.maxInFlight)
		})
	}
}

func kill9(t *testing.T, commitInterval string, maxInFlight int) {
	gw := testutil.StartGateway(t, nil)
	brokers := gw.Info.Brokers
	adm, cl := adminClient(t, brokers)
	const partitions, perPartition, concurrency = 3, 120, 3
	if _, err := adm.CreateTopic(t.Context(), partitions, -1, nil, "jobs"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for p := range int32(partitions) {
		for i := range perPartition {
			recs = append(recs, &kgo.Record{Topic: "jobs", Partition: p, Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(fmt.Sprintf("%d-%d", p, i))})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	args := []string{"handle", "exec", "--data-dir", gw.Config.DataDir, "--topic", "jobs", "--output-topic", "done",
		"--group", "kill9", "--concurrency", strconv.Itoa(concurrency), "--metrics-listen", "", "--progress", "off",
		"--session-timeout", "6s", "--revoke-grace", "1s", "--commit-interval", commitInterval,
		"--", "sh", "-c", "sleep 0.005; cat"}
	env := []string{"KGATE_HANDLE_REBALANCE_TIMEOUT=3s"}
	first := startKgate(t, env, args...)
	consumeN(t, brokers, "done", 60, 60*time.Second)
	first.kill()

	committedAtKill := groupOffsets(t, adm, "kill9", "jobs")
	time.Sleep(200 * time.Millisecond) // let produce requests sent before the kill land
	beforeRestart := outputsByInput(consumeN(t, brokers, "done", 60, 10*time.Second))
	inFlight := 0 // handled by the first worker but not committed
	for in := range beforeRestart {
		if in.offset >= committedAtKill[in.partition] {
			inFlight++
		}
	}

	second := startKgate(t, env, args...)
	consumeN(t, brokers, "done", partitions*perPartition, 90*time.Second)
	waitCommitted(t, adm, "kill9", "jobs", partitions, perPartition)
	second.stop(t)
	all := outputsByInput(consumeN(t, brokers, "done", partitions*perPartition, 10*time.Second))

	dups := 0
	for p := range int32(partitions) {
		for o := range int64(perPartition) {
			n := all[input{p, o}]
			switch {
			case n == 0:
				t.Errorf("record %d/%d was lost", p, o)
			case n > 1 && o < committedAtKill[p]:
				t.Errorf("record %d/%d was committed before the kill but handled again", p, o)
			case n > 1:
				dups += n - 1
			}
		}
	}
	t.Logf("killed after %d outputs; committed at kill %v; in flight %d; duplicates %d", len(beforeRestart), committedAtKill, inFlight, dups)
	if dups > inFlight {
		t.Errorf("%d duplicates, more than the %d records in flight at the kill", dups, inFlight)
	}
	if inFlight > maxInFlight {
		t.Errorf("%d records in flight at the kill, want at most %d", inFlight, maxInFlight)
	}
}

// scrapeMetrics finds the worker's metrics address in its log and returns
// the /metrics page once the dead letters are counted.
func scrapeMetrics(t *testing.T, p *kgateProc) string {
	t.Helper()
	var addr string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "metrics listening" {
			addr = l.Addr
		}
	}
	if addr == "" {
		t.Fatal("no metrics address in the log")
	}
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(addr)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, `kgate_handle_records_dead_lettered_total{handler="vault-colors",reason="permanent"} 1`) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return body
}

type input struct {
	partition int32
	offset    int64
}

func outputsByInput(recs []*kgo.Record) map[input]int {
	out := map[input]int{}
	for _, r := range recs {
		p, _ := strconv.Atoi(header(r, consumer.HeaderOriginPartition))
		o, _ := strconv.ParseInt(header(r, consumer.HeaderOriginOffset), 10, 64)
		out[input{int32(p), o}]++
	}
	return out
}

func adminClient(t *testing.T, brokers []string) (*kadm.Client, *kgo.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl), cl
}

func groupOffsets(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

func waitCommitted(t *testing.T, adm *kadm.Client, group, topic string, partitions int32, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := groupOffsets(t, adm, group, topic)
		ok := true
		for p := range partitions {
			ok = ok && c[p] == want
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed %v, want %d everywhere", c, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDLQReplayCommand runs `kgate dlq replay` against dead letters the
// runtime wrote, found through the gateway's data directory.
func TestDLQReplayCommand(t *testing.T) {
	t.Parallel()
	gw := testutil.StartGateway(t, nil)
	adm, cl := adminClient(t, gw.Info.Brokers)
	for _, topic := range []string{"orders", "orders.dlq"} {
		if _, err := adm.CreateTopic(t.Context(), 2, -1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	dead := &kgo.Record{Topic: "orders.dlq", Partition: 0, Key: []byte("o-1"), Value: []byte(`{"id":1}`), Headers: []kgo.RecordHeader{
		{Key: "trace", Value: []byte("t1")},
		{Key: consumer.HeaderDLQOriginTopic, Value: []byte("orders")},
		{Key: consumer.HeaderDLQOriginPartition, Value: []byte("1")},
		{Key: consumer.HeaderDLQOriginOffset, Value: []byte("17")},
		{Key: consumer.HeaderDLQReason, Value: []byte("exhausted")},
		{Key: consumer.HeaderDLQError, Value: []byte("webhook answered 503")},
	}}
	if err := cl.ProduceSync(t.Context(), dead).FirstErr(); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		env := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		code := cli.Run(t.Context(), append([]string{"dlq", "replay", "--data-dir", gw.Config.DataDir, "--dlq-topic", "orders.dlq", "--log-level", "error"}, args...), env)
		return code, out.String() + errb.String()
	}
	code, out := run("--dry-run")
	if code != 0 || !strings.Contains(out, "orders.dlq/0/0 -> orders  reason=exhausted") || !strings.Contains(out, "would replay 1 dead letters (orders: 1)") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	code, out = run()
	if code != 0 || !strings.Contains(out, "replayed 1 dead letters (orders: 1)") {
		t.Fatalf("replay: %d\n%s", code, out)
	}
	got := consumeN(t, gw.Info.Brokers, "orders", 1, 10*time.Second)[0]
	if got.Partition != 1 || string(got.Value) != `{"id":1}` || header(got, "trace") != "t1" || header(got, consumer.HeaderDLQReason) != "" ||
		header(got, consumer.HeaderReplayedFrom) != "orders.dlq/0/0" {
		t.Errorf("replayed record: partition %d %s %v", got.Partition, got.Value, got.Headers)
	}
	code, out = run()
	if code != 0 || !strings.Contains(out, "replayed 0 dead letters") {
		t.Errorf("second replay: %d\n%s", code, out)
	}
}

// TestHandleSASL runs the worker against a broker that requires SASL, with
// the seed's client settings (security.protocol=SASL_PLAINTEXT,
// sasl.mechanisms=PLAIN) and SCRAM; the password comes from the
// environment and never appears in the output.
func TestHandleSASL(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			const user, pw = "aaa", "sasl-pw-5d2e91"
			addr := testutil.StartBroker(t, broker.KfakeOpts(kfake.EnableSASL(), kfake.Superuser(mech, user, pw)))
			auth := plain.Auth{User: user, Pass: pw}.AsMechanism()
			if mech != "PLAIN" {
				auth = scram.Auth{User: user, Pass: pw}.AsSha512Mechanism()
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(auth), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 1, -1, nil, "sasl-in"); err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "sasl-in", Key: []byte("k"), Value: []byte("hello")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			p := startKgate(t, []string{"KGATE_KAFKA_SASL_PASSWORD=" + pw},
				"handle", "exec", "--brokers", addr, "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", mech,
				"--sasl-username", user, "--topic", "sasl-in", "--output-topic", "sasl-out", "--metrics-listen", "",
				"--progress", "off", "--", "tr", "a-z", "A-Z")
			cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(auth), kgo.ConsumeTopics("sasl-out"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var got []*kgo.Record
			for len(got) == 0 && ctx.Err() == nil {
				got = cons.PollFetches(ctx).Records()
			}
			if len(got) != 1 || string(got[0].Value) != "HELLO" {
				t.Fatalf("outputs %v", got)
			}
			p.stop(t)
			if strings.Contains(p.stderr.String(), pw) {
				t.Error("the SASL password reached the logs")
			}
		})
	}
}
