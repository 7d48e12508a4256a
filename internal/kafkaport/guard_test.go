package kafkaport_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafkaport"
	"github.com/kgate/kgate/internal/testutil"
)

const superPW = "super-secret-password-for-the-test-broker"

var protected = []string{"_kgate_tokens", "_kgate_usage", "_kgate_audit"}

func samplePermissions(t testing.TB) string {
	b, err := os.ReadFile("testdata/permissions.yml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type secureBroker struct {
	addr  string
	admin *kgo.Client
	// set rewrites the permissions file and reloads, as kgate does.
	set func(permissions string)
}

// startSecureBroker runs the embedded broker as kgate does with users
// configured: the guard terminating SASL before it, ACLs and the users'
// broker credentials from a real auth.Service over testdata's files.
func startSecureBroker(t *testing.T, permissions string) *secureBroker {
	t.Helper()
	creds := kafkaport.NewCredentials([]byte("0123456789abcdef0123456789abcdef"))
	guard, err := kafkaport.New(kafkaport.Options{Superuser: "kgate", SuperuserPassword: superPW, Credentials: creds,
		FailuresPerSecond: 1000, FailureBurst: 1000, UserFailuresPerSecond: 1000, UserFailureBurst: 1000,
		MaxConnections: 1000, MaxConnectionsPerUser: 100, Logger: testutil.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(t.TempDir(), broker.Listen("127.0.0.1:0"), broker.Logger(testutil.Logger()),
		broker.KfakeOpts(auth.BrokerOptions("SCRAM-SHA-512", "kgate", superPW)...),
		broker.WrapListener(guard.Listener))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	sb := &secureBroker{addr: b.Addr()}
	sb.admin = client(t, sb.addr, "kgate", superPW, true)
	ctx := t.Context()
	if err := kafkaport.AdvertiseSASLHandshakeV0(ctx, b.Cluster(), sb.admin); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	users, perms := filepath.Join(dir, "users.yml"), filepath.Join(dir, "permissions.yml")
	ub, err := os.ReadFile("testdata/users.yml")
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{users: ub, perms: []byte(permissions)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ac := config.Default().Auth
	ac.Users, ac.Permissions = users, perms
	sync := func(ctx context.Context, pol *auth.Policy) error {
		return auth.SyncBroker(ctx, sb.admin, pol, "kgate", creds.SCRAM512, nil, testutil.Logger())
	}
	svc, err := auth.New(ctx, auth.Options{Config: ac, DataDir: dir, Protected: protected, Logger: testutil.Logger(), OnReload: sync})
	if err != nil {
		t.Fatal(err)
	}
	if err := sync(ctx, svc.Policy()); err != nil {
		t.Fatal(err)
	}
	guard.Admit(svc, nil, func(ctx context.Context, user string) error {
		return auth.ProvisionBrokerUser(ctx, sb.admin, user, creds.SCRAM512)
	})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = guard.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	sb.set = func(p string) {
		if err := os.WriteFile(perms, []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Reload(ctx, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range []string{"customer1", "customer2", "logs-app", "anything", "partner-in", "_kgate_tokens"} {
		if _, err := kadm.NewClient(sb.admin).CreateTopic(ctx, 1, -1, nil, topic); err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
	}
	return sb
}

func client(t *testing.T, addr, user, pw string, sha512 bool) *kgo.Client {
	t.Helper()
	mech := scram.Auth{User: user, Pass: pw}.AsSha256Mechanism()
	if sha512 {
		mech = scram.Auth{User: user, Pass: pw}.AsSha512Mechanism()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(mech),
		kgo.RecordDeliveryTimeout(4*time.Second), kgo.RetryTimeout(4*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t *testing.T, cl *kgo.Client, topic string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
}

func fetch(t *testing.T, addr, user, pw, topic string) error {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: user, Pass: pw}.AsSha512Mechanism()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}), kgo.RetryTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return err
		}
		if fs.NumRecords() > 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

func TestKafkaPortHasHTTPRights(t *testing.T) {
	sb := startSecureBroker(t, samplePermissions(t))
	if err := produce(t, client(t, sb.addr, "admin", "adminpw", true), "logs-app"); err != nil {
		t.Fatalf("admin produce: %v", err)
	}
	c1 := client(t, sb.addr, "customer1", "password1", true)
	c1sha256 := client(t, sb.addr, "customer1", "password1", false)
	mallory := client(t, sb.addr, "mallory", "mallorypw", true)
	tests := []struct {
		name  string
		err   error
		allow bool
	}{
		{"customer1 produces to customer1", produce(t, c1, "customer1"), true},
		{"customer1 (SCRAM-SHA-256) produces to customer1", produce(t, c1sha256, "customer1"), true},
		{"customer1 produces to customer2", produce(t, c1, "customer2"), false},
		{"customer1 produces to _kgate_tokens", produce(t, c1, "_kgate_tokens"), false},
		{"mallory produces to anything", produce(t, mallory, "anything"), true},
		{"mallory produces to customer1 (denied)", produce(t, mallory, "customer1"), false},
		{"customer1 fetches customer1", fetch(t, sb.addr, "customer1", "password1", "customer1"), true},
		{"customer1 fetches logs-app", fetch(t, sb.addr, "customer1", "password1", "logs-app"), false},
		{"reader fetches logs-app (group readers, logs-*)", fetch(t, sb.addr, "reader", "readerpw", "logs-app"), true},
		{"mallory fetches _kgate_tokens", fetch(t, sb.addr, "mallory", "mallorypw", "_kgate_tokens"), false},
	}
	for _, tt := range tests {
		if tt.allow && tt.err != nil {
			t.Errorf("%s: %v", tt.name, tt.err)
		}
		if !tt.allow && !errors.Is(tt.err, kerr.TopicAuthorizationFailed) {
			t.Errorf("%s: got %v, want TOPIC_AUTHORIZATION_FAILED", tt.name, tt.err)
		}
	}
	// These fail by timing out on retries: run them together.
	plain, err := kgo.NewClient(kgo.SeedBrokers(sb.addr), kgo.RecordDeliveryTimeout(3*time.Second), kgo.RetryTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	refused := map[string]*kgo.Client{
		// A wrong SCRAM password.
		"wrong password": client(t, sb.addr, "customer1", "password2", true),
		// partner may only connect from 10.0.0.0/8: the guard drops it.
		"partner from 127.0.0.1": client(t, sb.addr, "partner", "partnerpw", true),
		// Without SASL nothing is served.
		"no SASL": plain,
	}
	errs := make(chan string, len(refused))
	for name, cl := range refused {
		go func() {
			if err := produce(t, cl, "partner-in"); err == nil {
				errs <- name + ": produced"
				return
			}
			errs <- ""
		}()
	}
	for range refused {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

func TestKafkaPortFollowsReload(t *testing.T) {
	sb := startSecureBroker(t, samplePermissions(t))
	c1 := client(t, sb.addr, "customer1", "password1", true)
	if err := produce(t, c1, "customer2"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("before reload: %v", err)
	}
	sb.set(samplePermissions(t) + "\ncustomer1:\n  produce: [customer2]\n")
	if err := produce(t, c1, "customer2"); err != nil {
		t.Fatalf("after granting: %v", err)
	}
	sb.set(samplePermissions(t))
	if err := produce(t, c1, "customer2"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("after revoking the grant: %v", err)
	}
	// The CIDR guard follows the policy too: allowed from loopback,
	// partner's connection goes through (the control for the refusal in
	// TestKafkaPortHasHTTPRights).
	sb.set(strings.Replace(samplePermissions(t), "cidrs: [10.0.0.0/8]", "cidrs: [10.0.0.0/8, 127.0.0.0/8]", 1))
	if err := produce(t, client(t, sb.addr, "partner", "partnerpw", true), "partner-in"); err != nil {
		t.Fatalf("partner from loopback once allowed: %v", err)
	}
}

// TestKcatSASL shows librdkafka (kcat) authenticating with SCRAM against
// the embedded broker, which it cannot do against plain kfake.
func TestKcatSASL(t *testing.T) {
	kcat := testutil.RequireTool(t, "kcat")
	sb := startSecureBroker(t, samplePermissions(t))
	cfg := filepath.Join(t.TempDir(), "kcat.conf")
	write := func(user, pw string) {
		conf := "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=SCRAM-SHA-512\nsasl.username=" + user + "\nsasl.password=" + pw + "\n"
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-F", cfg, "-b", sb.addr}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	write("customer1", "password1")
	if out, err := run("from-kcat\n", "-P", "-t", "customer1"); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
	out, err := run("", "-C", "-t", "customer1", "-o", "beginning", "-e", "-q")
	if err != nil || !strings.Contains(out, "from-kcat") {
		t.Fatalf("kcat consume: %v\n%s", err, out)
	}
	if err := produce(t, client(t, sb.addr, "customer2", "password2", true), "customer2"); err != nil {
		t.Fatal(err)
	}
	out, err = run("", "-C", "-t", "customer2", "-o", "beginning", "-e", "-f", "value=%s\n")
	// customer1 may not read customer2: kcat gets no record.
	if strings.Contains(out, "value=") {
		t.Errorf("kcat read customer2 as customer1 (%v):\n%s", err, out)
	}
	write("customer1", "wrong")
	if out, err := run("", "-L", "-m", "2"); err == nil {
		t.Errorf("kcat listed metadata with a wrong password:\n%s", out)
	}
}
