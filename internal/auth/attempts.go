package auth

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// attempts remembers authentication attempts: failures per client
// address and per attempted user name (each a token bucket: beyond it
// the attempt is refused without checking), which addresses and names
// failed recently (their password checks wait behind the others'), which
// (name, address) pairs succeeded recently (exempt from the per-name
// limit and first in the queue), and successful logins per user. It is
// safe for concurrent use.
//
// Addresses are counted by network: an IPv6 client by its /64 (one host
// usually holds one), every IPv4 loopback address as one. Whether an
// address failed recently (its checks wait behind the others) is also
// asked of its wider network, the /24 or /48 around it, where a flood
// from one allocation of addresses shows. Names are
// counted by a keyed 16-bit hash, known users and unknown names alike, so
// that neither the limit nor the memory it takes tells which users exist
// (an unknown name shares its bucket with 1 in 65,536 of the others).
type attempts struct {
	key         [32]byte
	macer       *macer // under key
	addrRate    rate.Limit
	addrBurst   int
	nameRate    rate.Limit
	nameBurst   int
	loginRate   rate.Limit
	loginBurst  int
	suspectFor  time.Duration
	trustFor    time.Duration
	maxTrusted  int
	idleTimeout time.Duration

	// mu guards the maps below.
	mu      sync.Mutex
	addrs   map[netip.Prefix]*standing
	wide    map[netip.Prefix]time.Time // last failure per wider network
	names   map[uint16]*standing
	trusted map[trustKey]time.Time
	logins  map[string]*rate.Limiter
}

// standing is the record of one address or name.
type standing struct {
	fails    *rate.Limiter
	lastFail time.Time
}

type trustKey struct {
	name string
	addr netip.Prefix
}

// Why an attempt is refused before it is checked.
type refusal int

const (
	refusedNot refusal = iota
	refusedAddress
	refusedName
	refusedBusy
	refusedLogins
	refusedTokens
)

func newAttempts(addrPerSecond float64, addrBurst int, namePerSecond float64, nameBurst int, loginsPerMinute float64, loginBurst int) *attempts {
	a := &attempts{
		addrRate: rate.Limit(addrPerSecond), addrBurst: addrBurst,
		nameRate: rate.Limit(namePerSecond), nameBurst: nameBurst,
		loginRate: rate.Limit(loginsPerMinute / 60), loginBurst: loginBurst,
		suspectFor: 10 * time.Minute, trustFor: 24 * time.Hour, maxTrusted: 100000, idleTimeout: 10 * time.Minute,
		addrs: map[netip.Prefix]*standing{}, wide: map[netip.Prefix]time.Time{}, names: map[uint16]*standing{},
		trusted: map[trustKey]time.Time{}, logins: map[string]*rate.Limiter{},
	}
	_, _ = rand.Read(a.key[:])
	a.macer = newMacer(a.key[:])
	return a
}

// network is the key an address is counted under.
func network(ip netip.Addr) netip.Prefix {
	switch {
	case !ip.IsValid():
		return netip.Prefix{}
	case ip.Is4() && ip.IsLoopback():
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{127}), 8)
	case ip.Is6():
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, ip.BitLen())
}

// wideNetwork is the network around an address where a flood's addresses
// cluster: its /24 (IPv4) or /48 (IPv6).
func wideNetwork(ip netip.Addr) netip.Prefix {
	n := network(ip)
	switch {
	case !ip.IsValid() || ip.IsLoopback():
		return n
	case ip.Is4():
		p, _ := ip.Prefix(24)
		return p
	}
	p, _ := ip.Prefix(48)
	return p
}

func (a *attempts) nameKey(name string) uint16 {
	sum := a.macer.sum(name)
	return binary.BigEndian.Uint16(sum[:])
}

// get returns the standing of key in m, created with a full bucket; mu
// is held.
func get[K comparable](m map[K]*standing, k K, r rate.Limit, burst int) *standing {
	s := m[k]
	if s == nil {
		s = &standing{fails: rate.NewLimiter(r, burst)}
		m[k] = s
	}
	return s
}

