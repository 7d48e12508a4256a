package app_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	segkafka "github.com/segmentio/kafka-go"
	segplain "github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// The Kafka port terminates SASL itself (package kafkaport): these tests
// log in with every mechanism and real clients over the wire.

var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

func mechanism(name, user, password string) sasl.Mechanism {
	switch name {
	case "PLAIN":
		return plain.Auth{User: user, Pass: password}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
	}
	return scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
}

// saslGateway is a secure gateway whose users file also holds plainonly
// (a bcrypt password, no SCRAM credentials) and whose permissions let
// customer1 consume in the seed's group mygroup.
func saslGateway(t *testing.T, mutate ...func(*config.Config)) *testutil.Gateway {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("plainonlypw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	return secureGateway(t, func(c *config.Config) {
		appendFile(t, c.Auth.Users, "plainonly:\n  password_hash: \""+string(hash)+"\"\n")
		appendFile(t, c.Auth.Permissions, "customer1:\n  consume: [mygroup]\n")
		for _, m := range mutate {
			m(c)
		}
	})
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// seedTopic creates topic (as its owner, over HTTP) with one record.
func seedTopic(t *testing.T, g *testutil.Gateway, topic string) {
	t.Helper()
	if r := produceV2(t, g, topic, "Authorization", basic(topic)); r.status != 200 {
		t.Fatalf("produce over HTTP to %s: %d %s", topic, r.status, r.body)
	}
}

// TestKafkaPortFranzGoMechanisms: franz-go produces, consumes in a group
// and commits with each mechanism; wrong passwords, missing SCRAM
// credentials, ungranted topics and groups get Kafka's errors with
// messages, and failures and successes are audited.
func TestKafkaPortFranzGoMechanisms(t *testing.T) {
	g := saslGateway(t)
	seedTopic(t, g, "customer1")
	seedTopic(t, g, "customer2")
	for _, mech := range saslMechanisms {
		t.Run(mech, func(t *testing.T) {
			group := "customer1-" + strings.ToLower(mech)
			cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr), kgo.SASL(mechanism(mech, "customer1", "password1")),
				kgo.ConsumerGroup(group), kgo.ConsumeTopics("customer1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.DisableAutoCommit(), kgo.RetryTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			value := "via " + mech
			if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Value: []byte(value)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			found := false
			for !found && ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil && ctx.Err() == nil {
					t.Fatalf("consume: %v", err)
				}
				fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == value })
			}
			if !found {
				t.Fatal("the produced record was not consumed")
			}
			if err := cl.CommitUncommittedOffsets(t.Context()); err != nil {
				t.Fatalf("commit: %v", err)
			}
			offs, err := kadm.NewClient(cl).FetchOffsets(t.Context(), group)
			if err != nil || len(offs) == 0 {
				t.Fatalf("committed offsets: %v %v", offs, err)
			}
			// Rights are the HTTP ones.
			err = cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer2", Value: []byte("x")}).FirstErr()
			if !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Errorf("produce to customer2: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
			if _, err := kadm.NewClient(cl).FetchOffsets(t.Context(), "customer2-group"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
				t.Errorf("offsets of customer2-group: %v, want GROUP_AUTHORIZATION_FAILED", err)
			}
			// A wrong password is SASL_AUTHENTICATION_FAILED with a message.
			err = dialKafka(t, g.Info.BrokerAddr, "127.0.0.1").saslLogin(mechanism(mech, "customer1", "wrong-Xy7"))
			var se *saslError
			if !errors.As(err, &se) || se.code != kerr.SaslAuthenticationFailed.Code || !strings.Contains(se.msg, "bad credentials") {
				t.Errorf("wrong password: %v, want SASL_AUTHENTICATION_FAILED naming bad credentials", err)
			}
			// So is an unknown user, with the same message.
			err2 := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1").saslLogin(mechanism(mech, "nobody-here", "wrong-Xy7"))
			var se2 *saslError
			if !errors.As(err2, &se2) || se == nil || se2.msg != se.msg {
				t.Errorf("unknown user: %v, want the wrong password's %v", err2, err)
			}
		})
	}
	// plainonly has no SCRAM credentials: SCRAM says how to add them,
	// PLAIN works.
	err := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1").saslLogin(mechanism("SCRAM-SHA-512", "plainonly", "plainonlypw"))
	var se *saslError
	if !errors.As(err, &se) || se.code != kerr.SaslAuthenticationFailed.Code || !strings.Contains(se.msg, "kgate passwd --user NAME --scram") {
		t.Errorf("SCRAM without SCRAM credentials: %v, want a message naming kgate passwd", err)
	}
	if err := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1").saslLogin(mechanism("PLAIN", "plainonly", "plainonlypw")); err != nil {
		t.Errorf("PLAIN without SCRAM credentials: %v", err)
	}
	// An unknown mechanism: UNSUPPORTED_SASL_MECHANISM listing the others.
	c := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1")
	err = c.saslLogin(plainNamed{"SCRAM-SHA-1"})
	if !errors.As(err, &se) || se.code != kerr.UnsupportedSaslMechanism.Code || !strings.Contains(se.msg, "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER") {
		t.Errorf("unknown mechanism: %v", err)
	}
	recs := auditRecords(t, g, 10*time.Second, 0, func(m map[string]any) bool {
		return m["auth_method"] == "kafka_sasl" && m["principal"] != "kgate"
	}, func() bool { return false })
	count := map[string]int{}
	for _, m := range recs {
		count[fmt.Sprint(m["event"], " ", m["principal"])]++
		if strings.Contains(fmt.Sprint(m), "wrong-Xy7") || strings.Contains(fmt.Sprint(m), "plainonlypw") {
			t.Errorf("an audit record holds a password: %v", m)
		}
	}
	if count["auth_failure customer1"] < 3 || count["auth_failure (unknown)"] < 3 || count["login customer1"] < 3 || count["login plainonly"] != 1 {
		t.Errorf("audit records: %v", count)
	}
}

