package ratelimit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPeriods: ISO weeks (a year's first days may be last year's week 53)
// and months, and the time to each period's end.
func TestPeriods(t *testing.T) {
	for _, tc := range []struct {
		at          string
		week, month string
		toMonday    time.Duration
		toMonth     time.Duration
	}{
		{"2027-01-01T12:00:00Z", "2026-W53", "2027-01", 60 * time.Hour, 30*24*time.Hour + 12*time.Hour},
		{"2026-12-07T00:00:00Z", "2026-W50", "2026-12", 7 * 24 * time.Hour, 25 * 24 * time.Hour},
		{"2026-12-06T23:59:59Z", "2026-W49", "2026-12", time.Second, 25*24*time.Hour + time.Second},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		p := PeriodsOf(at)
		if p.Week != tc.week || p.Month != tc.month || untilMonday(at) != tc.toMonday || untilNextMonth(at) != tc.toMonth {
			t.Errorf("%s: %+v, %s to Monday, %s to the month's end", tc.at, p, untilMonday(at), untilNextMonth(at))
		}
	}
}

// TestWeeklyAndMonthlyQuotas: a week's quota spans days, a month's spans
// weeks; a new period starts from zero; requests refused take nothing.
func TestWeeklyAndMonthlyQuotas(t *testing.T) {
	l := New(NewUsage("n1"), time.Hour, nil, nil)
	s := Subject{Key: "p", Principal: "p", Limits: Limits{WeeklyRequests: 3, MonthlyRequests: 4}}
	mon, _ := time.Parse(time.RFC3339, "2026-11-23T10:00:00Z") // a Monday
	admit := func(at time.Time) *Exceeded {
		tk, ex := l.Admit(s, at, false)
		if ex == nil {
			tk.Done(at, 0)
		}
		return ex
	}
	for d := range 3 {
		if ex := admit(mon.Add(time.Duration(d) * 24 * time.Hour)); ex != nil {
			t.Fatalf("day %d: %v", d, ex)
		}
	}
	ex := admit(mon.Add(3 * 24 * time.Hour))
	if ex == nil || ex.Limit != "weekly_requests" || !strings.Contains(ex.Message, "Weekly request quota of 3") || ex.RetryAfter != 4*24*time.Hour-10*time.Hour {
		t.Fatalf("fourth this week: %+v", ex)
	}
	nextMon := mon.Add(7 * 24 * time.Hour)
	if ex := admit(nextMon); ex != nil {
		t.Fatalf("next week: %v", ex)
	}
	if ex := admit(nextMon.Add(time.Hour)); ex == nil || ex.Limit != "monthly_requests" {
		t.Fatalf("fifth this month: %+v", ex)
	}
	if ex := admit(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); ex != nil {
		t.Fatalf("next month: %v", ex)
	}
}

// TestPeriodsCache: the kept day's answer is never given for another day:
// times asked in any order, on both sides of midnights, get their own
// periods.
func TestPeriodsCache(t *testing.T) {
	fresh := func(at time.Time) Periods {
		u := at.UTC()
		y, w := u.ISOWeek()
		return Periods{Day: u.Format("2006-01-02"), Week: fmt.Sprintf("%04d-W%02d", y, w), Month: u.Format("2006-01")}
	}
	midnight := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	times := []time.Time{
		midnight, midnight.Add(-time.Nanosecond), midnight.Add(24*time.Hour - time.Nanosecond), midnight.Add(24 * time.Hour),
		midnight.Add(-time.Nanosecond), midnight.Add(time.Hour), midnight.Add(24 * time.Hour), midnight.Add(-24 * time.Hour),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		midnight.In(time.FixedZone("UTC+14", 14*3600)), midnight.Add(-time.Second).In(time.FixedZone("UTC-12", -12*3600)),
	}
	for _, at := range times {
		if got, want := PeriodsOf(at), fresh(at); got != want {
			t.Errorf("%s: %+v, want %+v", at.Format(time.RFC3339Nano), got, want)
		}
	}
}
