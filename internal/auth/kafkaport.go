package auth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"slices"
	"time"
)

// The embedded broker's Kafka port is guarded by package kafkaport, which
// terminates SASL there and asks the service what it needs through the
// methods below (its kafkaport.Policy interface; this package does not
// import kafkaport).

// ClientAllowed reports whether user may connect from ip: every entry that
// applies to the user (its own, its groups', "*") and lists cidrs must
// contain ip. Users without such entries may connect from anywhere.
func (p *Policy) ClientAllowed(user string, ip netip.Addr) bool {
	if p.open {
		return true
	}
	var groups []string
	if u := p.users.Lookup(user); u != nil {
		groups = u.Groups
	}
	for _, e := range p.perms.applicable(user, groups, true) {
		if e.cidrs != nil && !inAny(ip, e.cidrs) {
			return false
		}
	}
	return true
}

// KnownUser reports whether user is in the users file in force.
func (s *Service) KnownUser(user string) bool { return s.Policy().users.Lookup(user) != nil }

// ClientAllowed reports whether user may connect from ip by the policy in
// force (Policy.ClientAllowed).
func (s *Service) ClientAllowed(user string, ip netip.Addr) bool {
	return s.Policy().ClientAllowed(user, ip)
}

// SCRAMCredential returns user's salted SCRAM password for mechanism
// (SCRAM-SHA-256 or SCRAM-SHA-512) from the users file in force; ok is
// false when it has none.
func (s *Service) SCRAMCredential(user, mechanism string) (iterations int, salt, saltedPassword []byte, ok bool) {
	c := scramOf(s.Policy().users.Lookup(user), mechanism)
	if c == nil {
		return 0, nil, nil, false
	}
	return int(c.Iterations), c.Salt, c.SaltedPassword, true
}

// CheckPassword reports whether password is user's bcrypt-hashed password
// in the users file in force, as HTTP Basic checks it: successes are
// cached briefly, unknown users pay a bcrypt against a dummy hash, and
// an uncached check waits for a bcrypt slot in ip's queue class; err is a
// check that could not wait (too many in progress). It does not count
// failures: the caller limits its own.
func (s *Service) CheckPassword(ctx context.Context, ip netip.Addr, user, password string) (bool, error) {
	return s.pw.checkAs(ctx, s.Policy(), user, password, s.attempts.class(ip, user, time.Now()))
}

// CredentialID fingerprints the credential user proves with mechanism:
// the bcrypt hash for PLAIN and for OAUTHBEARER (kgate's tokens), the
// salted password for SCRAM, "" for other mechanisms or when there is
// none.
func (s *Service) CredentialID(user, mechanism string) string {
	u := s.Policy().users.Lookup(user)
	if mechanism == "PLAIN" || mechanism == "OAUTHBEARER" {
		// kgate's tokens are bound to the password they were issued
		// against: changing it ends them, and their connections.
		return fingerprint(u)
	}
	c := scramOf(u, mechanism)
	if c == nil {
		return ""
	}
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(c.Iterations)))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(c.Salt))))
	h.Write(c.Salt)
	h.Write(c.SaltedPassword)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func scramOf(u *User, mechanism string) *SCRAMCredential {
	if u == nil {
		return nil
	}
	switch mechanism {
	case "SCRAM-SHA-256":
		return u.SCRAM256
	case "SCRAM-SHA-512":
		return u.SCRAM512
	}
	return nil
}

// BearerPrincipal checks one of kgate's tokens (from POST /login)
// presented on the Kafka port from ip (SASL OAUTHBEARER) as HTTP checks
// a Bearer header, leaving the failure limits to the port's own. It
// returns the principal, whose standing Recheck follows for the life of
// the connection, or an *Error.
func (s *Service) BearerPrincipal(ctx context.Context, ip netip.Addr, token string) (*Principal, error) {
	p, err := s.token(ctx, token)
	if err != nil {
		return nil, err
	}
	if p.Method == MethodOIDC {
		// The broker knows users-file users by their users-file groups;
		// an issuer's principal of the same name would get those.
		if s.Policy().users.Lookup(p.Name) != nil {
			return nil, &Error{Reason: "OIDC principal " + p.Name + " is also a users-file user: give the issuer a prefix (auth.oidc[].prefix)", Method: MethodOIDC, bearer: true}
		}
		s.rememberExternal(p.Name, p.Groups, p.Expires)
	}
	p.ClientIP = ip
	return p, nil
}

// external is a principal from outside the users file logged in on the
// Kafka port, with the groups its credential gave it: the broker gets its
// ACLs until its credential ends.
type external struct {
	groups []string
	until  time.Time
}

func (s *Service) rememberExternal(name string, groups []string, until time.Time) {
	s.extMu.Lock()
	defer s.extMu.Unlock()
	if s.ext == nil {
		s.ext = map[string]external{}
	}
	if e, ok := s.ext[name]; ok && e.until.After(until) {
		until = e.until // an earlier connection's credential lasts longer
	}
	s.ext[name] = external{groups: slices.Clone(groups), until: until}
}

// External returns the groups of an external principal logged in on the
// Kafka port (ok false: none such, or its credential ended).
func (s *Service) External(name string) (groups []string, ok bool) {
	s.extMu.Lock()
	defer s.extMu.Unlock()
	e, ok := s.ext[name]
	if !ok || !time.Now().Before(e.until) {
		return nil, false
	}
	return slices.Clone(e.groups), true
}

// ExternalPrincipals returns the external principals logged in on the
// Kafka port whose credentials have not ended, with their groups (for
// SyncBroker), forgetting the others.
func (s *Service) ExternalPrincipals(now time.Time) map[string][]string {
	s.extMu.Lock()
	defer s.extMu.Unlock()
	out := map[string][]string{}
	for n, e := range s.ext {
		if !now.Before(e.until) {
			delete(s.ext, n)
			continue
		}
		out[n] = slices.Clone(e.groups)
	}
	return out
}
