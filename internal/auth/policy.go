package auth

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ratelimit"
)

// Method is how a caller authenticated.
type Method string

// The authentication methods.
const (
	MethodBasic       Method = "basic"
	MethodBearer      Method = "bearer"
	MethodCertificate Method = "certificate"
	MethodAnonymous   Method = "anonymous"
	// MethodOpen: open development mode, where nobody authenticates.
	MethodOpen Method = "open"
	// MethodPassword is a login with a password (POST /login).
	MethodPassword Method = "password"
	// MethodAPIKey is an API key (X-API-Key, or as Basic's password).
	MethodAPIKey Method = "api_key"
	// MethodKerberos is HTTP Negotiate (SPNEGO) with a Kerberos ticket.
	MethodKerberos Method = "kerberos"
	// MethodOIDC is a bearer token of an external OpenID Connect /
	// OAuth2 issuer (auth.oidc).
	MethodOIDC Method = "oidc"
	// MethodKafkaSASL is a SASL login on the Kafka port.
	MethodKafkaSASL Method = "kafka_sasl"
	// MethodHeader marks failures before any method could be told (a
	// malformed Authorization header).
	MethodHeader Method = "header"
)

// Principal is an authenticated (or anonymous) caller.
type Principal struct {
	// Name is the user name, the certificate's name, or "anonymous".
	Name string
	// Method is how the caller authenticated.
	Method Method
	// TokenID is the JWT's jti for bearer callers, and Expires the
	// token's expiry (zero for other methods).
	TokenID string
	Expires time.Time
	// ClientIP is the caller's address (after trusted proxies).
	ClientIP netip.Addr
	// Issuer and Groups are an OIDC principal's: its token's issuer and
	// the kgate groups its groups claim maps to (users-file users have
	// their groups in the users file).
	Issuer string
	Groups []string
	// Kerberos is a Negotiate principal's Kerberos name (alice@REALM),
	// and NegotiateReply the token its answer carries in
	// WWW-Authenticate: Negotiate (mutual authentication; may be empty).
	Kerberos       string
	NegotiateReply []byte
	// Plan is the usage plan an API key carries ("": the user's).
	Plan string
	// Via is the replica that authenticated the caller and forwarded its
	// request to this one (MethodNode); empty for a client's request.
	// Such a request was limited and metered where it came in.
	Via string
	// credential is the fingerprint of the password the principal
	// proved (basic, bearer): Recheck tells a changed one.
	credential string
}

// Authenticated reports whether the caller proved an identity.
func (p *Principal) Authenticated() bool {
	return p != nil && p.Method != MethodAnonymous && p.Method != MethodOpen && p.Method != ""
}

type principalKey struct{}

