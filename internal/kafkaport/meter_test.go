package kafkaport

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/ratelimit"
)

// requestFrame is a request frame of n bytes in all with the API key and
// correlation id (the rest is padding: the meter reads the header only).
func meterRequest(key int16, corr int32, n int) []byte {
	f := make([]byte, n)
	binary.BigEndian.PutUint32(f, uint32(n-4))
	binary.BigEndian.PutUint16(f[4:], uint16(key))
	binary.BigEndian.PutUint32(f[8:], uint32(corr))
	return f
}

func meterResponse(corr int32, n int) []byte {
	f := make([]byte, n)
	binary.BigEndian.PutUint32(f, uint32(n-4))
	binary.BigEndian.PutUint32(f[4:], uint32(corr))
	return f
}

func ticket(t *testing.T, u *ratelimit.Usage, lim ratelimit.Limits, now time.Time) *ratelimit.Ticket {
	t.Helper()
	l := ratelimit.New(u, time.Hour, nil, nil)
	tk, ex := l.Admit(ratelimit.Subject{Key: "customer1", Principal: "customer1", Limits: lim}, now, true)
	if ex != nil {
		t.Fatal(ex)
	}
	return &tk
}

func TestMeterSlowsToTheByteRate(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := func() time.Time { return now }
	u := ratelimit.NewUsage("n1")
	m := newMeter(ticket(t, u, ratelimit.Limits{BytesPerSecond: 1000, ByteBurst: 1000}, now), clock)

	if d, ex := m.request(meterRequest(apiProduce, 1, 600)); d != 0 || ex != nil {
		t.Fatalf("first produce within the burst: wait %v, %v", d, ex)
	}
	d, ex := m.request(meterRequest(apiProduce, 2, 600))
	if ex != nil || d != 200*time.Millisecond {
		t.Fatalf("second produce, 200 bytes over the burst at 1000/s: wait %v (%v), want 200ms", d, ex)
	}
	// A metadata request right after waits out the debt too: the
	// connection is muted, not the request kind.
	if d, _ := m.request(meterRequest(3, 3, 50)); d != 200*time.Millisecond {
		t.Fatalf("metadata while muted: wait %v, want 200ms", d)
	}
	now = now.Add(200 * time.Millisecond)
	if d, _ := m.request(meterRequest(3, 4, 50)); d != 0 {
		t.Fatalf("metadata after the debt was paid: wait %v", d)
	}

	// Fetch responses are charged when written, the request is free.
	if d, _ := m.request(meterRequest(apiFetch, 5, 80)); d != 0 {
		t.Fatalf("fetch request: wait %v", d)
	}
	m.response(meterResponse(4, 5000)) // metadata's answer: not charged
	m.response(meterResponse(5, 1500))
	// The bucket was empty (the debt just paid): 1500 bytes take 1.5s.
	if d, _ := m.request(meterRequest(apiFetch, 6, 80)); d != 1500*time.Millisecond {
		t.Fatalf("fetch after a 1500-byte fetch response: wait %v, want 1.5s", d)
	}
	if _, b := u.Used("customer1", now); b != 600+600+1500 {
		t.Errorf("usage %d bytes, want the produce requests and the fetch response (2700)", b)
	}
}

func TestMeterEndsAtTheDailyQuota(t *testing.T) {
	now := time.Date(2026, 3, 4, 23, 59, 0, 0, time.UTC)
	u := ratelimit.NewUsage("n1")
	m := newMeter(ticket(t, u, ratelimit.Limits{DailyBytes: 1000}, now), func() time.Time { return now })
	if _, ex := m.request(meterRequest(apiProduce, 1, 900)); ex != nil {
		t.Fatalf("produce within the quota: %v", ex)
	}
	_, ex := m.request(meterRequest(apiProduce, 2, 200))
	if ex == nil || ex.Limit != "daily_bytes" {
		t.Fatalf("produce over the quota: %v, want daily_bytes", ex)
	}
	if _, b := u.Used("customer1", now); b != 900 {
		t.Errorf("usage %d, want 900: the refused request is not counted", b)
	}

	m = newMeter(ticket(t, u, ratelimit.Limits{DailyBytes: 1000}, now), func() time.Time { return now })
	m.request(meterRequest(apiFetch, 1, 80))
	m.response(meterResponse(1, 500))
	if _, ex := m.request(meterRequest(apiFetch, 2, 80)); ex == nil {
		t.Fatal("a request after a fetch response that exceeded the quota went through")
	}
}
