package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// OAUTHBEARER on the Kafka port carries kgate's own tokens (POST /login):
// the same principal as over HTTP, and the connection lasts while the
// token does.

// bearerClient is a franz-go client of g's Kafka port logging in with tok.
func bearerClient(t *testing.T, g *testutil.Gateway, tok string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(g.Info.BrokerAddr), kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()),
		kgo.RetryTimeout(3 * time.Second), kgo.RecordDeliveryTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// saslFailure returns the message of err's SASL_AUTHENTICATION_FAILED,
// failing t when err is another error.
func saslFailure(t *testing.T, what string, err error) string {
	t.Helper()
	var ke *kerr.Error
	if !errors.As(err, &ke) || ke != kerr.SaslAuthenticationFailed {
		t.Fatalf("%s: want SASL_AUTHENTICATION_FAILED, got %v", what, err)
	}
	return err.Error()
}

// reconnect pings through cl, whose connection the gateway closed: the
// first ping may meet the closed connection (EOF); it returns the error
// of the first ping that made a new one.
func reconnect(t *testing.T, cl *kgo.Client) error {
	t.Helper()
	var err error
	for range 5 {
		if err = cl.Ping(t.Context()); !errors.Is(err, io.EOF) {
			return err
		}
	}
	return err
}

// TestKafkaPortOAuthBearer: a token from POST /login produces and
// consumes in a group on the Kafka port with the user's rights; a forged
// token is refused and audited; revoking the user's tokens closes the
// connection and refuses it at once.
func TestKafkaPortOAuthBearer(t *testing.T) {
	g := saslGateway(t)
	seedTopic(t, g, "customer1")
	seedTopic(t, g, "customer2")
	tok := login(t, g.URL, "customer1")

	cl := bearerClient(t, g, tok, kgo.ConsumerGroup("customer1-oauth"), kgo.ConsumeTopics("customer1"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Value: []byte("via OAUTHBEARER")}).FirstErr(); err != nil {
		t.Fatalf("produce with a token: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	found := false
	for !found && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil && ctx.Err() == nil {
			t.Fatalf("consume with a token: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == "via OAUTHBEARER" })
	}
	if !found {
		t.Fatal("the record produced with a token was not consumed")
	}
	if err := cl.CommitUncommittedOffsets(t.Context()); err != nil {
		t.Fatalf("commit with a token: %v", err)
	}
	err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer2", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce to another tenant's topic with a token: want TOPIC_AUTHORIZATION_FAILED, got %v", err)
	}

	t.Run("forged token", func(t *testing.T) {
		forged := tok[:len(tok)-4] + "AAAA"
		if forged == tok {
			forged = tok[:len(tok)-4] + "BBBB"
		}
		bad := bearerClient(t, g, forged)
		msg := saslFailure(t, "a forged token", bad.Ping(t.Context()))
		if !strings.Contains(msg, "bad credentials") || strings.Contains(msg, forged) {
			t.Errorf("the client's message should name the class and never the token: %s", msg)
		}
		recs := auditRecords(t, g, 15*time.Second, 1, func(m map[string]any) bool {
			return m["event"] == "auth_failure" && m["auth_method"] == "kafka_sasl" && strings.Contains(fmt.Sprint(m["reason"]), "OAUTHBEARER")
		})
		if len(recs) == 0 {
			t.Fatal("the forged token's failure was not audited")
		}
		if r := fmt.Sprint(recs[0]); strings.Contains(r, forged) {
			t.Errorf("the audit record holds the token: %s", r)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		live := bearerClient(t, g, tok)
		if err := live.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Value: []byte("before revocation")}).FirstErr(); err != nil {
			t.Fatalf("produce before revocation: %v", err)
		}
		mustStatus(t, "revoke", do(t, "DELETE", g.URL+"/admin/tokens/customer1", "", "Authorization", basic("ops")), http.StatusNoContent)
		recs := auditRecords(t, g, 20*time.Second, 1, func(m map[string]any) bool {
			return m["event"] == "disconnect" && m["principal"] == "customer1" && m["auth_method"] == "kafka_sasl" &&
				strings.Contains(fmt.Sprint(m["reason"]), "revoked")
		})
		if len(recs) == 0 {
			t.Fatal("revoking the token did not close its Kafka-port connection")
		}
		// The client reconnects with its token, refused now.
		saslFailure(t, "reconnecting after revocation", reconnect(t, live))
	})
}

