package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// pushEnd is the data of an end event.
type pushEnd struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
	Reason    string `json:"reason"`
}

// ends reads s until its end event, which must come within d of since,
// and checks its code and reason; the stream must then close.
func (s *sseStream) ends(t *testing.T, since time.Time, d time.Duration, code int, reason string) pushEnd {
	t.Helper()
	for {
		ev, ok := s.next(10 * time.Second)
		if !ok {
			t.Fatal("the stream ended without an end event")
		}
		if ev.event != "end" {
			continue
		}
		var e pushEnd
		if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
			t.Fatalf("end event %q: %v", ev.data, err)
		}
		if e.ErrorCode != code || e.Reason != reason {
			t.Errorf("end event %+v, want %d %s", e, code, reason)
		}
		if el := ev.at.Sub(since); el > d {
			t.Errorf("the end event came %v after the change, want within %v", el, d)
		}
		if _, ok := s.next(5 * time.Second); ok {
			t.Error("events after the end event")
		}
		if err := <-s.err; err.Error() != "EOF" {
			t.Errorf("the stream closed with %v, want EOF", err)
		}
		return e
	}
}

// TestPushAuthorization: a stream is authorized like a fetch: anonymous
// callers are 401, a principal without fetch on the topic 403, and
// another tenant's topic answers exactly like a topic that does not
// exist (forbidden first, existence after: nothing tells them apart).
func TestPushAuthorization(t *testing.T) {
	g := secureGateway(t, fastPush)
	pushTopic(t, g, "customer1", 1)
	pushTopic(t, g, "customer2", 1)
	pushTopic(t, g, "partner-in", 1)
	open := func(topic, authz string) *sseStream {
		t.Helper()
		h := []string{}
		if authz != "" {
			h = append(h, "Authorization", authz)
		}
		return openSSE(t, streamURL(g, topic, ""), h...)
	}
	if s := open("customer1", seedAuth); s.status != http.StatusOK {
		t.Fatalf("customer1 on its topic: %d %s", s.status, s.body)
	}
	if s := open("customer1", ""); s.status != http.StatusUnauthorized || s.header.Get("WWW-Authenticate") == "" {
		t.Errorf("anonymous: %d %s", s.status, s.body)
	}
	// partner may produce to partner-in, not fetch it.
	if s := open("partner-in", basic("partner")); s.status != http.StatusForbidden || (response{body: s.body}).errorCode() != 40301 {
		t.Errorf("partner (produce only) on partner-in: %d %s", s.status, s.body)
	}
	other := open("customer2", seedAuth)
	missing := open("customer3", seedAuth)
	if other.status != http.StatusForbidden || missing.status != other.status ||
		strings.ReplaceAll(string(other.body), "customer2", "X") != strings.ReplaceAll(string(missing.body), "customer3", "X") {
		t.Errorf("another tenant's topic: %d %s; a missing one: %d %s; want the same 403", other.status, other.body, missing.status, missing.body)
	}
}

