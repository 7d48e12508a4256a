package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"
)

// changes counts what may change a principal's standing: reloads of the
// users and permissions files, and every token record any replica writes
// (revocations). Waiters get a channel that closes at the next change.
type changes struct {
	gen atomic.Uint64
	// mu guards ch, which is closed and replaced at every change.
	mu sync.Mutex
	ch chan struct{}
}

func newChanges() *changes { return &changes{ch: make(chan struct{})} }

func (c *changes) bump() {
	c.mu.Lock()
	c.gen.Add(1)
	close(c.ch)
	c.ch = make(chan struct{})
	c.mu.Unlock()
}

func (c *changes) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

// Generation counts the changes that may affect any principal's standing
// (reloads, token revocations on any replica); it only grows.
func (s *Service) Generation() uint64 { return s.changes.gen.Load() }

// Changed returns a channel closed at the next such change.
func (s *Service) Changed() <-chan struct{} { return s.changes.next() }

// fingerprint names the credential a user has now (its password hash), so
// that a principal authenticated with an older one can be told apart: a
// password change, or a user deleted and added again, changes it.
func fingerprint(u *User) string {
	if u == nil || len(u.PasswordHash) == 0 {
		return ""
	}
	h := sha256.Sum256(u.PasswordHash)
	return hex.EncodeToString(h[:12])
}

// Recheck reports whether p, authenticated earlier, still stands now: a
// password or token user still exists with the credential p proved, a
// token is still live (not revoked on any replica) and not expired, and
// p may still connect from its address. It returns nil or an *Error
// saying why not. Anonymous callers and open mode always stand.
func (s *Service) Recheck(p *Principal, now time.Time) error {
	if s.open || !p.Authenticated() {
		return nil
	}
	pol := s.Policy()
	fail := func(reason string) error {
		return &Error{Reason: reason, Method: p.Method, Name: p.Name, bearer: p.Method == MethodBearer || p.Method == MethodOIDC}
	}
	switch p.Method {
	case MethodBasic, MethodBearer:
		u := pol.users.Lookup(p.Name)
		if u == nil {
			return fail("the user no longer exists")
		}
		if p.credential != fingerprint(u) {
			return fail("the user's password changed")
		}
	}
	if (p.Method == MethodOIDC || p.Method == MethodKerberos) && !p.Expires.IsZero() && !now.Before(p.Expires) {
		return fail("token expired")
	}
	if p.Method == MethodAPIKey {
		if s.keys == nil {
			return fail("API key revoked")
		}
		if err := s.keys.Stands(p.TokenID, now); err != nil {
			return fail(err.Error())
		}
	}
	if p.Method == MethodBearer {
		if !p.Expires.IsZero() && !now.Before(p.Expires) {
			return fail("token expired")
		}
		if s.store == nil || s.store.check(p.TokenID, p.Name) != nil {
			return fail("token revoked")
		}
	}
	if !pol.ClientAllowed(p.Name, p.ClientIP) {
		return fail("client address no longer allowed")
	}
	return nil
}

// Live is a principal's standing for work that outlives the request that
// started it checking at the door: a stream, a long poll, a consumer
// instance. It re-checks the principal (Recheck) and re-decides its
// rights whenever anything changed (a reload, a revocation on any
// replica) or its token expired, and answers from its last decisions
// until then, so that checking every record costs an atomic load. It is
// safe for concurrent use.
type Live struct {
	svc *Service
	p   *Principal

	// mu guards the fields below.
	mu      sync.Mutex
	gen     uint64
	err     error // the principal no longer stands; sticky
	allowed map[liveKey]error
}

type liveKey struct {
	action   Action
	resource string
}

// Live returns p's standing, valid as of now.
func (s *Service) Live(p *Principal) *Live {
	return &Live{svc: s, p: p, gen: s.Generation()} // allowed is made at the first decision kept
}

// Principal returns whom l stands for.
func (l *Live) Principal() *Principal { return l.p }

// Changed returns a channel closed at the next change that may affect l:
// waiters re-check then.
func (l *Live) Changed() <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.svc.Changed()
}

// refresh re-checks after a change; mu is held.
func (l *Live) refresh(now time.Time) {
	if l.err != nil {
		return
	}
	gen := l.svc.Generation()
	expired := !l.p.Expires.IsZero() && !now.Before(l.p.Expires)
	if gen == l.gen && !expired {
		return
	}
	l.gen = gen
	clear(l.allowed)
	if err := l.svc.Recheck(l.p, now); err != nil {
		l.err = err
	}
}

