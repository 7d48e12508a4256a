package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/config"
)

// TestGatePriority: trusted checks go first, then clean ones, then
// suspect ones; suspects are refused once a round waits, and give their
// place to clean checks when the queue is full.
func TestGatePriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1, 3, 1)
		ctx := context.Background()
		if err := g.acquire(ctx, classTrusted); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var order []string
		results := map[string]error{}
		start := func(name string, c class) {
			go func() {
				err := g.acquire(ctx, c)
				mu.Lock()
				results[name] = err
				if err == nil {
					order = append(order, name)
				}
				mu.Unlock()
			}()
			synctest.Wait()
		}
		start("suspect1", classSuspect) // waits: nothing waits yet
		start("suspect2", classSuspect) // refused: a round waits
		start("clean1", classClean)
		start("clean2", classClean)
		start("clean3", classClean) // the queue is full: suspect1 gives way
		start("clean4", classClean) // full of clean checks: refused
		start("trusted", classTrusted)
		mu.Lock()
		for name, want := range map[string]error{"suspect1": errBusy, "suspect2": errBusy, "clean4": errBusy} {
			if err, done := results[name]; !done || !errors.Is(err, want) {
				t.Errorf("%s: %v (done %v), want %v", name, err, done, want)
			}
		}
		mu.Unlock()
		for _, c := range []class{classTrusted, classTrusted, classClean, classClean} {
			g.release(c)
			synctest.Wait()
		}
		want := []string{"trusted", "clean1", "clean2", "clean3"}
		if fmt.Sprint(order) != fmt.Sprint(want) {
			t.Errorf("served %v, want %v", order, want)
		}
		g.release(classClean) // clean3's
		if g.running != [classes]int{} || g.waiting != 0 {
			t.Errorf("running %v, waiting %d after every release", g.running, g.waiting)
		}
	})
}

// TestGateCancel: a check whose caller leaves gives up its place.
func TestGateCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1, 4, 4)
		if err := g.acquire(context.Background(), classClean); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.acquire(ctx, classClean) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled acquire: %v", err)
		}
		g.release(classClean)
		if g.running != [classes]int{} || g.waiting != 0 {
			t.Errorf("running %d, waiting %d", g.running, g.waiting)
		}
	})
}

// TestGateKeepsASlotFromSuspects: with two slots or more, suspect checks
// run on all but one, so that a first-time login never waits for a
// flood's bcrypt to end.
func TestGateKeepsASlotFromSuspects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(2, 4, 2)
		ctx := context.Background()
		if err := g.acquire(ctx, classSuspect); err != nil {
			t.Fatal(err)
		}
		second := make(chan error, 1)
		go func() { second <- g.acquire(ctx, classSuspect) }()
		synctest.Wait()
		select {
		case err := <-second:
			t.Fatalf("a second suspect check ran at once: %v", err)
		default:
		}
		if err := g.acquire(ctx, classClean); err != nil { // runs at once on the kept slot
			t.Fatal(err)
		}
		g.release(classSuspect)
		if err := <-second; err != nil {
			t.Fatal(err)
		}
		g.release(classSuspect)
		g.release(classClean)
		if g.running != [classes]int{} || g.waiting != 0 {
			t.Errorf("running %v, waiting %d", g.running, g.waiting)
		}
	})
}

