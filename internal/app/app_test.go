package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, ctype, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOpsEndpoints: health, readiness and the metrics the issue lists.
func TestOpsEndpoints(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.Metrics.Open = true })
	if code, body := get(t, g.URL+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %d %s", code, body)
	}
	if code, body := get(t, g.URL+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if code, body := post(t, g.URL+"/topics/m", "application/vnd.kafka.json.v2+json", `{"records":[{"value":{"a":1}},{"value":2}]}`); code != 200 {
		t.Fatalf("produce: %d %s", code, body)
	}
	if code, body := post(t, g.URL+"/consumers/mg", "application/vnd.kafka.v2+json", `{"name":"x"}`); code != 200 {
		t.Fatalf("create consumer: %d %s", code, body)
	}
	wants := []string{
		`kgate_http_requests_total{code="200",method="POST",route="/topics/{topic}"} 1`,
		`kgate_http_request_duration_seconds_bucket{method="POST",route="/topics/{topic}"`,
		`kgate_produce_records_total{api="v2"} 2`,
		`kgate_produce_bytes_total{api="v2"} 8`,
		`kgate_consumer_instances 1`,
		`kgate_kafka_produce_bytes_total`, // franz-go client metrics
		`go_goroutines`,
	}
	// Counters are updated just after the answer is sent (the request
	// counter after the handler returns, franz-go's hooks after the
	// promise): scrape until they are all there.
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var code int
		code, body = get(t, g.URL+"/metrics")
		if code != 200 {
			t.Fatalf("metrics: %d", code)
		}
		missing := 0
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Raw paths never become labels.
	if strings.Contains(body, `route="/topics/m"`) {
		t.Error("a raw path is used as a label")
	}
}

// TestReadyzWithoutBroker: readiness fails while Kafka is unreachable.
func TestReadyzWithoutBroker(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.Brokers = []string{"127.0.0.1:1"} })
	if code, body := get(t, g.URL+"/readyz"); code != 503 || !strings.Contains(body, "50302") {
		t.Fatalf("readyz without a broker: %d %s", code, body)
	}
	if code, _ := get(t, g.URL+"/healthz"); code != 200 {
		t.Fatalf("healthz must stay up: %d", code)
	}
}

// TestConsumerExpiry: an idle instance expires and answers 40403.
func TestConsumerExpiry(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.Consumers.InstanceTimeout = config.Duration(time.Second) })
	if code, body := post(t, g.URL+"/consumers/eg", "application/vnd.kafka.v2+json", `{"name":"idle"}`); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, g.URL+"/consumers/eg/instances/idle/subscription")
		if code == 404 && strings.Contains(body, "40403") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance did not expire: %d %s", code, body)
		}
		// Each lookup resets the idle clock, as on Confluent: wait longer
		// than the timeout between checks.
		time.Sleep(1500 * time.Millisecond)
	}
}

// TestAdvertisedBaseURI: base_uri uses the advertised URL when set.
func TestAdvertisedBaseURI(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.AdvertisedURL = "https://gw1.example.com:8443/" })
	_, body := post(t, g.URL+"/consumers/ag", "application/vnd.kafka.v2+json", `{"name":"n"}`)
	if want := `"base_uri":"https://gw1.example.com:8443/consumers/ag/instances/n"`; !strings.Contains(body, want) {
		t.Fatalf("create answered %s, want %s", body, want)
	}
}
