package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"
)

// passwords checks passwords against bcrypt hashes. Successful checks are
// remembered for a short time (keyed by an HMAC of the password under a
// per-process key, compared in constant time), so bcrypt is not paid on
// every request; concurrent checks of the same credentials share one
// bcrypt (singleflight); at most GOMAXPROCS bcrypts run at once, and the
// checks waiting for one are bounded and served by priority (gate). It is
// safe for concurrent use.
type passwords struct {
	ttl    time.Duration
	macKey [32]byte
	macer  *macer // under macKey
	// bcrypts counts bcrypt comparisons (tests check the cache with it).
	bcrypts atomic.Int64
	sf      singleflight.Group
	gate    *gate

	// mu guards cache: one entry per user name (bounded by the users
	// file), the last password that checked out.
	mu    sync.Mutex
	cache map[string]cacheEntry
}

type cacheEntry struct {
	mac     [32]byte
	hash    string // the bcrypt hash it was checked against
	expires time.Time
}

// newPasswords remembers successful checks for ttl and lets at most queue
// uncached checks wait for a bcrypt.
func newPasswords(ttl time.Duration, queue int) *passwords {
	slots := runtime.GOMAXPROCS(0)
	p := &passwords{ttl: ttl, gate: newGate(slots, queue, min(slots, queue)), cache: map[string]cacheEntry{}}
	_, _ = rand.Read(p.macKey[:])
	p.macer = newMacer(p.macKey[:])
	return p
}

// maxQueueWait bounds how long a check waits for a bcrypt (the waiting is
// shared by callers with the same credentials, so it does not end with
// the first caller's request).
const maxQueueWait = 10 * time.Second

func (p *passwords) mac(name, password string) [32]byte {
	return p.macer.sum(name, "\x00", password)
}

// check reports whether password is u's, as a clean attempt (checkAs).
func (p *passwords) check(ctx context.Context, pol *Policy, name, password string) (bool, error) {
	return p.checkAs(ctx, pol, name, password, classClean)
}

// checkAs reports whether password is u's; an uncached check waits for a
// bcrypt in the queue of class c, and fails with errBusy when it may not
// wait. u may be nil (unknown user) or have no hash; then a dummy bcrypt
// at the same cost is paid and the answer is false, so that timing does
// not reveal whether the user exists.
func (p *passwords) checkAs(ctx context.Context, pol *Policy, name, password string, c class) (bool, error) {
	u := pol.users.Lookup(name)
	if u == nil || len(u.PasswordHash) == 0 {
		wctx, cancel := context.WithTimeout(ctx, maxQueueWait)
		defer cancel()
		if _, err := p.bcrypt(wctx, pol.dummyHash(), password, c); err != nil {
			return false, queueError(ctx, err)
		}
		return false, nil
	}
	m := p.mac(name, password)
	now := time.Now()
	p.mu.Lock()
	e, ok := p.cache[name]
	p.mu.Unlock()
	if ok && now.Before(e.expires) && e.hash == string(u.PasswordHash) && subtle.ConstantTimeCompare(e.mac[:], m[:]) == 1 {
		return true, nil
	}
	hash := u.PasswordHash
	v, err, _ := p.sf.Do(name+"\x00"+hex.EncodeToString(m[:]), func() (any, error) {
		// The check is shared by callers with the same credentials; it
		// must not die with the first caller's request.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxQueueWait)
		defer cancel()
		match, err := p.bcrypt(wctx, hash, password, c)
		return match, err
	})
	if err != nil {
		return false, queueError(ctx, err)
	}
	okPw := v.(bool)
	if okPw && p.ttl > 0 {
		p.mu.Lock()
		p.cache[name] = cacheEntry{mac: m, hash: string(hash), expires: time.Now().Add(p.ttl)}
		p.mu.Unlock()
	}
	return okPw, nil
}

// bcrypt compares password with hash once the gate admits it; err is the
// gate's refusal or the end of ctx, never a mismatch.
func (p *passwords) bcrypt(ctx context.Context, hash []byte, password string, c class) (bool, error) {
	if err := p.gate.acquire(ctx, c); err != nil {
		return false, err
	}
	defer p.gate.release(c)
	p.bcrypts.Add(1)
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil, nil
}

// queueError is the error of a check that got no bcrypt: the caller's
// own end, else errBusy (refused, or waited too long).
func queueError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errBusy
}

// forget drops cached checks of users whose hash changed or who are gone,
// after a reload.
func (p *passwords) forget(pol *Policy) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, e := range p.cache {
		u := pol.users.Lookup(name)
		if u == nil || string(u.PasswordHash) != e.hash || time.Now().After(e.expires) {
			delete(p.cache, name)
		}
	}
}