// wait returns how long until b holds a token again.
func wait(b *rate.Limiter, now time.Time) (bool, time.Duration) {
	t := b.TokensAt(now)
	if t >= 1 {
		return false, 0
	}
	if b.Limit() <= 0 {
		return true, time.Hour
	}
	return true, time.Duration((1 - t) / float64(b.Limit()) * float64(time.Second))
}

// refuse reports whether an attempt from ip naming name must be refused
// unchecked, why, and for how long. The per-name limit spares a pair
// that succeeded recently.
func (a *attempts) refuse(ip netip.Addr, name string, now time.Time) (refusal, time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.addrs[network(ip)]; s != nil {
		if over, d := wait(s.fails, now); over {
			return refusedAddress, d
		}
	}
	if name == "" {
		return refusedNot, 0
	}
	if s := a.names[a.nameKey(name)]; s != nil {
		if over, d := wait(s.fails, now); over && !a.trustedLocked(ip, name, now) {
			return refusedName, d
		}
	}
	return refusedNot, 0
}

func (a *attempts) trustedLocked(ip netip.Addr, name string, now time.Time) bool {
	t, ok := a.trusted[trustKey{name, network(ip)}]
	return ok && now.Sub(t) < a.trustFor
}

// class returns the queue an uncached password check of this attempt
// waits in.
func (a *attempts) class(ip netip.Addr, name string, now time.Time) class {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.trustedLocked(ip, name, now) {
		return classTrusted
	}
	recent := func(s *standing) bool { return s != nil && now.Sub(s.lastFail) < a.suspectFor }
	if t, ok := a.wide[wideNetwork(ip)]; ok && now.Sub(t) < a.suspectFor {
		return classSuspect
	}
	if recent(a.addrs[network(ip)]) || name != "" && recent(a.names[a.nameKey(name)]) {
		return classSuspect
	}
	return classClean
}

// failed records a failed attempt; name may be empty (a bad token).
func (a *attempts) failed(ip netip.Addr, name string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := get(a.addrs, network(ip), a.addrRate, a.addrBurst)
	s.fails.ReserveN(now, 1)
	s.lastFail = now
	a.wide[wideNetwork(ip)] = now
	if name != "" {
		s := get(a.names, a.nameKey(name), a.nameRate, a.nameBurst)
		s.fails.ReserveN(now, 1)
		s.lastFail = now
	}
}

// crowded records that an attempt from ip found no room to wait for a
// bcrypt: its wider network is flooding (or crowded), and its next
// attempts wait behind the others'.
func (a *attempts) crowded(ip netip.Addr, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.wide[wideNetwork(ip)] = now
}

// succeeded records that name proved its credentials from ip.
func (a *attempts) succeeded(ip netip.Addr, name string, now time.Time) {
	k := trustKey{name, network(ip)}
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.trusted[k]; ok && now.Sub(t) < time.Minute {
		return
	}
	if len(a.trusted) >= a.maxTrusted {
		if _, ok := a.trusted[k]; !ok {
			return // full of recent pairs (a sweep makes room)
		}
	}
	a.trusted[k] = now
}

// login takes one of user's successful logins, or reports how long until
// one is available.
func (a *attempts) login(user string, now time.Time) (bool, time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.logins[user]
	if l == nil {
		l = rate.NewLimiter(a.loginRate, a.loginBurst)
		a.logins[user] = l
	}
	if over, d := wait(l, now); over {
		return false, d
	}
	l.ReserveN(now, 1)
	return true, 0
}

// sweep forgets what no longer matters: full buckets idle for a while,
// trust that expired.
func (a *attempts) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	idle := func(s *standing, burst int) bool {
		return now.Sub(s.lastFail) > a.idleTimeout && s.fails.TokensAt(now) >= float64(burst)
	}
	for k, s := range a.addrs {
		if idle(s, a.addrBurst) {
			delete(a.addrs, k)
		}
	}
	for k, s := range a.names {
		if idle(s, a.nameBurst) {
			delete(a.names, k)
		}
	}
	for k, t := range a.wide {
		if now.Sub(t) >= a.suspectFor {
			delete(a.wide, k)
		}
	}
	for k, t := range a.trusted {
		if now.Sub(t) >= a.trustFor {
			delete(a.trusted, k)
		}
	}
	for k, l := range a.logins {
		if l.TokensAt(now) >= float64(a.loginBurst) {
			delete(a.logins, k)
		}
	}
}
