package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kgate/kgate/internal/testutil"
)

// tenantOp is one thing a tenant does to a topic and a group of a tenant:
// its own, the other tenant's, or one that does not exist.
type tenantOp struct {
	door, name string
	// run does it as user on topic and group; inst is an instance of the
	// user's own that run may use (created in the user's own group).
	run func(t *testing.T, g *testutil.Gateway, user, topic, group, inst string) response
	// own is the status expected on the tenant's own resources.
	own int
}

const mtBinary = "application/vnd.kafka.binary.v2+json"

var tenantOps = []tenantOp{
	{"v2", "produce", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "POST", g.URL+"/topics/"+topic, `{"records":[{"value":"eA=="}]}`, "Content-Type", mtBinary, "Authorization", basic(u))
	}, 200},
	{"v2", "produce to a partition", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "POST", g.URL+"/topics/"+topic+"/partitions/0", `{"records":[{"value":"eA=="}]}`, "Content-Type", mtBinary, "Authorization", basic(u))
	}, 200},
	{"v2", "describe a topic", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "GET", g.URL+"/topics/"+topic, "", "Authorization", basic(u))
	}, 200},
	{"v2", "list partitions", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "GET", g.URL+"/topics/"+topic+"/partitions", "", "Authorization", basic(u))
	}, 200},
	{"v2", "partition offsets", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "GET", g.URL+"/topics/"+topic+"/partitions/0/offsets", "", "Authorization", basic(u))
	}, 200},
	{"v2", "create a consumer", func(t *testing.T, g *testutil.Gateway, u, _, group, _ string) response {
		return do(t, "POST", g.URL+"/consumers/"+group, `{"name":"probe-`+fmt.Sprint(time.Now().UnixNano())+`"}`, "Content-Type", mtV2, "Authorization", basic(u))
	}, 200},
	{"v2", "subscribe to a topic", func(t *testing.T, g *testutil.Gateway, u, topic, _, inst string) response {
		return do(t, "POST", g.URL+inst+"/subscription", `{"topics":["`+topic+`"]}`, "Content-Type", mtV2, "Authorization", basic(u))
	}, 204},
	{"v2", "assign a partition", func(t *testing.T, g *testutil.Gateway, u, topic, _, inst string) response {
		// A second instance: the first one subscribed above.
		return do(t, "POST", g.URL+inst+"-a/assignments", `{"partitions":[{"topic":"`+topic+`","partition":0}]}`, "Content-Type", mtV2, "Authorization", basic(u))
	}, 204},
	{"v2", "commit an offset of a topic", func(t *testing.T, g *testutil.Gateway, u, topic, _, inst string) response {
		return do(t, "POST", g.URL+inst+"-a/offsets", `{"offsets":[{"topic":"`+topic+`","partition":0,"offset":0}]}`, "Content-Type", mtV2, "Authorization", basic(u))
	}, 200},
	{"v2", "read the committed offset of a topic", func(t *testing.T, g *testutil.Gateway, u, topic, _, inst string) response {
		return do(t, "GET", g.URL+inst+"-a/offsets", `{"partitions":[{"topic":"`+topic+`","partition":0}]}`, "Content-Type", mtV2, "Authorization", basic(u))
	}, 200},
	{"v3", "describe a topic", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "GET", g.URL+"/v3/clusters/kgate-embedded/topics/"+topic, "", "Authorization", basic(u))
	}, 200},
	{"v3", "list partitions", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "GET", g.URL+"/v3/clusters/kgate-embedded/topics/"+topic+"/partitions", "", "Authorization", basic(u))
	}, 200},
	{"v3", "produce", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "POST", g.URL+"/v3/clusters/kgate-embedded/topics/"+topic+"/records", `{"value":{"type":"STRING","data":"x"}}`,
			"Content-Type", "application/json", "Authorization", basic(u))
	}, 200},
	{"v3", "produce a batch", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "POST", g.URL+"/v3/clusters/kgate-embedded/topics/"+topic+"/records:batch", `{"entries":[{"id":"1","value":{"type":"STRING","data":"x"}}]}`,
			"Content-Type", "application/json", "Authorization", basic(u))
	}, 207},
	{"kastlex", "produce", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "POST", g.URL+"/api/v1/messages/"+topic, "bar", "Content-Type", "application/binary", "Authorization", basic(u))
	}, 204},
	{"kastlex", "fetch", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "GET", g.URL+"/api/v2/messages/"+topic+"/0/earliest", "", "Authorization", basic(u))
	}, 200},
	{"kastlex", "offsets", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "GET", g.URL+"/api/v1/offsets/"+topic+"/0", "", "Authorization", basic(u))
	}, 200},
	{"kastlex", "describe a topic", func(t *testing.T, g *testutil.Gateway, u, topic, _, _ string) response {
		return do(t, "GET", g.URL+"/api/v1/topics/"+topic, "", "Authorization", basic(u))
	}, 200},
}

// refusal is an answer with the names of the resources folded away, so
// that the refusals of two resources can be compared.
func refusal(r response, names ...string) string {
	s := compact(r.body)
	for _, n := range names {
		s = strings.ReplaceAll(s, n, "<name>")
	}
	return fmt.Sprintf("%d %s", r.status, s)
}

