package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaPortTopicCreationFollowsPolicy: over the Kafka port, a user
// whose create_topic grant covers a name creates that topic with
// CreateTopics, is refused others with TOPIC_AUTHORIZATION_FAILED, and
// Metadata never creates a topic (the broker's auto-creation stays off,
// even for a client that asks for it).
func TestKafkaPortTopicCreationFollowsPolicy(t *testing.T) {
	g, _, perms := tenantGateway(t, nil)
	writeText(t, perms, strings.Replace(tenantPerms, `  consume: ["{user}-*"]`, `  consume: ["{user}-*"]
  create_topic: ["{user}-*"]`, 1))
	reloadAsAdmin(t, g)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cl := kafkaClient(t, g, "127.0.0.1", "customer1", "password1", kgo.AllowAutoTopicCreation(), kgo.RecordRetries(2))
	adm := kadm.NewClient(cl)

	resp, err := adm.CreateTopic(ctx, 1, 1, nil, "customer1-made")
	if err != nil || resp.Err != nil {
		t.Fatalf("creating a granted topic: %v %v", err, resp.Err)
	}
	resp, err = adm.CreateTopic(ctx, 1, 1, nil, "customer2-made")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("creating a topic outside the grant: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "customer1-made", Value: []byte("x")}).FirstErr(); err != nil {
		t.Errorf("producing to the created topic: %v", err)
	}

	// A producer allowed to auto-create, on a name it could create.
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	err = cl.ProduceSync(pctx, &kgo.Record{Topic: "customer1-auto", Value: []byte("x")}).FirstErr()
	pcancel()
	if err == nil {
		t.Error("producing to a topic that does not exist succeeded: Metadata created it")
	}
	super := kadm.NewClient(kafkaSuperuser(t, g))
	topics, err := super.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("customer1-auto") {
		t.Error("the Kafka port auto-created customer1-auto")
	}
	if !topics.Has("customer1-made") || topics.Has("customer2-made") {
		t.Errorf("topics after the test: %v", topics.Names())
	}
}
