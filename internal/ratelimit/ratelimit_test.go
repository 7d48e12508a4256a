package ratelimit

import (
	"testing"
	"testing/synctest"
	"time"
)

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

// TestShares: with a share of a limit, a subject's bucket holds that share
// of the burst and refills at that share of the rate; the tokens carry
// over when the share moves; Demand reports what was asked, refused
// requests included.
func TestShares(t *testing.T) {
	l := New(NewUsage("n"), time.Hour, nil, nil)
	share := 0.5
	l.SetShares(func(string) float64 { return share })
	s := Subject{Key: "k", Principal: "k", Limits: Limits{RequestsPerSecond: 10, RequestBurst: 10}}
	now := time.Now()
	admitted := 0
	for range 20 {
		if _, ex := l.Admit(s, now, false); ex == nil {
			admitted++
		}
	}
	if admitted != 5 {
		t.Fatalf("burst 10 at share 0.5: %d admitted at once, want 5", admitted)
	}
	// One second later: 5 more (rate 10 at share 0.5).
	later := now.Add(time.Second)
	admitted = 0
	for range 20 {
		if _, ex := l.Admit(s, later, false); ex == nil {
			admitted++
		}
	}
	if admitted != 5 {
		t.Fatalf("a second at 10/s x 0.5: %d admitted, want 5", admitted)
	}
	d := l.Demand(later)
	if d["k"] <= 0 {
		t.Fatalf("demand %v, want k's 40 requests", d)
	}
	// The whole limit again: the second before refilled at the old share
	// (5), the one after at the whole rate, up to the whole burst (10).
	share = 1
	for i, want := range []int{5, 10} {
		at := later.Add(time.Duration(i+1) * time.Second)
		admitted = 0
		for range 30 {
			if _, ex := l.Admit(s, at, false); ex == nil {
				admitted++
			}
		}
		if admitted != want {
			t.Fatalf("second %d after the share went to 1: %d admitted, want %d", i+1, admitted, want)
		}
	}
}
