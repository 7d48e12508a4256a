package app_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestExternalBrokerSASL fronts a separate broker that requires SASL, for
// each mechanism; a wrong password makes the gateway unready, never
// leaking the password.
func TestExternalBrokerSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			addr := testutil.StartBroker(t, broker.KfakeOpts(kfake.EnableSASL(), kfake.Superuser(mech, "gw", "s3cret-pw")))
			g := testutil.StartGateway(t, func(c *config.Config) {
				c.Brokers = []string{addr}
				yes := true
				c.AutoCreateTopics = &yes
				c.Kafka.SASL = config.SASL{Mechanism: mech, Username: "gw", Password: "s3cret-pw"}
			})
			if code, body := post(t, g.URL+"/topics/sasl", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`); code != 200 || !strings.Contains(body, `"offset":0`) {
				t.Fatalf("produce over SASL %s: %d %s", mech, code, body)
			}
			bad := testutil.StartGateway(t, func(c *config.Config) {
				c.Brokers = []string{addr}
				c.Kafka.SASL = config.SASL{Mechanism: mech, Username: "gw", Password: "wrong-pw"}
			})
			code, body := get(t, bad.URL+"/readyz")
			if code != 503 {
				t.Fatalf("readyz with a wrong password: %d %s", code, body)
			}
			if strings.Contains(body, "wrong-pw") {
				t.Fatal("the password reached an answer")
			}
		})
	}
}
