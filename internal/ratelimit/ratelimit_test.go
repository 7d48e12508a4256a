package ratelimit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kgate/kgate/internal/httpapi"
)

// serve runs one request through the limiter's middleware for subject s.
func serve(l *Limiter, action string, s Subject, body string) *httptest.ResponseRecorder {
	rt := httpapi.Route{Method: "POST", Pattern: "/x", Name: "x", Action: action}
	h := l.Middleware(func(*http.Request) Subject { return s })(rt, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if action == "fetch" {
			_, _ = w.Write([]byte(strings.Repeat("r", 100)))
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/x", strings.NewReader(body)))
	return rec
}

func TestRequestRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(NewUsage("n1"), time.Minute, nil, nil)
		s := Subject{Key: "a", Principal: "a", Limits: Limits{RequestsPerSecond: 1, RequestBurst: 3}}
		for i := range 3 {
			rec := serve(l, "produce", s, "")
			if rec.Code != 200 {
				t.Fatalf("request %d: %d", i, rec.Code)
			}
			if got, want := rec.Header().Get("RateLimit-Remaining"), strconv.Itoa(2-i); got != want {
				t.Errorf("request %d: RateLimit-Remaining %s, want %s", i, got, want)
			}
		}
		rec := serve(l, "produce", s, "")
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" || rec.Header().Get("RateLimit-Limit") != "3" {
			t.Fatalf("4th: %d %v", rec.Code, rec.Header())
		}
		if !strings.Contains(rec.Body.String(), `"error_code":429`) {
			t.Errorf("body %s", rec.Body)
		}
		// A refused request takes no token: one second later exactly one
		// more is allowed.
		time.Sleep(time.Second)
		if rec := serve(l, "produce", s, ""); rec.Code != 200 {
			t.Fatalf("after 1s: %d", rec.Code)
		}
		if rec := serve(l, "produce", s, ""); rec.Code != 429 {
			t.Fatalf("second after 1s: %d", rec.Code)
		}
		time.Sleep(3 * time.Second)
		for i := range 3 {
			if rec := serve(l, "produce", s, ""); rec.Code != 200 {
				t.Fatalf("burst refilled, request %d: %d", i, rec.Code)
			}
		}
	})
}

func TestTenantsAreIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(NewUsage("n1"), time.Minute, nil, nil)
		lim := Limits{RequestsPerSecond: 1, RequestBurst: 1}
		a := Subject{Key: "a", Principal: "a", Limits: lim}
		b := Subject{Key: "b", Principal: "b", Limits: lim}
		serve(l, "produce", a, "")
		for range 100 {
			if rec := serve(l, "produce", a, ""); rec.Code != 429 {
				t.Fatalf("a: %d", rec.Code)
			}
		}
		start := time.Now()
		if rec := serve(l, "produce", b, ""); rec.Code != 200 {
			t.Fatalf("b: %d", rec.Code)
		}
		if time.Since(start) != 0 {
			t.Error("b waited") // fake time: any wait would show
		}
	})
}

func TestByteRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(NewUsage("n1"), time.Minute, nil, nil)
		s := Subject{Key: "a", Principal: "a", Limits: Limits{BytesPerSecond: 100, ByteBurst: 100}}
		// A request larger than the burst is admitted (the bucket is not
		// in debt) and then pays: 400 bytes put it 300 bytes in debt.
		if rec := serve(l, "produce", s, strings.Repeat("x", 400)); rec.Code != 200 {
			t.Fatalf("first: %d", rec.Code)
		}
		rec := serve(l, "produce", s, "x")
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "3" {
			t.Fatalf("in debt: %d Retry-After %s", rec.Code, rec.Header().Get("Retry-After"))
		}
		// Routes that move no data are not held.
		if rec := serve(l, "show_topic", s, ""); rec.Code != 200 {
			t.Fatalf("metadata: %d", rec.Code)
		}
		time.Sleep(3 * time.Second)
		if rec := serve(l, "produce", s, "x"); rec.Code != 200 {
			t.Fatalf("after the debt: %d", rec.Code)
		}
		// Consume is metered by the response.
		c := Subject{Key: "c", Principal: "c", Limits: Limits{BytesPerSecond: 10, ByteBurst: 10}}
		serve(l, "fetch", c, "")
		if rec := serve(l, "fetch", c, ""); rec.Code != 429 {
			t.Fatalf("fetch in debt: %d", rec.Code)
		}
	})
}

func TestDailyQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := NewUsage("n1")
		l := New(u, time.Minute, nil, nil)
		// synctest's clock starts at midnight UTC.
		time.Sleep(23 * time.Hour)
		s := Subject{Key: "a", Principal: "a", Limits: Limits{DailyRequests: 2, DailyBytes: 150}}
		for i := range 2 {
			if rec := serve(l, "show_topic", s, ""); rec.Code != 200 {
				t.Fatalf("request %d: %d", i, rec.Code)
			}
		}
		rec := serve(l, "show_topic", s, "")
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "3600" || rec.Header().Get("RateLimit-Reset") != "3600" {
			t.Fatalf("over quota: %d %v", rec.Code, rec.Header())
		}
		time.Sleep(time.Hour)
		if rec := serve(l, "show_topic", s, ""); rec.Code != 200 {
			t.Fatalf("next day: %d", rec.Code)
		}
		// The byte quota counts fetched bytes.
		s2 := Subject{Key: "b", Principal: "b", Limits: Limits{DailyBytes: 150}}
		serve(l, "fetch", s2, "")
		serve(l, "fetch", s2, "")
		if rec := serve(l, "fetch", s2, ""); rec.Code != 429 {
			t.Fatalf("byte quota: %d", rec.Code)
		}
		if r, b := u.Used("b", time.Now()); r != 2 || b != 200 {
			t.Errorf("used %d requests, %d bytes", r, b)
		}
	})
}

func TestIdleEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := newTable()
		l := Limits{RequestsPerSecond: 1}
		tb.get("a", l, time.Now())
		time.Sleep(5 * time.Minute)
		tb.get("b", l, time.Now())
		if n := tb.sweep(time.Now(), 10*time.Minute); n != 2 {
			t.Fatalf("%d left, want 2", n)
		}
		time.Sleep(6 * time.Minute)
		if n := tb.sweep(time.Now(), 10*time.Minute); n != 1 {
			t.Fatalf("%d left after a's idle time, want 1", n)
		}
	})
}

func TestKeyed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := NewKeyed(1, 2)
		for range 2 {
			if over, _ := k.Exhausted("ip"); over {
				t.Fatal("exhausted early")
			}
			k.Take("ip")
		}
		over, wait := k.Exhausted("ip")
		if !over || wait != time.Second {
			t.Fatalf("Exhausted = %v %v", over, wait)
		}
		if over, _ := k.Exhausted("other"); over {
			t.Error("another key is exhausted")
		}
		time.Sleep(time.Second)
		if over, _ := k.Exhausted("ip"); over {
			t.Error("not refilled")
		}
	})
}

func TestUsageAcrossNodes(t *testing.T) {
	u := NewUsage("n1")
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	u.Add("a|b", now, 2, 10) // a principal with a '|'
	u.apply("a|b|n2", []byte(`{"day":"2026-01-02","requests":5,"bytes":50}`))
	u.apply("a|b|n3", []byte(`{"day":"2026-01-01","requests":7,"bytes":70}`)) // yesterday
	u.apply("garbage", []byte(`{`))
	if r, b := u.Used("a|b", now); r != 7 || b != 60 {
		t.Errorf("Used = %d, %d; want 7, 60", r, b)
	}
	// Our own counts come back at start.
	u2 := NewUsage("n1")
	u2.apply("a|b|n1", []byte(`{"day":"2026-01-02","requests":2,"bytes":10}`))
	if r, _ := u2.Used("a|b", now); r != 2 {
		t.Errorf("replayed own count = %d", r)
	}
	snap := u.Snapshot(now)
	if len(snap) != 1 || snap[0].Principal != "a|b" || snap[0].Requests != 7 {
		t.Errorf("Snapshot = %+v", snap)
	}
}
