package app_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/config"
)

// TestV3TopicCreationAuthorizedByBodyName: POST /v3/clusters/{id}/topics
// names its topic in the body; create_topic applies to that name.
func TestV3TopicCreationAuthorizedByBodyName(t *testing.T) {
	g := secureGateway(t, func(c *config.Config) {
		b, err := os.ReadFile(c.Auth.Permissions)
		if err != nil {
			t.Fatal(err)
		}
		grant := strings.Replace(string(b), `"*":`+"\n", `"*":`+"\n  create_topic: [\"{user}-*\"]\n", 1)
		if err := os.WriteFile(c.Auth.Permissions, []byte(grant), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	create := func(who, topic string) response {
		h := []string{"Content-Type", "application/json"}
		if who != "" {
			h = append(h, "Authorization", basic(who))
		}
		return do(t, "POST", g.URL+"/v3/clusters/kgate-embedded/topics", `{"topic_name":"`+topic+`","partitions_count":1}`, h...)
	}
	for _, tc := range []struct {
		who, topic string
		status     int
	}{
		{"customer1", "customer1-orders", 201},
		{"customer1", "customer2-orders", 403},
		{"customer2", "customer2-orders", 201},
		{"", "anything", 401},
		{"admin", "admin-made", 201},
	} {
		if r := create(tc.who, tc.topic); r.status != tc.status {
			t.Errorf("%s creating %s: %d %s, want %d", tc.who, tc.topic, r.status, r.body, tc.status)
		}
	}
	// The handler still reads the whole body after authorization did.
	r := do(t, "POST", g.URL+"/v3/clusters/kgate-embedded/topics",
		`{"topic_name":"customer1-configs","configs":[{"name":"retention.ms","value":"1000"}]}`,
		"Content-Type", "application/json", "Authorization", basic("customer1"))
	if r.status != 201 {
		t.Fatalf("create with configs: %d %s", r.status, r.body)
	}
}

// TestKastlexWithToken runs the seed's KastleX flow on a secured gateway:
// log in with the form, then produce with the bearer token; the topic
// permission decides.
func TestKastlexWithToken(t *testing.T) {
	g := secureGateway(t, nil)
	r := do(t, "POST", g.URL+"/login", "username=customer1&password=password1", "Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		Token string `json:"token"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &tok) != nil || tok.Token == "" {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	bearer := "Bearer " + tok.Token
	if r := do(t, "POST", g.URL+"/api/v1/messages/customer1", "1", "Content-type", "application/binary", "Authorization", bearer); r.status != 204 {
		t.Fatalf("produce to own topic: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", g.URL+"/api/v1/messages/customer1/0", "", "Authorization", bearer); r.status != 200 || !strings.Contains(string(r.body), `"value":"1"`) {
		t.Fatalf("fetch own topic: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/api/v1/messages/customer2", "1", "Content-type", "application/binary", "Authorization", bearer); r.status != 403 {
		t.Fatalf("produce to another's topic: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.URL+"/api/v1/messages/customer1", "1", "Content-type", "application/binary"); r.status != 401 {
		t.Fatalf("anonymous produce: %d %s", r.status, r.body)
	}
}
