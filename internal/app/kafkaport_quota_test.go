package app_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaPortByteRate: a tenant limited to N bytes per second that
// produces flat out over the Kafka port gets no more than N (plus its
// burst) through, measured from the broker's offsets; it is slowed, not
// cut off, and its bytes show in /admin/usage as HTTP's do.
func TestKafkaPortByteRate(t *testing.T) {
	const rate, burst, size = 40000, 40000, 1000
	const run = 10 * time.Second
	g, users, _ := tenantGateway(t, nil)
	b, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	writeText(t, users, strings.Replace(string(b), "    requests_per_second: 0\n",
		"    requests_per_second: 0\n    bytes_per_second: 40000\n    byte_burst: 40000\n", 1))
	reloadAsAdmin(t, g)
	produceValues(t, g, "customer1", "customer1-flood", "first")

	cl := kafkaClient(t, g, "127.0.0.1", "customer1", "password1", kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // quotas count bytes on the wire, as Kafka's do
	ctx, cancel := context.WithTimeout(t.Context(), run)
	defer cancel()
	var acked atomic.Int64
	value := make([]byte, size)
	rand.Read(value)
	for ctx.Err() == nil {
		cl.Produce(ctx, &kgo.Record{Topic: "customer1-flood", Value: value}, func(_ *kgo.Record, err error) {
			if err == nil {
				acked.Add(1)
			}
		})
	}
	elapsed := run
	cl.Flush(context.Background())

	adm := kadm.NewClient(kafkaSuperuser(t, g))
	ends, err := adm.ListEndOffsets(t.Context(), "customer1-flood")
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	ends.Each(func(o kadm.ListedOffset) { written += o.Offset })
	written-- // the record produced over HTTP
	bytes := written * size
	limit := int64(rate*elapsed.Seconds()) + burst + 64*size // what may pass, plus the client's buffer in flight
	t.Logf("%d records (%d value bytes) in %v at a limit of %d bytes/s", written, bytes, elapsed, rate)
	if bytes > limit {
		t.Errorf("%d bytes went through in %v, want at most %d (rate %d/s, burst %d)", bytes, elapsed, limit, rate, burst)
	}
	if bytes < rate*int64(elapsed.Seconds())/4 {
		t.Errorf("only %d bytes went through in %v: the tenant was cut off, not slowed", bytes, elapsed)
	}

	r := do(t, "GET", g.URL+"/admin/usage/customer1", "", "Authorization", basic("admin"))
	if r.status != http.StatusOK {
		t.Fatalf("usage: %d %s", r.status, r.body)
	}
	var u struct {
		Bytes int64 `json:"bytes"`
	}
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatalf("usage %s: %v", r.body, err)
	}
	if u.Bytes < bytes {
		t.Errorf("usage shows %d bytes, want at least the %d produced over the Kafka port (%s)", u.Bytes, bytes, r.body)
	}
}

// TestKafkaPortDailyQuota: a Produce request over the tenant's daily byte
// quota is not written; the connection ends and the next login is refused
// with SASL_AUTHENTICATION_FAILED naming the quota.
func TestKafkaPortDailyQuota(t *testing.T) {
	g, users, _ := tenantGateway(t, nil)
	b, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	writeText(t, users, strings.Replace(string(b), "daily_bytes: 10Mi", "daily_bytes: 6000", 1))
	reloadAsAdmin(t, g)
	produceValues(t, g, "customer1", "customer1-daily", "first")

	value := make([]byte, 1000)
	rand.Read(value)
	// A producer sending 1000-byte records until the quota stops it: the
	// guard ends its connection before the request that would go over,
	// and refuses its logins from then on (franz-go keeps retrying such
	// records until it is closed).
	cl := kafkaClient(t, g, "127.0.0.1", "customer1", "password1", kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	for range 10 {
		cl.Produce(t.Context(), &kgo.Record{Topic: "customer1-daily", Value: value}, nil)
	}
	var refusal error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		fresh := kafkaClient(t, g, "127.0.0.1", "customer1", "password1", kgo.RequestRetries(0))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		refusal = fresh.Ping(ctx)
		cancel()
		fresh.Close()
		if refusal != nil {
			break
		}
	}
	if refusal == nil || !strings.Contains(refusal.Error(), "Daily byte quota") {
		t.Fatalf("login after 10 kB against a quota of 6000 bytes: %v, want a refusal naming the daily byte quota", refusal)
	}
	cl.Close()
	adm := kadm.NewClient(kafkaSuperuser(t, g))
	ends, err := adm.ListEndOffsets(t.Context(), "customer1-daily")
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	ends.Each(func(o kadm.ListedOffset) { written += o.Offset })
	if (written-1)*1000 > 6000 { // one batch of all ten may be refused whole
		t.Errorf("%d records on the broker, want the HTTP one and at most 6 of 1000 bytes", written)
	}
}
