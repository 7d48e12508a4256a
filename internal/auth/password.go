package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
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
// bcrypt (singleflight); at most GOMAXPROCS bcrypts run at once. It is safe
// for concurrent use.
type passwords struct {
	ttl    time.Duration
	macKey [32]byte
	// bcrypts counts bcrypt comparisons (tests check the cache with it).
	bcrypts atomic.Int64
	sf      singleflight.Group
	sem     chan struct{}

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

func newPasswords(ttl time.Duration) *passwords {
	p := &passwords{ttl: ttl, sem: make(chan struct{}, runtime.GOMAXPROCS(0)), cache: map[string]cacheEntry{}}
	_, _ = rand.Read(p.macKey[:])
	return p
}

func (p *passwords) mac(name, password string) [32]byte {
	h := hmac.New(sha256.New, p.macKey[:])
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// check reports whether password is u's. u may be nil (unknown user) or
// have no hash; then a dummy bcrypt at the same cost is paid and the
// answer is false, so that timing does not reveal whether the user exists.
func (p *passwords) check(ctx context.Context, pol *Policy, name, password string) (bool, error) {
	u := pol.users.Lookup(name)
	if u == nil || len(u.PasswordHash) == 0 {
		if err := p.bcrypt(ctx, pol.dummyHash(), password); err != nil && ctx.Err() != nil {
			return false, ctx.Err()
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
		err := p.bcrypt(context.WithoutCancel(ctx), hash, password)
		return err == nil, nil
	})
	if err != nil {
		return false, err
	}
	okPw := v.(bool)
	if okPw && p.ttl > 0 {
		p.mu.Lock()
		p.cache[name] = cacheEntry{mac: m, hash: string(hash), expires: time.Now().Add(p.ttl)}
		p.mu.Unlock()
	}
	return okPw, nil
}

func (p *passwords) bcrypt(ctx context.Context, hash []byte, password string) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sem }()
	p.bcrypts.Add(1)
	return bcrypt.CompareHashAndPassword(hash, []byte(password))
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