// TestTenantIsolationHTTP runs every door's operations as two tenants:
// each may do them on its own topic and group, and on the other's it is
// refused exactly as on a topic and group that do not exist, so that a
// tenant learns nothing of another's resources.
func TestTenantIsolationHTTP(t *testing.T) {
	g := secureGateway(t, nil)
	tenants := [][2]string{{"customer1", "customer2"}, {"customer2", "customer1"}}
	for _, tt := range tenants {
		// Each tenant's topic exists, with a record.
		if r := produceV2(t, g, tt[0], "Authorization", basic(tt[0])); r.status != 200 {
			t.Fatalf("%s seeds its topic: %d %s", tt[0], r.status, r.body)
		}
	}
	for _, tt := range tenants {
		user, other := tt[0], tt[1]
		group, otherGroup, missingGroup := user+"-g", other+"-g", "customer9-g"
		inst := "/consumers/" + group + "/instances/iso"
		for _, name := range []string{"iso", "iso-a"} {
			if r := do(t, "POST", g.URL+"/consumers/"+group, `{"name":"`+name+`"}`, "Content-Type", mtV2, "Authorization", basic(user)); r.status != 200 {
				t.Fatalf("%s creates its instance %s: %d %s", user, name, r.status, r.body)
			}
		}
		for _, op := range tenantOps {
			t.Run(user+"/"+op.door+"/"+op.name, func(t *testing.T) {
				if r := op.run(t, g, user, user, group, inst); r.status != op.own {
					t.Errorf("on its own topic %s and group %s: %d %s, want %d", user, group, r.status, r.body, op.own)
				}
				theirs := op.run(t, g, user, other, otherGroup, inst)
				missing := op.run(t, g, user, "customer9", missingGroup, inst)
				if theirs.status != http.StatusForbidden {
					t.Errorf("on %s's topic and group: %d %s, want 403", other, theirs.status, theirs.body)
				}
				if a, b := refusal(theirs, other, otherGroup), refusal(missing, "customer9", missingGroup); a != b {
					t.Errorf("another tenant's resources answer differently from missing ones:\n theirs:  %s\n missing: %s", a, b)
				}
			})
		}
	}
}

// TestTenantIsolationKafkaPort: the same on the embedded broker's Kafka
// port, with each tenant's SCRAM credentials: the other tenant's topic and
// group are refused with the same error as missing ones.
func TestTenantIsolationKafkaPort(t *testing.T) {
	g := secureGateway(t, nil)
	for _, u := range []string{"customer1", "customer2"} {
		if r := produceV2(t, g, u, "Authorization", basic(u)); r.status != 200 {
			t.Fatalf("%s seeds its topic: %d %s", u, r.status, r.body)
		}
	}
	client := func(t *testing.T, user string, opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(g.Info.BrokerAddr),
			kgo.SASL(scram.Auth{User: user, Pass: passwords[user]}.AsSha512Mechanism()),
			kgo.RequestRetries(0), kgo.RecordRetries(1), kgo.ProducerLinger(0)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	produce := func(t *testing.T, user, topic string) error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return client(t, user).ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
	}
	commit := func(t *testing.T, user, group, topic string) error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		adm := kadm.NewClient(client(t, user))
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, group, os)
		if err != nil {
			return err
		}
		return resp.Error()
	}
	// metadata asks for topics by name (nil: every topic) and returns
	// each one's error code, or 0 and its partition count.
	metadata := func(t *testing.T, user string, topics ...string) map[string]string {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req := kmsg.NewPtrMetadataRequest()
		if topics != nil {
			for _, tp := range topics {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(tp)
				req.Topics = append(req.Topics, rt)
			}
		}
		resp, err := req.RequestWith(ctx, client(t, user))
		if err != nil {
			t.Fatalf("metadata as %s: %v", user, err)
		}
		got := map[string]string{}
		for _, rt := range resp.Topics {
			got[*rt.Topic] = fmt.Sprintf("error %d, %d partitions", rt.ErrorCode, len(rt.Partitions))
		}
		return got
	}
	for _, tt := range [][2]string{{"customer1", "customer2"}, {"customer2", "customer1"}} {
		user, other := tt[0], tt[1]
		t.Run(user, func(t *testing.T) {
			if err := produce(t, user, user); err != nil {
				t.Fatalf("produce to its own topic: %v", err)
			}
			// Metadata is the first request of every client: another
			// tenant's topic answers as a missing one does, and a listing
			// of every topic holds only what the tenant may use.
			md := metadata(t, user, other, "customer9")
			if md[other] != md["customer9"] || !strings.HasPrefix(md[other], fmt.Sprintf("error %d,", kerr.TopicAuthorizationFailed.Code)) {
				t.Errorf("metadata of %s's topic and of a missing one: %q, %q, want both TOPIC_AUTHORIZATION_FAILED", other, md[other], md["customer9"])
			}
			all := metadata(t, user)
			if _, ok := all[user]; !ok || len(all) != 1 {
				t.Errorf("metadata of every topic as %s: %v, want its own topic only", user, all)
			}
			for _, c := range []struct {
				name             string
				theirs, missing  error
				wantTheirsIsCode error
			}{
				{"produce", produce(t, user, other), produce(t, user, "customer9"), kerr.TopicAuthorizationFailed},
				{"commit in the other's group", commit(t, user, other+"-g", user), commit(t, user, "customer9-g", user), kerr.GroupAuthorizationFailed},
				// The client looks the topic up first (OffsetCommit v10
				// names topics by id), and Metadata refuses it as if it
				// did not exist.
				{"commit the other's topic in its own group", commit(t, user, user+"-g", other), commit(t, user, user+"-g", "customer9"), kerr.UnknownTopicOrPartition},
			} {
				if !errors.Is(c.theirs, c.wantTheirsIsCode) {
					t.Errorf("%s on %s's: %v, want %v", c.name, other, c.theirs, c.wantTheirsIsCode)
				}
				if fmt.Sprint(c.theirs) != strings.ReplaceAll(fmt.Sprint(c.missing), "customer9", other) {
					t.Errorf("%s: the other tenant's answer %v differs from a missing one's %v", c.name, c.theirs, c.missing)
				}
			}
		})
	}
}