// TestKafkaPortOAuthBearerExpiry: a connection authenticated with a token
// is closed when the token expires, and the token is refused after, with
// the reason class "token expired"; a fresh token works.
func TestKafkaPortOAuthBearerExpiry(t *testing.T) {
	g := saslGateway(t, func(c *config.Config) { c.Auth.JWT.TTL = config.Duration(4 * time.Second) })
	seedTopic(t, g, "customer1")
	tok := login(t, g.URL, "customer1")
	cl := bearerClient(t, g, tok)
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Value: []byte("while the token lasts")}).FirstErr(); err != nil {
		t.Fatalf("produce with a fresh token: %v", err)
	}
	recs := auditRecords(t, g, 30*time.Second, 1, func(m map[string]any) bool {
		return m["event"] == "disconnect" && m["principal"] == "customer1" && m["auth_method"] == "kafka_sasl" &&
			strings.Contains(fmt.Sprint(m["reason"]), "expired")
	})
	if len(recs) == 0 {
		t.Fatal("the connection outlived its token")
	}
	// The token may still pass its signature check within the leeway;
	// the Kafka port refuses it either way.
	msg := saslFailure(t, "reconnecting after expiry", reconnect(t, cl))
	if !strings.Contains(msg, "token expired") {
		t.Errorf("the refusal should say the token expired: %s", msg)
	}
	fresh := bearerClient(t, g, login(t, g.URL, "customer1"))
	if err := fresh.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Value: []byte("fresh token")}).FirstErr(); err != nil {
		t.Fatalf("produce with a fresh token: %v", err)
	}
}

// TestKafkaPortOAuthBearerClients: confluent-kafka (librdkafka, with an
// oauth_cb), kafka-python (a token provider) and kafkajs (an
// oauthBearerProvider) produce and consume with a token from POST
// /login. The token reaches them in the environment, never in argv.
func TestKafkaPortOAuthBearerClients(t *testing.T) {
	g := saslGateway(t)
	seedTopic(t, g, "customer1")
	env := func(cmd *exec.Cmd) *exec.Cmd {
		cmd.Env = append(os.Environ(), "KGATE_TOKEN="+login(t, g.URL, "customer1"))
		return cmd
	}
	check := func(t *testing.T, name string, cmd *exec.Cmd, value string) {
		t.Helper()
		out, err := env(cmd).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "got "+value) {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	t.Run("confluent-kafka", func(t *testing.T) {
		py := testutil.RequirePython(t, "confluent_kafka")
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		script := `
import os, sys, time
from confluent_kafka import Producer, Consumer
ADDR, VALUE = sys.argv[1], sys.argv[2]
def token(_config):
    return os.environ['KGATE_TOKEN'], time.time() + 60
conf = {'bootstrap.servers': ADDR, 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': 'OAUTHBEARER', 'oauth_cb': token}
p = Producer(conf)
errs = []
p.produce('customer1', VALUE.encode(), on_delivery=lambda err, msg: errs.append(err))
p.flush(30)
if errs != [None]:
    print('delivery', errs); sys.exit(1)
c = Consumer(dict(conf, **{'group.id': 'customer1-ckafka-oauth', 'auto.offset.reset': 'earliest'}))
c.subscribe(['customer1'])
deadline = time.time() + 40
while time.time() < deadline:
    m = c.poll(1.0)
    if m is None or m.error():
        continue
    if m.value().decode() == VALUE:
        print('got', VALUE); break
c.close()
`
		check(t, "confluent-kafka", exec.CommandContext(ctx, py, "-c", script, g.Info.BrokerAddr, "ckafka-oauth"), "ckafka-oauth")
	})
	t.Run("kafka-python", func(t *testing.T) {
		py := testutil.RequirePython(t, "kafka")
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		script := `
import os, sys
from kafka import KafkaProducer, KafkaConsumer
try:
    from kafka.sasl.oauth import AbstractTokenProvider  # kafka-python 2.1 and later
except ImportError:
    from kafka.oauth.abstract import AbstractTokenProvider
class Token(AbstractTokenProvider):
    def token(self):
        return os.environ['KGATE_TOKEN']
ADDR, VALUE = sys.argv[1], sys.argv[2]
auth = dict(bootstrap_servers=ADDR, security_protocol='SASL_PLAINTEXT', sasl_mechanism='OAUTHBEARER',
            sasl_oauth_token_provider=Token(), api_version=(2, 0, 0))
p = KafkaProducer(**auth)
p.send('customer1', VALUE.encode()).get(timeout=30)
p.close()
c = KafkaConsumer('customer1', group_id='customer1-kafka-python-oauth', auto_offset_reset='earliest', consumer_timeout_ms=20000, **auth)
for m in c:
    if m.value.decode() == VALUE:
        print('got', VALUE); break
c.close()
`
		check(t, "kafka-python", exec.CommandContext(ctx, py, "-c", script, g.Info.BrokerAddr, "kafka-python-oauth"), "kafka-python-oauth")
	})
	t.Run("kafkajs", func(t *testing.T) {
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
const [addr, value] = process.argv.slice(2);
const kafka = new Kafka({ brokers: [addr], logLevel: logLevel.NOTHING,
  sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: process.env.KGATE_TOKEN }) } });
(async () => {
  const p = kafka.producer();
  await p.connect();
  await p.send({ topic: 'customer1', messages: [{ value }] });
  await p.disconnect();
  const c = kafka.consumer({ groupId: 'customer1-kafkajs-oauth' });
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
		cmd := exec.CommandContext(ctx, node, script, g.Info.BrokerAddr, "kafkajs-oauth")
		cmd.Dir = dir
		check(t, "kafkajs", cmd, "kafkajs-oauth")
	})
}