// plainNamed is a mechanism name no server offers.
type plainNamed struct{ name string }

func (p plainNamed) Name() string { return p.name }
func (p plainNamed) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	return nil, nil, errors.New("not reached")
}

// TestKafkaPortKcat: librdkafka (kcat) produces and consumes with PLAIN
// and both SCRAMs.
func TestKafkaPortKcat(t *testing.T) {
	kcat := testutil.RequireTool(t, "kcat")
	g := saslGateway(t)
	seedTopic(t, g, "customer1")
	for _, mech := range saslMechanisms {
		t.Run(mech, func(t *testing.T) {
			run := func(stdin string, args ...string) (string, error) {
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", g.Info.BrokerAddr,
					"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
					"-X", "sasl.username=customer1", "-X", "sasl.password=password1"}, args...)...)
				cmd.Stdin = strings.NewReader(stdin)
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			value := "kcat-" + mech
			if out, err := run(value+"\n", "-P", "-t", "customer1"); err != nil {
				t.Fatalf("kcat produce: %v\n%s", err, out)
			}
			out, err := run("", "-C", "-t", "customer1", "-o", "beginning", "-e", "-q")
			if err != nil || !strings.Contains(out, value) {
				t.Fatalf("kcat consume: %v\n%s", err, out)
			}
		})
	}
}

// TestKafkaPortSeedPythonConsumer: the seed's confluent-kafka consumer
// settings, verbatim, read a record produced over HTTP.
func TestKafkaPortSeedPythonConsumer(t *testing.T) {
	py := testutil.RequirePython(t, "confluent_kafka")
	g := saslGateway(t)
	seedTopic(t, g, "customer1") // the seed's record, over HTTP (v2 JSON)
	script := `
import sys
from confluent_kafka import Consumer
ADDR, U, P = sys.argv[1], sys.argv[2], sys.argv[3]
c = Consumer({'bootstrap.servers': ADDR, 'group.id': 'mygroup', 'auto.offset.reset': 'earliest', 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': 'PLAIN', 'sasl.username': U, 'sasl.password': P})
c.subscribe(['customer1'])
for _ in range(60):
    m = c.poll(1.0)
    if m is None:
        continue
    if m.error():
        print('error', m.error()); sys.exit(1)
    print(m.value().decode()); break
c.close()
`
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", script, g.Info.BrokerAddr, "customer1", "password1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "AppleWatch4") {
		t.Fatalf("python consumer: %v\n%s", err, out)
	}
}

