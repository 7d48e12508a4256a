package push

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFilter(t *testing.T) {
	rec := &kgo.Record{Key: []byte("k1"), Headers: []kgo.RecordHeader{{Key: "type", Value: []byte("alarm")}, {Key: "empty"}}}
	hm := func(s string) HeaderMatch {
		h, err := ParseHeaderMatch(s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	k := func(s string) *[]byte { b := []byte(s); return &b }
	for _, c := range []struct {
		name string
		f    Filter
		want bool
	}{
		{"none", Filter{}, true},
		{"key", Filter{Key: k("k1")}, true},
		{"other key", Filter{Key: k("k2")}, false},
		{"empty key", Filter{Key: k("")}, false},
		{"header present", Filter{Headers: []HeaderMatch{hm("type")}}, true},
		{"header value", Filter{Headers: []HeaderMatch{hm("type:alarm")}}, true},
		{"header other value", Filter{Headers: []HeaderMatch{hm("type:info")}}, false},
		{"header empty value", Filter{Headers: []HeaderMatch{hm("empty:")}}, true},
		{"missing header", Filter{Headers: []HeaderMatch{hm("nope")}}, false},
		{"all must match", Filter{Key: k("k1"), Headers: []HeaderMatch{hm("type:alarm"), hm("nope")}}, false},
	} {
		if got := c.f.Match(rec); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.name, got, c.want)
		}
	}
	if got := (Filter{Key: k("")}).Match(&kgo.Record{}); got {
		t.Error("an empty key filter matched a record without a key")
	}
	if _, err := ParseHeaderMatch(":x"); err == nil {
		t.Error("a header filter without a name passed")
	}
}

// TestCredit: Wait blocks at zero until a grant (on synctest's clock:
// nothing here may take time), grants are bounded, spends count down.
func TestCredit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCredit(0)
		got := make(chan int64, 1)
		go func() {
			n, _ := c.Wait(t.Context())
			got <- n
		}()
		synctest.Wait()
		select {
		case n := <-got:
			t.Fatalf("Wait returned %d at zero credit", n)
		default:
		}
		if err := c.Grant(3); err != nil {
			t.Fatal(err)
		}
		if n := <-got; n != 3 {
			t.Fatalf("Wait = %d after a grant of 3", n)
		}
		c.Spend(3)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if _, err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait at zero until the deadline: %v", err)
		}
		if err := c.Grant(0); !errors.Is(err, ErrCreditInvalid) {
			t.Errorf("Grant(0) = %v", err)
		}
		if err := c.Grant(MaxCredit + 1); !errors.Is(err, ErrCreditOverflow) {
			t.Errorf("Grant(MaxCredit+1) = %v", err)
		}
		if c.Available() != 0 {
			t.Errorf("Available = %d after refused grants", c.Available())
		}
	})
}