// class is the queue a password check waits in for a bcrypt.
type class int

const (
	// classTrusted: the user succeeded from this address recently.
	classTrusted class = iota
	// classClean: neither the address nor the name failed recently.
	classClean
	// classSuspect: the address or the name failed recently.
	classSuspect
	classes
)

// errBusy refuses a password check that may not wait for a bcrypt.
var errBusy = errors.New("too many password checks in progress")

// gate admits bcrypt comparisons: slots run at once, suspect checks on at
// most slots-1 of them (one stays free for the others when there are
// two or more), and the others wait in one queue per class, served
// trusted first, then clean, then suspect. A suspect check is refused as
// soon as shed checks wait; when max wait, a clean or trusted check takes
// the place of the newest suspect one (refused) or, with none, a clean
// one is refused; trusted checks (they need a recent success) are refused
// only beyond 4*max waiting. So a flood of failing attempts holds at most
// slots-1 bcrypts and shed waiting places, and first-time and known-good
// logins go ahead of it. It is safe for concurrent use.
type gate struct {
	slots, suspectSlots, max, shed int

	// mu guards the fields below.
	mu      sync.Mutex
	running [classes]int
	waiting int
	queues  [classes][]*waiter
}

type waiter struct {
	ready chan struct{}
	// state, guarded by the gate's mu: 0 waiting, then one of these.
	state int
}

const (
	waiterGranted = iota + 1
	waiterRefused
	waiterGone
)

func newGate(slots, max, shed int) *gate {
	slots = max1(slots)
	return &gate{slots: slots, suspectSlots: max1(slots - 1), max: max1(max), shed: max1(shed)}
}

func max1(n int) int { return max(n, 1) }

// canRun reports whether a check of class c may take a slot now; mu is
// held.
func (g *gate) canRun(c class) bool {
	total := 0
	for _, n := range g.running {
		total += n
	}
	return total < g.slots && (c != classSuspect || g.running[classSuspect] < g.suspectSlots)
}

// acquire returns nil once c's check may run (release it after), errBusy
// when it may not wait, or ctx's error.
func (g *gate) acquire(ctx context.Context, c class) error {
	g.mu.Lock()
	ahead := 0
	for k := classTrusted; k <= c; k++ {
		ahead += len(g.queues[k])
	}
	if ahead == 0 && g.canRun(c) {
		g.running[c]++
		g.mu.Unlock()
		return nil
	}
	switch {
	case c == classSuspect && g.waiting >= g.shed:
		g.mu.Unlock()
		return errBusy
	case c == classTrusted && g.waiting >= 4*g.max:
		g.mu.Unlock()
		return errBusy
	case c == classClean && g.waiting >= g.max && !g.evictSuspect():
		g.mu.Unlock()
		return errBusy
	case c == classTrusted && g.waiting >= g.max:
		g.evictSuspect()
	}
	w := &waiter{ready: make(chan struct{})}
	g.queues[c] = append(g.queues[c], w)
	g.waiting++
	g.mu.Unlock()
	select {
	case <-w.ready:
	case <-ctx.Done():
		g.mu.Lock()
		if w.state == 0 {
			w.state = waiterGone
			g.waiting--
			g.mu.Unlock()
			return ctx.Err()
		}
		g.mu.Unlock()
	}
	// Granted or refused (the channel is closed either way).
	g.mu.Lock()
	state := w.state
	g.mu.Unlock()
	if state == waiterRefused {
		return errBusy
	}
	if ctx.Err() != nil {
		g.release(c)
		return ctx.Err()
	}
	return nil
}

// evictSuspect refuses the newest waiting suspect check; mu is held.
func (g *gate) evictSuspect() bool {
	q := g.queues[classSuspect]
	for i := len(q) - 1; i >= 0; i-- {
		w := q[i]
		g.queues[classSuspect] = q[:i]
		if w.state == 0 {
			w.state = waiterRefused
			g.waiting--
			close(w.ready)
			return true
		}
	}
	return false
}

// release ends a running check of class c and hands the free slots to
// the first waiters of the best classes that may run.
func (g *gate) release(c class) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running[c]--
	for k := range g.queues {
		for len(g.queues[k]) > 0 && g.canRun(class(k)) {
			w := g.queues[k][0]
			g.queues[k][0] = nil
			g.queues[k] = g.queues[k][1:]
			if w.state != 0 {
				continue
			}
			w.state = waiterGranted
			g.waiting--
			g.running[k]++
			close(w.ready)
		}
	}
}