// TestKafkaPortKafkaPython: kafka-python (SaslHandshake v0, then raw
// SASL tokens) produces and consumes with every mechanism.
func TestKafkaPortKafkaPython(t *testing.T) {
	py := testutil.RequirePython(t, "kafka")
	g := saslGateway(t)
	seedTopic(t, g, "customer1") // kafka-python sends Metadata v1: the topic must exist
	script := `
import sys
from kafka import KafkaProducer, KafkaConsumer
ADDR, MECH, VALUE = sys.argv[1], sys.argv[2], sys.argv[3]
auth = dict(bootstrap_servers=ADDR, security_protocol='SASL_PLAINTEXT', sasl_mechanism=MECH,
            sasl_plain_username='customer1', sasl_plain_password='password1', api_version=(2, 0, 0))
p = KafkaProducer(**auth)
p.send('customer1', VALUE.encode()).get(timeout=30)
p.close()
c = KafkaConsumer('customer1', group_id='customer1-kafka-python-' + MECH, auto_offset_reset='earliest', consumer_timeout_ms=20000, **auth)
for m in c:
    if m.value.decode() == VALUE:
        print('got', VALUE); break
c.close()
`
	for _, mech := range saslMechanisms {
		t.Run(mech, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			value := "kafka-python-" + mech
			out, err := exec.CommandContext(ctx, py, "-c", script, g.Info.BrokerAddr, mech, value).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "got "+value) {
				t.Fatalf("kafka-python: %v\n%s", err, out)
			}
		})
	}
}

// TestKafkaPortKafkaJS: kafkajs (which checks the SaslHandshake's
// mechanism list) produces and consumes in a group with every mechanism.
// kafkajs is installed from npm into a temporary directory.
func TestKafkaPortKafkaJS(t *testing.T) {
	node := testutil.RequireTool(t, "node")
	npm := testutil.RequireTool(t, "npm")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "kafkajs@2.2.4").CombinedOutput(); err != nil {
		testutil.Missing(t, fmt.Sprintf("npm install kafkajs: %v\n%s", err, out))
	}
	script := filepath.Join(dir, "client.js")
	if err := os.WriteFile(script, []byte(`
const { Kafka, logLevel } = require('kafkajs');
const [addr, mechanism, value] = process.argv.slice(2);
const kafka = new Kafka({ brokers: [addr], logLevel: logLevel.NOTHING,
  sasl: { mechanism: mechanism.toLowerCase(), username: 'customer1', password: 'password1' } });
(async () => {
  const p = kafka.producer();
  await p.connect();
  await p.send({ topic: 'customer1', messages: [{ value }] });
  await p.disconnect();
  const c = kafka.consumer({ groupId: 'customer1-kafkajs-' + mechanism });
  await c.connect();
  await c.subscribe({ topic: 'customer1', fromBeginning: true });
  const timer = setTimeout(() => { console.log('timeout'); process.exit(2); }, 40000);
  await c.run({ eachMessage: async ({ message }) => {
    if (message.value.toString() === value) {
      console.log('got ' + value);
      clearTimeout(timer);
      setImmediate(async () => { await c.disconnect(); process.exit(0); });
    }
  } });
})().catch((e) => { console.log('error', e.message); process.exit(1); });
`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := saslGateway(t)
	seedTopic(t, g, "customer1")
	for _, mech := range saslMechanisms {
		t.Run(mech, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			value := "kafkajs-" + mech
			cmd := exec.CommandContext(ctx, node, script, g.Info.BrokerAddr, mech, value)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "got "+value) {
				t.Fatalf("kafkajs: %v\n%s", err, out)
			}
		})
	}
}

// TestKafkaPortSegmentioKafkaGo: segmentio/kafka-go writes and reads with
// PLAIN.
func TestKafkaPortSegmentioKafkaGo(t *testing.T) {
	g := saslGateway(t)
	seedTopic(t, g, "customer1")
	d := &segkafka.Dialer{Timeout: 10 * time.Second, SASLMechanism: segplain.Mechanism{Username: "customer1", Password: "password1"},
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := d.DialLeader(ctx, "tcp", g.Info.BrokerAddr, "customer1", 0)
	if err != nil {
		t.Fatalf("dial leader: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.WriteMessages(segkafka.Message{Value: []byte("from-kafka-go")}); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := conn.Seek(0, segkafka.SeekStart); err != nil {
		t.Fatalf("seek: %v", err)
	}
	batch := conn.ReadBatch(1, 1<<20)
	defer batch.Close()
	found := false
	for {
		m, err := batch.ReadMessage()
		if err != nil {
			break
		}
		found = found || string(m.Value) == "from-kafka-go"
	}
	if !found {
		t.Error("kafka-go did not read back its record")
	}
}