// TestPushStreamEnds: a stream ends, with an end event saying why,
// within a second of its token being revoked, its fetch right removed
// or its token expiring, and at shutdown.
func TestPushStreamEnds(t *testing.T) {
	openIdle := func(t *testing.T, g *testutil.Gateway, authz string) *sseStream {
		t.Helper()
		s := openSSE(t, streamURL(g, "customer1", ""), "Authorization", authz)
		if s.status != http.StatusOK {
			t.Fatalf("stream: %d %s", s.status, s.body)
		}
		return s
	}
	t.Run("token revoked", func(t *testing.T) {
		g, _ := reloadGateway(t)
		pushTopic(t, g, "customer1", 1)
		s := openIdle(t, g, bearer(login(t, g.URL, "customer1")))
		time.Sleep(100 * time.Millisecond) // the stream is waiting for records
		start := time.Now()
		if r := do(t, "DELETE", g.URL+"/admin/tokens/customer1", "", "Authorization", basic("ops")); r.status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		if e := s.ends(t, start, time.Second, 40101, "unauthenticated"); !strings.Contains(e.Message, "revoked") {
			t.Errorf("end message %q does not say the token was revoked", e.Message)
		}
	})
	t.Run("fetch removed", func(t *testing.T) {
		g, perms := reloadGateway(t)
		pushTopic(t, g, "customer1", 1)
		s := openIdle(t, g, seedAuth)
		b, err := os.ReadFile(perms)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(perms, []byte(strings.Replace(string(b), `  fetch: ["{user}"]`+"\n", "", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops")); r.status != http.StatusOK {
			t.Fatalf("reload: %d %s", r.status, r.body)
		}
		s.ends(t, start, time.Second, 40301, "forbidden")
	})
	t.Run("token expired", func(t *testing.T) {
		users, perms := secureFiles(t)
		g := testutil.StartGateway(t, func(c *config.Config) {
			c.Auth.Users, c.Auth.Permissions = users, perms
			c.Auth.JWT.TTL = config.Duration(3 * time.Second)
			c.Auth.JWT.Leeway = 0
		})
		pushTopic(t, g, "customer1", 1)
		tok := login(t, g.URL, "customer1")
		s := openIdle(t, g, bearer(tok))
		var claims struct {
			Exp int64 `json:"exp"`
		}
		if err := json.Unmarshal([]byte(jwtPayload(t, tok)), &claims); err != nil {
			t.Fatal(err)
		}
		s.ends(t, time.Unix(claims.Exp, 0), time.Second, 40101, "unauthenticated")
	})
	t.Run("shutdown", func(t *testing.T) {
		g := secureGateway(t, nil)
		pushTopic(t, g, "customer1", 1)
		s := openIdle(t, g, seedAuth)
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		stopped := make(chan struct{})
		go func() { g.Stop(); close(stopped) }()
		s.ends(t, start, 2*time.Second, 503, "shutdown")
		<-stopped // before the data directory goes
	})
	t.Run("lifetime", func(t *testing.T) {
		g := secureGateway(t, func(c *config.Config) { c.HTTP.StreamMaxDuration = config.Duration(time.Second) })
		pushTopic(t, g, "customer1", 1)
		start := time.Now()
		s := openIdle(t, g, seedAuth)
		s.ends(t, start, 2*time.Second, 408, "lifetime")
	})
}

// TestPushStreamsCapped: push streams count against
// http.max_streams_per_principal (429 past it), apart from produce
// streams, and a closed stream gives its slot back.
func TestPushStreamsCapped(t *testing.T) {
	g := secureGateway(t, func(c *config.Config) {
		c.HTTP.MaxStreams, c.HTTP.MaxStreamsPerPrincipal = 3, 2
	})
	pushTopic(t, g, "customer1", 1)
	pushTopic(t, g, "customer2", 1)
	open := func(topic, authz string) *sseStream {
		return openSSE(t, streamURL(g, topic, ""), "Authorization", authz)
	}
	a, b := open("customer1", seedAuth), open("customer1", seedAuth)
	if a.status != http.StatusOK || b.status != http.StatusOK {
		t.Fatalf("customer1's streams: %d %d", a.status, b.status)
	}
	if s := open("customer1", seedAuth); s.status != http.StatusTooManyRequests || !strings.Contains(string(s.body), "for this principal") || s.header.Get("Retry-After") == "" {
		t.Errorf("customer1's third stream: %d %s", s.status, s.body)
	}
	if s := open("customer2", basic("customer2")); s.status != http.StatusOK {
		t.Errorf("customer2's stream: %d %s", s.status, s.body)
	}
	if s := open("customer2", basic("customer2")); s.status != http.StatusTooManyRequests || !strings.Contains(string(s.body), "on this node") {
		t.Errorf("past the node's cap: %d %s", s.status, s.body)
	}
	a.close()
	eventually(t, "a freed slot", func() bool {
		s := open("customer1", seedAuth)
		s.close()
		return s.status == http.StatusOK
	})
}

// TestPushByteRateSlows: a tenant over its byte rate is slowed, not cut
// off: 60 kB at 20 kB/s (burst 20 kB) takes about two seconds, and every
// record arrives.
func TestPushByteRateSlows(t *testing.T) {
	g := limitedGateway(t, "    bytes_per_second: 20000\n    byte_burst: 20000\n", "")
	cl := pushTopic(t, g, "customer1", 1)
	big := strings.Repeat("x", 2000)
	var recs []string
	for range 30 {
		recs = append(recs, big)
	}
	pushValues(t, cl, "customer1", recs)
	start := time.Now()
	s := openSSE(t, streamURL(g, "customer1", "from=earliest&format=string"), "Authorization", seedAuth)
	if s.status != http.StatusOK {
		t.Fatalf("stream: %d %s", s.status, s.body)
	}
	s.records(30, 20*time.Second)
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Errorf("60 kB at 20 kB/s (burst 20 kB) took %v, want about 2s", el)
	}
}

// TestPushDailyQuotaEnds: a record past the daily byte quota is not
// sent; the stream ends with a quota end event (429), and what was sent
// fits the quota.
func TestPushDailyQuotaEnds(t *testing.T) {
	avoidUTCMidnight(t, time.Minute) // the quota is one UTC day's
	g := limitedGateway(t, "    daily_bytes: 5000\n", "")
	cl := pushTopic(t, g, "customer1", 1)
	var vals []string
	for range 10 {
		vals = append(vals, strings.Repeat("q", 1000))
	}
	pushValues(t, cl, "customer1", vals)
	s := openSSE(t, streamURL(g, "customer1", "from=earliest&format=string"), "Authorization", seedAuth)
	if s.status != http.StatusOK {
		t.Fatalf("stream: %d %s", s.status, s.body)
	}
	n := 0
	for {
		ev, ok := s.next(10 * time.Second)
		if !ok {
			t.Fatalf("the stream ended without an end event after %d records", n)
		}
		if ev.event == "" {
			n++
			continue
		}
		var e pushEnd
		if err := json.Unmarshal([]byte(ev.data), &e); err != nil || ev.event != "end" || e.ErrorCode != 429 || e.Reason != "quota" {
			t.Fatalf("event %q %s, want the quota's end", ev.event, ev.data)
		}
		break
	}
	if n < 1 || n > 5 {
		t.Errorf("%d records of 1000 bytes sent under a 5000-byte daily quota", n)
	}
}
