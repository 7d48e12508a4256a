package app_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/kerberos"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// kerberosGateway starts a KDC with a realm of its own, the broker's
// service principal (kafka/127.0.0.1, the host clients connect to) and
// the client principals customer1 (a kgate user with rights) and
// stranger (no rights), and a secure gateway whose Kafka port offers
// GSSAPI with the service's keytab. The users file holds no Kerberos
// passwords.
func kerberosGateway(t *testing.T) (*testutil.Gateway, *testutil.KDC) {
	t.Helper()
	kdc := testutil.StartKDC(t)
	kdc.AddPrincipal("kafka/127.0.0.1", "")
	kdc.AddPrincipal("customer1", "")
	kdc.AddPrincipal("stranger", "")
	serviceKT := kdc.Keytab("kafka/127.0.0.1")
	g := secureGateway(t, func(c *config.Config) {
		c.Broker.SASL.Kerberos = config.Kerberos{Keytab: serviceKT, ServicePrincipal: "kafka/127.0.0.1@" + kdc.Realm(),
			PrincipalToLocalRules: []string{"DEFAULT"}}
	})
	return g, kdc
}

// kerberosClient is a franz-go client logged in to the KDC as principal
// with its keytab, authenticating with GSSAPI.
func kerberosClient(t *testing.T, g *testutil.Gateway, kdc *testutil.KDC, principal string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	conf, err := krbconfig.Load(kdc.Config())
	if err != nil {
		t.Fatal(err)
	}
	kt, err := keytab.Load(kdc.Keytab(principal))
	if err != nil {
		t.Fatal(err)
	}
	kc := krbclient.NewWithKeytab(principal, kdc.Realm(), kt, conf, krbclient.DisablePAFXFAST(true))
	if err := kc.Login(); err != nil {
		t.Fatalf("kerberos login of %s: %v", principal, err)
	}
	t.Cleanup(kc.Destroy)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(g.Info.BrokerAddr),
		kgo.SASL(kerberos.Auth{Client: kc, Service: "kafka", PersistAfterAuth: true}.AsMechanism()),
		kgo.RetryTimeout(3 * time.Second), kgo.RecordDeliveryTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestKafkaPortKerberos: with a real MIT KDC, franz-go's GSSAPI mechanism
// and kcat (librdkafka through Cyrus SASL) produce and consume as a
// Kerberos principal mapped to a kgate user, with that user's rights; a
// principal without rights is refused the topic.
func TestKafkaPortKerberos(t *testing.T) {
	g, kdc := kerberosGateway(t)
	seedTopic(t, g, "customer1")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	t.Run("franz-go", func(t *testing.T) {
		cl := kerberosClient(t, g, kdc, "customer1", kgo.ConsumeTopics("customer1"), kgo.ConsumerGroup("customer1-krb"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "customer1", Value: []byte("from-kerberos")}).FirstErr(); err != nil {
			t.Fatalf("produce as customer1@%s: %v", kdc.Realm(), err)
		}
		var got []string
		for ctx.Err() == nil && !slices.Contains(got, "from-kerberos") {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("consume: %v", err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if !slices.Contains(got, "from-kerberos") {
			t.Fatalf("consumed %q, want the record produced", got)
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Errorf("commit: %v", err)
		}
	})

	t.Run("no rights", func(t *testing.T) {
		cl := kerberosClient(t, g, kdc, "stranger")
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "customer1", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("stranger producing to customer1: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("kcat", func(t *testing.T) {
		kcat := testutil.RequireTool(t, "kcat")
		ccache := kdc.Kinit("customer1", kdc.Keytab("customer1"))
		run := func(stdin string, args ...string) (string, error) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", g.Info.BrokerAddr,
				"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=GSSAPI",
				"-X", "sasl.kerberos.service.name=kafka", "-X", "sasl.kerberos.kinit.cmd=true"}, args...)...)
			cmd.Env = append(os.Environ(), kdc.Env(ccache)...)
			cmd.Stdin = strings.NewReader(stdin)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run("kcat-kerberos\n", "-P", "-t", "customer1"); err != nil {
			t.Fatalf("kcat produce: %v\n%s", err, out)
		}
		out, err := run("", "-C", "-t", "customer1", "-o", "beginning", "-e", "-q")
		if err != nil || !strings.Contains(out, "kcat-kerberos") {
			t.Fatalf("kcat consume: %v\n%s", err, out)
		}
	})
}
