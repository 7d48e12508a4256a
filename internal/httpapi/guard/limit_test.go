package guard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/ratelimit"
)

// serve runs one request through the limiter's middleware for subject s.
func serve(l *ratelimit.Limiter, action auth.Action, s ratelimit.Subject, body string) *httptest.ResponseRecorder {
	rt := httpapi.Route{Method: "POST", Pattern: "/x", Name: "x", Action: action}
	h := Limit(l, func(*http.Request, auth.Action) ratelimit.Subject { return s })(rt, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if action == auth.Fetch {
			_, _ = w.Write([]byte(strings.Repeat("r", 100)))
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/x", strings.NewReader(body)))
	return rec
}

func TestRequestRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.New(ratelimit.NewUsage("n1"), time.Minute, nil, nil)
		s := ratelimit.Subject{Key: "a", Principal: "a", Limits: ratelimit.Limits{RequestsPerSecond: 1, RequestBurst: 3}}
		for i := range 3 {
			rec := serve(l, auth.Produce, s, "")
			if rec.Code != 200 {
				t.Fatalf("request %d: %d", i, rec.Code)
			}
			if got, want := rec.Header().Get("RateLimit-Remaining"), strconv.Itoa(2-i); got != want {
				t.Errorf("request %d: RateLimit-Remaining %s, want %s", i, got, want)
			}
		}
		rec := serve(l, auth.Produce, s, "")
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" || rec.Header().Get("RateLimit-Limit") != "3" {
			t.Fatalf("4th: %d %v", rec.Code, rec.Header())
		}
		if !strings.Contains(rec.Body.String(), `"error_code":429`) {
			t.Errorf("body %s", rec.Body)
		}
		// A refused request takes no token: one second later exactly one
		// more is allowed.
		time.Sleep(time.Second)
		if rec := serve(l, auth.Produce, s, ""); rec.Code != 200 {
			t.Fatalf("after 1s: %d", rec.Code)
		}
		if rec := serve(l, auth.Produce, s, ""); rec.Code != 429 {
			t.Fatalf("second after 1s: %d", rec.Code)
		}
		time.Sleep(3 * time.Second)
		for i := range 3 {
			if rec := serve(l, auth.Produce, s, ""); rec.Code != 200 {
				t.Fatalf("burst refilled, request %d: %d", i, rec.Code)
			}
		}
	})
}

func TestTenantsAreIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.New(ratelimit.NewUsage("n1"), time.Minute, nil, nil)
		lim := ratelimit.Limits{RequestsPerSecond: 1, RequestBurst: 1}
		a := ratelimit.Subject{Key: "a", Principal: "a", Limits: lim}
		b := ratelimit.Subject{Key: "b", Principal: "b", Limits: lim}
		serve(l, auth.Produce, a, "")
		for range 100 {
			if rec := serve(l, auth.Produce, a, ""); rec.Code != 429 {
				t.Fatalf("a: %d", rec.Code)
			}
		}
		start := time.Now()
		if rec := serve(l, auth.Produce, b, ""); rec.Code != 200 {
			t.Fatalf("b: %d", rec.Code)
		}
		if time.Since(start) != 0 {
			t.Error("b waited") // fake time: any wait would show
		}
	})
}

func TestByteRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.New(ratelimit.NewUsage("n1"), time.Minute, nil, nil)
		s := ratelimit.Subject{Key: "a", Principal: "a", Limits: ratelimit.Limits{BytesPerSecond: 100, ByteBurst: 100}}
		// A request larger than the burst is admitted (the bucket is not
		// in debt) and then pays: 400 bytes put it 300 bytes in debt.
		if rec := serve(l, auth.Produce, s, strings.Repeat("x", 400)); rec.Code != 200 {
			t.Fatalf("first: %d", rec.Code)
		}
		rec := serve(l, auth.Produce, s, "x")
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "3" {
			t.Fatalf("in debt: %d Retry-After %s", rec.Code, rec.Header().Get("Retry-After"))
		}
		// Routes that move no data are not held.
		if rec := serve(l, auth.ShowTopic, s, ""); rec.Code != 200 {
			t.Fatalf("metadata: %d", rec.Code)
		}
		time.Sleep(3 * time.Second)
		if rec := serve(l, auth.Produce, s, "x"); rec.Code != 200 {
			t.Fatalf("after the debt: %d", rec.Code)
		}
		// Consume is metered by the response.
		c := ratelimit.Subject{Key: "c", Principal: "c", Limits: ratelimit.Limits{BytesPerSecond: 10, ByteBurst: 10}}
		serve(l, auth.Fetch, c, "")
		if rec := serve(l, auth.Fetch, c, ""); rec.Code != 429 {
			t.Fatalf("fetch in debt: %d", rec.Code)
		}
	})
}

func TestDailyQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := ratelimit.NewUsage("n1")
		l := ratelimit.New(u, time.Minute, nil, nil)
		// synctest's clock starts at midnight UTC.
		time.Sleep(23 * time.Hour)
		s := ratelimit.Subject{Key: "a", Principal: "a", Limits: ratelimit.Limits{DailyRequests: 2, DailyBytes: 150}}
		for i := range 2 {
			if rec := serve(l, auth.ShowTopic, s, ""); rec.Code != 200 {
				t.Fatalf("request %d: %d", i, rec.Code)
			}
		}
		rec := serve(l, auth.ShowTopic, s, "")
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "3600" || rec.Header().Get("RateLimit-Reset") != "3600" {
			t.Fatalf("over quota: %d %v", rec.Code, rec.Header())
		}
		time.Sleep(time.Hour)
		if rec := serve(l, auth.ShowTopic, s, ""); rec.Code != 200 {
			t.Fatalf("next day: %d", rec.Code)
		}
		// The byte quota counts fetched bytes.
		s2 := ratelimit.Subject{Key: "b", Principal: "b", Limits: ratelimit.Limits{DailyBytes: 150}}
		serve(l, auth.Fetch, s2, "")
		serve(l, auth.Fetch, s2, "")
		if rec := serve(l, auth.Fetch, s2, ""); rec.Code != 429 {
			t.Fatalf("byte quota: %d", rec.Code)
		}
		if r, b := u.Used("b", time.Now()); r != 2 || b != 200 {
			t.Errorf("used %d requests, %d bytes", r, b)
		}
	})
}
