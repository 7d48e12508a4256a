package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// tlsKafkaGateway is saslGateway with broker.tls set: its Kafka port
// speaks TLS only, with a certificate for 127.0.0.1 from a throwaway CA
// whose PEM file is returned.
func tlsKafkaGateway(t *testing.T, mutate ...func(*config.Config)) (g *testutil.Gateway, caFile string) {
	t.Helper()
	ca := testutil.NewCA(t)
	cert, key := ca.Issue(t, "broker", true)
	dir := t.TempDir()
	caFile = filepath.Join(dir, "ca.pem")
	certFile, keyFile := filepath.Join(dir, "broker.pem"), filepath.Join(dir, "broker.key")
	for name, data := range map[string][]byte{caFile: ca.PEM, certFile: cert, keyFile: key} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g = saslGateway(t, func(c *config.Config) {
		c.Broker.TLS = config.BrokerTLS{CertFile: certFile, KeyFile: keyFile}
		for _, m := range mutate {
			m(c)
		}
	})
	return g, caFile
}

// TestKafkaPortTLS: with broker.tls the Kafka port is SASL_SSL: franz-go
// logs in with PLAIN and SCRAM over TLS and produces and consumes what
// HTTP produced (kgate's own client reaching its broker over TLS too);
// a plaintext client gets no Kafka answer.
func TestKafkaPortTLS(t *testing.T) {
	g, caFile := tlsKafkaGateway(t)
	seedTopic(t, g, "customer1") // over HTTP: kgate's own client speaks TLS to the broker
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(caFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA: %v", err)
	}
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr),
				kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
				kgo.SASL(mechanism(mech, "customer1", "password1")),
				kgo.ConsumeTopics("customer1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.RetryTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			value := "tls " + mech
			if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Value: []byte(value)}).FirstErr(); err != nil {
				t.Fatalf("produce over TLS: %v", err)
			}
			seen := map[string]bool{}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			for !(seen[value] && seen["AppleWatch4"]) && ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil && ctx.Err() == nil {
					t.Fatalf("consume over TLS: %v", err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if strings.Contains(string(r.Value), "AppleWatch4") {
						seen["AppleWatch4"] = true
					}
					seen[string(r.Value)] = true
				})
			}
			if !seen[value] || !seen["AppleWatch4"] {
				t.Fatalf("consumed %v, want the HTTP record and %q", seen, value)
			}
		})
	}
	// A plaintext client's ApiVersions is not a TLS handshake: the port
	// closes the connection without a Kafka answer.
	c := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1")
	if resp, err := c.roundTrip(&kmsg.ApiVersionsRequest{Version: 0}); err == nil {
		t.Fatalf("plaintext ApiVersions on the TLS port answered %+v", resp)
	}
	// A client that does not trust the certificate does not get in.
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr),
		kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}),
		kgo.SASL(mechanism("PLAIN", "customer1", "password1")), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusting client: %v, want a certificate error", err)
	}
}

// TestKafkaPortTLSClients: librdkafka (kcat) and kafka-python with the
// seeds' settings and security.protocol SASL_SSL.
func TestKafkaPortTLSClients(t *testing.T) {
	g, caFile := tlsKafkaGateway(t)
	seedTopic(t, g, "customer1")
	t.Run("kcat", func(t *testing.T) {
		kcat := testutil.RequireTool(t, "kcat")
		run := func(stdin string, args ...string) (string, error) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", g.Info.BrokerAddr,
				"-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + caFile, "-X", "sasl.mechanisms=PLAIN",
				"-X", "sasl.username=customer1", "-X", "sasl.password=password1"}, args...)...)
			cmd.Stdin = strings.NewReader(stdin)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run("kcat-over-tls\n", "-P", "-t", "customer1"); err != nil {
			t.Fatalf("kcat produce: %v\n%s", err, out)
		}
		out, err := run("", "-C", "-t", "customer1", "-o", "beginning", "-e", "-q")
		if err != nil || !strings.Contains(out, "kcat-over-tls") || !strings.Contains(out, "AppleWatch4") {
			t.Fatalf("kcat consume: %v\n%s", err, out)
		}
	})
	t.Run("kafka-python", func(t *testing.T) {
		py := testutil.RequirePython(t, "kafka")
		script := `
import sys
from kafka import KafkaProducer, KafkaConsumer
ADDR, CA = sys.argv[1], sys.argv[2]
auth = dict(bootstrap_servers=ADDR, security_protocol='SASL_SSL', ssl_cafile=CA, sasl_mechanism='PLAIN',
            sasl_plain_username='customer1', sasl_plain_password='password1', api_version=(2, 0, 0))
p = KafkaProducer(**auth)
p.send('customer1', b'kafka-python-over-tls').get(timeout=30)
p.close()
c = KafkaConsumer('customer1', group_id='customer1-tls', auto_offset_reset='earliest', consumer_timeout_ms=20000, **auth)
for m in c:
    if m.value == b'kafka-python-over-tls':
        print('got it'); break
c.close()
`
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, py, "-c", script, g.Info.BrokerAddr, caFile).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "got it") {
			t.Fatalf("kafka-python over TLS: %v\n%s", err, out)
		}
	})
}

// TestKafkaPortTLSRotation: a new certificate written over the files is
// served without a restart.
func TestKafkaPortTLSRotation(t *testing.T) {
	g, _ := tlsKafkaGateway(t, func(c *config.Config) { c.Auth.HTTPS.ReloadInterval = config.Duration(100 * time.Millisecond) })
	seedTopic(t, g, "customer1")
	ca2 := testutil.NewCA(t)
	cert, key := ca2.Issue(t, "broker", true)
	// The key first: a pair that does not match is kept out of service.
	if err := os.WriteFile(g.Config.Broker.TLS.KeyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.Config.Broker.TLS.CertFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca2.PEM)
	eventually(t, "the new certificate served", func() bool {
		cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr),
			kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
			kgo.SASL(mechanism("SCRAM-SHA-512", "customer1", "password1")), kgo.RetryTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		return cl.Ping(t.Context()) == nil
	})
	// kgate's own client keeps producing (its connections were made
	// before the rotation; new ones pin the certificate in service).
	if r := produceV2(t, g, "customer1", "Authorization", basic("customer1")); r.status != 200 {
		t.Fatalf("produce over HTTP after the rotation: %d %s", r.status, r.body)
	}
}