// Check returns nil while the principal stands, else the *Error that
// ended it (for good: a Live that failed stays failed).
func (l *Live) Check(now time.Time) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refresh(now)
	return l.err
}

// Still re-checks, after work that may have taken long (reading a
// body), that the principal stands and may still do action on resource:
// the full Authorize when the policy changed since changed (a Changed
// channel taken before the work) was closed, else only Check (expiry and
// revocation).
func (l *Live) Still(ctx context.Context, changed <-chan struct{}, action Action, resource string) error {
	if l == nil {
		return nil
	}
	select {
	case <-changed:
		return l.Authorize(ctx, action, resource)
	default:
		return l.Check(time.Now())
	}
}

// Authorize checks action on resource with the rights in force now: the
// principal's *Error when it no longer stands, a *Denial (audited once
// per change) when it may not, nil when it may.
func (l *Live) Authorize(ctx context.Context, action Action, resource string) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refresh(time.Now())
	if l.err != nil {
		return l.err
	}
	k := liveKey{action, resource}
	if err, ok := l.allowed[k]; ok {
		return err
	}
	var err error
	if d := l.svc.Policy().Decide(l.p, action, resource); !d.Allowed {
		err = l.svc.Deny(ctx, l.p, "", action, resource, d)
	}
	if l.allowed == nil {
		l.allowed = map[liveKey]error{}
	}
	if len(l.allowed) < 1024 { // a pattern subscription may name many topics
		l.allowed[k] = err
	}
	return err
}

type serviceKey struct{}

// ServiceKey is the context key LiveFor looks up the service under,
// exported for a context that keeps a request's values itself (httpapi's
// request state answers it with a *Service); others use WithService.
var ServiceKey any = serviceKey{}

// WithService returns ctx carrying the service that authenticated its
// request, so that handlers doing long-lived work can take a Live.
func WithService(ctx context.Context, s *Service) context.Context {
	return context.WithValue(ctx, serviceKey{}, s)
}

// LiveFor returns the standing of ctx's principal, or nil when no service
// authenticated the request (nothing to re-check: tests, open wiring).
func LiveFor(ctx context.Context) *Live {
	s, _ := ctx.Value(serviceKey{}).(*Service)
	p := FromContext(ctx)
	if s == nil || p == nil {
		return nil
	}
	return s.Live(p)
}

// Sees reports whether p may know that the named topic or group (scope)
// exists: whether some action of p's on it is allowed. Listings (topics,
// groups) show a tenant only what it sees, so that another tenant's names
// do not leak; admins see everything.
func (p *Policy) Sees(pr *Principal, scope Scope, name string) bool {
	for _, a := range actionsOf[scope] {
		if p.Decide(pr, a, name).Allowed {
			return true
		}
	}
	return false
}

// actionsOf lists the actions of each scope.
var actionsOf = func() map[Scope][]Action {
	m := map[Scope][]Action{}
	for _, a := range Actions() {
		s, _ := a.Scope()
		m[s] = append(m[s], a)
	}
	return m
}()

// Allowed reports whether the principal of ctx may do action on resource,
// by the policy of the service that authenticated it; without one (no
// authentication in the chain) everything is allowed. It filters, it does
// not refuse, so nothing is audited.
func Allowed(ctx context.Context, action Action, resource string) bool {
	s, _ := ctx.Value(serviceKey{}).(*Service)
	if s == nil {
		return true
	}
	p := FromContext(ctx)
	if p == nil {
		p = &Principal{Name: Anonymous, Method: MethodAnonymous}
	}
	return s.Policy().Decide(p, action, resource).Allowed
}

// Sees is Policy.Sees for the principal of ctx, with the service that
// authenticated it; without one (no authentication in the chain) it sees
// everything.
func Sees(ctx context.Context, scope Scope, name string) bool {
	s, _ := ctx.Value(serviceKey{}).(*Service)
	if s == nil {
		return true
	}
	p := FromContext(ctx)
	if p == nil {
		p = &Principal{Name: Anonymous, Method: MethodAnonymous}
	}
	return s.Policy().Sees(p, scope, name)
}
