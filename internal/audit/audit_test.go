package audit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// captured is what the log got: one entry per record written.
type captured struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (c *captured) Enabled(context.Context, slog.Level) bool { return true }
func (c *captured) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *captured) WithGroup(string) slog.Handler            { return c }
func (c *captured) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	c.mu.Lock()
	c.recs = append(c.recs, m)
	c.mu.Unlock()
	return nil
}

// take returns the entries captured since the last call.
func (c *captured) take() []map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.recs
	c.recs = nil
	return out
}

func denial(principal, ip string) Record {
	return Record{Event: AuthFailure, Principal: principal, AuthMethod: "basic", ClientIP: ip, Reason: "wrong user name or password"}
}

// TestFinding15RefusalsFolded: repeated refusals of one principal from
// one address for one reason are written once at once and then as one
// summary per interval with their count; other keys and other events are
// not folded; a quiet key starts afresh; stopping writes what is left.
func TestFinding15RefusalsFolded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &captured{}
		l := New(nil, "_kgate_audit", "n1", slog.New(c), nil, Aggregate(time.Minute))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = l.Run(ctx) }()

		for range 100 {
			l.Write(ctx, denial("(unknown)", "192.0.2.1"))
		}
		l.Write(ctx, denial("(unknown)", "192.0.2.2"))
		l.Write(ctx, denial("customer1", "192.0.2.1"))
		for range 3 {
			l.Write(ctx, Record{Event: Login, Principal: "customer1", ClientIP: "192.0.2.1"})
		}
		if got := c.take(); len(got) != 6 {
			t.Fatalf("at once: %d records, want 3 first refusals and 3 logins: %v", len(got), got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		got := c.take()
		if len(got) != 1 || got[0]["count"] != "99" || got[0]["client_ip"] != "192.0.2.1" || got[0]["principal"] != "(unknown)" {
			t.Fatalf("after the first interval: %v", got)
		}
		// The key stays busy: its refusals are counted, not written first.
		for range 10 {
			l.Write(ctx, denial("(unknown)", "192.0.2.1"))
		}
		if got := c.take(); len(got) != 0 {
			t.Errorf("a busy key wrote at once: %v", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := c.take(); len(got) != 1 || got[0]["count"] != "10" {
			t.Errorf("second interval: %v", got)
		}
		// A quiet interval forgets the key.
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		l.Write(ctx, denial("(unknown)", "192.0.2.1"))
		if got := c.take(); len(got) != 1 || got[0]["count"] != "0" {
			t.Errorf("after a quiet interval: %v", got)
		}
		l.Write(ctx, denial("(unknown)", "192.0.2.1"))
		cancel()
		<-done
		if got := c.take(); len(got) != 1 || got[0]["count"] != "1" {
			t.Errorf("on stop: %v", got)
		}
		l.Write(ctx, denial("(unknown)", "192.0.2.1"))
		l.Write(ctx, denial("(unknown)", "192.0.2.1"))
		if got := c.take(); len(got) != 2 {
			t.Errorf("after stop, records are written one by one: %v", got)
		}
	})
}

// TestFinding15ManyAddressesFolded: a flood from more addresses than the
// aggregator tracks is folded too, under (many).
func TestFinding15ManyAddressesFolded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &captured{}
		l := New(nil, "_kgate_audit", "n1", slog.New(c), nil, Aggregate(time.Minute))
		ctx := context.Background()
		for i := range aggMaxKeys + 500 {
			l.Write(ctx, denial("anonymous", fmt.Sprintf("2001:db8::%x", i)))
		}
		if got := len(c.take()); got != aggMaxKeys {
			t.Errorf("%d records written at once, want %d", got, aggMaxKeys)
		}
		time.Sleep(time.Minute)
		l.Write(ctx, Record{Event: Reload, Principal: "ops"}) // Write flushes an interval that ended
		got := c.take()
		if len(got) != 2 || got[0]["client_ip"] != ManyAddresses || got[0]["count"] != "500" {
			t.Errorf("summary: %v", got)
		}
	})
}