// TestAttemptsPerName: the per-name bucket counts every name alike,
// spares a pair that succeeded, and forgets in time.
func TestAttemptsPerName(t *testing.T) {
	a := newAttempts(1000, 1000, 0.1, 3, 1, 2)
	now := time.Unix(1_800_000_000, 0)
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	a.succeeded(ip(1), "alice", now)
	for i := range 3 {
		if why, _ := a.refuse(ip(10+i), "alice", now); why != refusedNot {
			t.Fatalf("attempt %d refused: %v", i, why)
		}
		a.failed(ip(10+i), "alice", now)
	}
	why, wait := a.refuse(ip(50), "alice", now)
	if why != refusedName || wait <= 0 || wait > 10*time.Second {
		t.Errorf("4th failure for alice: %v, retry after %v", why, wait)
	}
	if why, _ := a.refuse(ip(1), "alice", now); why != refusedNot {
		t.Errorf("alice from its known address: %v", why)
	}
	other := netip.MustParseAddr("203.0.113.9")
	if a.class(ip(1), "alice", now) != classTrusted || a.class(other, "alice", now) != classSuspect ||
		a.class(other, "bob", now) != classClean || a.class(ip(10), "bob", now) != classSuspect ||
		a.class(ip(99), "bob", now) != classSuspect { // the /24 of the failures
		t.Error("classes")
	}
	if why, _ := a.refuse(ip(50), "alice", now.Add(10*time.Second)); why != refusedNot {
		t.Errorf("after 10 s: %v", why)
	}
	// IPv6 counts by /64, IPv4 loopback as one.
	if network(netip.MustParseAddr("2001:db8::1")) != network(netip.MustParseAddr("2001:db8::ffff:1")) ||
		network(netip.MustParseAddr("127.0.0.1")) != network(netip.MustParseAddr("127.3.2.1")) ||
		network(netip.MustParseAddr("192.0.2.1")) == network(netip.MustParseAddr("192.0.2.2")) {
		t.Error("networks")
	}
	// Logins: a burst of 2, then one a minute.
	for i := range 2 {
		if ok, _ := a.login("alice", now); !ok {
			t.Fatalf("login %d refused", i)
		}
	}
	if ok, wait := a.login("alice", now); ok || wait < 59*time.Second {
		t.Errorf("third login: %v, %v", ok, wait)
	}
	if ok, _ := a.login("alice", now.Add(time.Minute)); !ok {
		t.Error("a login a minute later refused")
	}
	a.sweep(now.Add(25 * time.Hour))
	if len(a.addrs)+len(a.wide)+len(a.names)+len(a.trusted)+len(a.logins) != 0 {
		t.Errorf("after a day: %d addresses, %d names, %d trusted, %d logins", len(a.addrs), len(a.names), len(a.trusted), len(a.logins))
	}
}

// TestFinding12PasswordQueueShedsSuspects: while wrong passwords flood
// from many addresses, checks from addresses that just failed are refused
// at once (429) instead of queueing, and a first-time correct login still
// gets its bcrypt.
func TestFinding12PasswordQueueShedsSuspects(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("freshpw"), 8)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.yml")
	if err := os.WriteFile(path, []byte("fresh:\n  password_hash: \""+string(hash)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testService(t, func(c *config.Auth) { c.Users = path; c.FailuresPerSecond, c.FailureBurst = 1e6, 1<<20 })
	var busy, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for f := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.Authenticate(request(fmt.Sprintf("10.1.0.%d:1", f), basicHeader(fmt.Sprintf("nobody-%d-%d", f, i), "wrong")))
				var ae *Error
				switch {
				case errors.As(err, &ae) && ae.RetryAfter > 0 && strings.Contains(ae.Reason, "password checks in progress"):
					busy.Add(1)
				case errors.As(err, &ae) && ae.RetryAfter == 0:
					wrong.Add(1)
				default:
					t.Errorf("flood attempt: %v", err)
					return
				}
			}
		}()
	}
	for wrong.Load() < 32 {
		time.Sleep(5 * time.Millisecond)
	}
	_, err = s.Authenticate(request("203.0.113.5:1", basicHeader("fresh", "freshpw")))
	for busy.Load() == 0 && wrong.Load() < 2000 {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if err != nil {
		t.Errorf("a first-time login during the flood: %v", err)
	}
	if busy.Load() == 0 {
		t.Errorf("%d wrong passwords checked and none refused for the queue", wrong.Load())
	}
}