// PrincipalKey is the context key FromContext looks up, exported for a
// context that keeps a request's values itself (httpapi's request state
// answers it with a *Principal); others use WithPrincipal.
var PrincipalKey any = principalKey{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Policy is one consistent view of users and permissions. It is immutable;
// a reload builds a new one and swaps it in whole.
type Policy struct {
	users *Users
	perms *Permissions
	// open allows everything (open development mode).
	open bool
	// protected topics (kgate's own state and audit topics) are reachable
	// only by admin principals.
	protected map[string]bool
	// dummy is checked against for unknown users, at the highest cost of
	// the file, so that timing does not tell whether a user exists. It is
	// made on first use (a high cost takes a while).
	dummyOnce sync.Once
	dummy     []byte
	loadedAt  time.Time
	// claims are the names templates give each principal, per scope of
	// claimScopes (overlap.go).
	claims [2]*claimIndex
}

// dummyHash returns the hash unknown users are checked against.
func (p *Policy) dummyHash() []byte {
	p.dummyOnce.Do(func() {
		cost := p.users.maxCost
		if cost < bcrypt.MinCost {
			cost = bcrypt.MinCost // no users: nobody's existence to hide
		}
		// The password is never used; only the cost matters.
		p.dummy, _ = bcrypt.GenerateFromPassword([]byte("kgate-dummy-password-never-matches"), cost)
	})
	return p.dummy
}

// NewPolicy builds a policy from parsed files; protected lists topics only
// admins may touch.
func NewPolicy(users *Users, perms *Permissions, protected []string) *Policy {
	p := &Policy{users: users, perms: perms, protected: map[string]bool{}, loadedAt: time.Now()}
	if p.users == nil {
		p.users = &Users{byName: map[string]*User{}}
	}
	if p.perms == nil {
		p.perms = &Permissions{entries: map[string]*entry{}}
	}
	for _, t := range protected {
		p.protected[t] = true
	}
	p.buildClaims()
	return p
}

// OpenPolicy allows everything: open development mode.
func OpenPolicy() *Policy {
	p := NewPolicy(nil, nil, nil)
	p.open = true
	return p
}

// Users returns the policy's users.
func (p *Policy) Users() *Users { return p.users }

// Permissions returns the policy's permissions.
func (p *Policy) Permissions() *Permissions { return p.perms }

// LimitsFor returns the limit overrides of a principal, or nil.
// PlanOf returns the users-file plan of name ("" if none).
func (p *Policy) PlanOf(name string) string {
	if u := p.users.Lookup(name); u != nil {
		return u.Plan
	}
	return ""
}

func (p *Policy) LimitsFor(name string) *ratelimit.Override {
	if u := p.users.Lookup(name); u != nil {
		return u.Limits
	}
	return nil
}

// Decision is the outcome of an authorization check; Reason says why
// (for audit and logs, not for the client).
type Decision struct {
	Allowed bool
	Reason  string
}

// Decide checks whether pr may perform action on resource.
func (p *Policy) Decide(pr *Principal, action Action, resource string) Decision {
	if p.open {
		return Decision{true, "open development mode"}
	}
	scope, ok := action.Scope()
	if !ok {
		return Decision{false, "unknown action"}
	}
	name := Anonymous
	var groups []string
	authenticated := pr.Authenticated()
	if authenticated {
		name = pr.Name
		if pr.Method == MethodOIDC {
			groups = pr.Groups
		} else if u := p.users.Lookup(name); u != nil {
			groups = u.Groups
		}
	}
	var entriesBuf, grantsBuf [4]*entry // on the stack for the usual few entries
	entries := p.perms.appendApplicable(entriesBuf[:0], name, groups, authenticated)
	for _, e := range entries {
		if e.cidrs == nil {
			continue
		}
		if !inAny(pr.ClientIP, e.cidrs) {
			return Decision{false, "client address not in the allowed CIDRs"}
		}
	}
	if scope == ScopeCluster {
		resource = ""
	} else if !validResource(scope, resource) {
		return Decision{false, "invalid resource name"}
	}
	for _, e := range entries {
		if g := e.deny[action]; g != nil && (g.all && scope == ScopeCluster || scope != ScopeCluster && g.denies(resource, name)) {
			return Decision{false, "denied by a deny entry"}
		}
	}
	// What anonymous may do, everyone may do (by not authenticating), so
	// anonymous' grants are a floor for authenticated callers; its deny
	// entries and CIDRs concern anonymous callers only (outside its CIDRs
	// the floor does not apply).
	grants := entries
	if authenticated {
		if f := p.perms.entries[Anonymous]; f != nil && (f.cidrs == nil || inAny(pr.ClientIP, f.cidrs)) {
			grants = append(append(grantsBuf[:0], entries...), f)
		}
	}
	admin := false
	for _, e := range grants {
		if g := e.allow[Admin]; g != nil && g.all {
			admin = true
		}
	}
	for _, e := range entries {
		if g := e.deny[Admin]; g != nil && g.all {
			admin = false
		}
	}
	if admin {
		return Decision{true, "admin"}
	}
	if scope == ScopeTopic && p.protected[resource] {
		return Decision{false, "kgate internal topic (admin only)"}
	}
	for _, e := range grants {
		g := e.allow[action]
		if g == nil {
			continue
		}
		if scope == ScopeCluster {
			if g.all {
				return Decision{true, "granted"}
			}
			continue
		}
		if g.allows(resource, name) {
			return Decision{true, "granted"}
		}
	}
	if len(grants) == 0 {
		return Decision{false, "no permissions for this principal"}
	}
	return Decision{false, "no grant for " + string(action)}
}

func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// validResource refuses names that cannot be what the scope names, so that
// no encoded slash or dot segment reaches a prefix match. "*" stands for
// every resource (a subscription pattern): only "all" grants match it.
func validResource(s Scope, r string) bool {
	if r == "*" {
		return true
	}
	switch s {
	case ScopeTopic:
		return kafka.ValidTopic(r)
	case ScopeGroup, ScopeSubject:
		if r == "" || len(r) > 1024 {
			return false
		}
		for i := 0; i < len(r); i++ {
			if r[i] < 0x20 || r[i] == 0x7f {
				return false
			}
		}
		return true
	case ScopeBroker:
		if r == "" || len(r) > 10 {
			return false
		}
		for i := 0; i < len(r); i++ {
			if r[i] < '0' || r[i] > '9' {
				return false
			}
		}
		return true
	}
	return true
}
