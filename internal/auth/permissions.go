package auth

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/kgate/kgate/internal/config"
)

// Scope is what an action's resource names.
type Scope int

// Scopes of actions.
const (
	ScopeCluster Scope = iota // no resource: the action is cluster-wide
	ScopeTopic
	ScopeGroup
	ScopeBroker
	// ScopeSubject names a schema registry subject.
	ScopeSubject
)

func (s Scope) String() string {
	switch s {
	case ScopeTopic:
		return "topic"
	case ScopeGroup:
		return "group"
	case ScopeBroker:
		return "broker"
	case ScopeSubject:
		return "subject"
	}
	return "cluster"
}

// Special entries of the permissions file.
const (
	// Anonymous is the principal of requests without credentials.
	Anonymous = "anonymous"
	// everyone applies to every authenticated principal.
	everyone    = "*"
	groupPrefix = "group:"
)

// pattern is one name pattern of a grant: an exact name, a prefix
// ("logs-*"), or "*"; {user} stands for the caller's name.
type pattern struct {
	text    string
	prefix  bool
	hasUser bool
}

func parsePattern(s string) (pattern, error) {
	if s == "" {
		return pattern{}, fmt.Errorf("empty name")
	}
	if len(s) > 512 {
		return pattern{}, fmt.Errorf("name is longer than 512 characters")
	}
	p := pattern{text: s}
	if strings.HasSuffix(s, "*") {
		p.prefix = true
		p.text = strings.TrimSuffix(s, "*")
	}
	if strings.Contains(p.text, "*") {
		return pattern{}, fmt.Errorf("'*' may only end a pattern (prefix match) or stand alone")
	}
	rest := strings.ReplaceAll(p.text, "{user}", "")
	if strings.ContainsAny(rest, "{}") {
		return pattern{}, fmt.Errorf("the only placeholder is {user}")
	}
	for _, r := range rest {
		if r < 0x20 || r == 0x7f {
			return pattern{}, fmt.Errorf("control characters are not allowed in names")
		}
	}
	p.hasUser = len(rest) != len(p.text)
	return p, nil
}

// match reports whether name matches for the caller user. Internal names
// (InternalName: starting with '_') match only a grant naming them
// exactly: never a prefix pattern or a template, whatever it expands to.
func (p pattern) match(name, user string) bool {
	if InternalName(name) {
		return !p.prefix && !p.hasUser && name == p.text
	}
	return p.matchAny(name, user)
}

// matchAny is match without the internal-name rule (for deny entries,
// which may only take rights away).
func (p pattern) matchAny(name, user string) bool {
	t := p.text
	if p.hasUser {
		t = strings.ReplaceAll(t, "{user}", user)
	}
	if p.prefix {
		return strings.HasPrefix(name, t)
	}
	return name == t
}

// grant is the value of one action in an entry: everything, or a list of
// patterns.
type grant struct {
	all      bool
	patterns []pattern
}

// allows reports whether an allow grant covers name for the caller user:
// "all" never covers internal names (only exact grants and admin do).
func (g *grant) allows(name, user string) bool {
	if g == nil {
		return false
	}
	if g.all && !InternalName(name) {
		return true
	}
	for _, p := range g.patterns {
		if p.match(name, user) {
			return true
		}
	}
	return false
}

// denies reports whether a deny grant covers name for the caller user:
// deny entries reach internal names too.
func (g *grant) denies(name, user string) bool {
	if g == nil {
		return false
	}
	if g.all {
		return true
	}
	for _, p := range g.patterns {
		if p.matchAny(name, user) {
			return true
		}
	}
	return false
}

// entry is one principal's (or group's) permissions.
type entry struct {
	allow map[Action]*grant
	deny  map[Action]*grant
	// cidrs, when set, are the only client addresses the entry's
	// principal may connect from.
	cidrs []netip.Prefix
}

// Permissions is a parsed permissions file. It is immutable once parsed.
type Permissions struct {
	entries map[string]*entry
}

// LoadPermissions reads and parses a permissions file; its problems name
// the file.
func LoadPermissions(path string) (*Permissions, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading permissions file: %w", err)
	}
	return parsePermissions(newFile(path), b)
}

// ParsePermissions parses a permissions file: a mapping of principals
// (user names, certificate names, "anonymous", "*" for every
// authenticated caller, "group:NAME") to actions. KastleX's
// permissions.yml is valid as it is. Every problem is reported
// (config.Problems), each with its line and key path.
func ParsePermissions(b []byte) (*Permissions, error) { return parsePermissions(newFile(""), b) }

func parsePermissions(fp *config.FileProblems, b []byte) (*Permissions, error) {
	ps := &Permissions{entries: map[string]*entry{}}
	for _, p := range parseFile(fp, b) {
		key := config.Key("", p.Key)
		if err := validPrincipalKey(p.Key); err != nil {
			fp.At(p.KeyNode, key, "%v", err)
			continue
		}
		ps.entries[p.Key] = parseEntry(fp, p, key)
	}
	if err := fp.Err(); err != nil {
		return nil, err
	}
	return ps, nil
}

// validPrincipalKey accepts the special entries ("*", "anonymous",
// "group:NAME") and valid principal names.
func validPrincipalKey(s string) error {
	switch {
	case s == everyone || s == Anonymous:
		return nil
	case strings.HasPrefix(s, groupPrefix):
		return validGroupName(strings.TrimPrefix(s, groupPrefix))
	}
	return ValidPrincipalName(s)
}

func parseEntry(fp *config.FileProblems, p config.Pair, key string) *entry {
	e := &entry{allow: map[Action]*grant{}, deny: map[Action]*grant{}}
	for _, f := range config.Pairs(fp, p.V, key) {
		k := config.Key(key, f.Key)
		switch f.Key {
		case "deny":
			for _, d := range config.Pairs(fp, f.V, k) {
				if g := parseGrant(fp, d, config.Key(k, d.Key), true); g != nil {
					e.deny[Action(d.Key)] = g
				}
			}
		case "cidrs", "allow_from":
			list, _ := stringList(fp, f.V, k)
			e.cidrs = []netip.Prefix{}
			for _, it := range list {
				pf, err := parseCIDR(it.value)
				if err != nil {
					fp.At(it.node, it.key, "%v", err)
					continue
				}
				e.cidrs = append(e.cidrs, pf)
			}
		default:
			if g := parseGrant(fp, f, k, false); g != nil {
				e.allow[Action(f.Key)] = g
			}
		}
	}
	return e
}

func parseCIDR(s string) (netip.Prefix, error) {
	if pf, err := netip.ParsePrefix(s); err == nil {
		return pf.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseGrant reads one action's value (the setting at key):
// true/false/all/none, a pattern or a list of patterns (cluster-wide
// actions take only true/false). An allow grant may reach an internal
// name only by naming it exactly. It returns nil after recording a
// problem.
func parseGrant(fp *config.FileProblems, f config.Pair, key string, deny bool) *grant {
	scope, ok := Action(f.Key).Scope()
	if !ok {
		fp.At(f.KeyNode, key, "unknown action (known: %s, and deny, cidrs)", strings.Join(actionNames(), ", "))
		return nil
	}
	if b, ok := boolValue(f.V); ok {
		if !b {
			return &grant{}
		}
		return &grant{all: true}
	}
	if config.IsNull(f.V) {
		return &grant{}
	}
	if scope == ScopeCluster {
		fp.At(f.V, key, "is a cluster-wide action: its value is true or false")
		return nil
	}
	list, ok := stringList(fp, f.V, key)
	if !ok {
		return nil
	}
	g := &grant{}
	for _, it := range list {
		if it.value == "*" {
			g.all = true
			continue
		}
		pt, err := parsePattern(it.value)
		if err == nil && !deny && InternalName(pt.text) && (pt.prefix || pt.hasUser) {
			err = fmt.Errorf("names starting with _ are internal (Kafka's, Confluent's, kgate's): " +
				"a grant reaches one only by naming it exactly, never by a prefix pattern or {user}")
		}
		if err != nil {
			fp.At(it.node, it.key, "%v", err)
			ok = false
			continue
		}
		g.patterns = append(g.patterns, pt)
	}
	if !ok {
		return nil
	}
	return g
}

// Principals returns the names the file has entries for, sorted.
func (p *Permissions) Principals() []string {
	if p == nil {
		return nil
	}
	out := make([]string, 0, len(p.entries))
	for n := range p.entries {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// applicable returns the entries that apply to a principal: its own, its
// groups', and "*" for authenticated callers.
func (p *Permissions) applicable(name string, groups []string, authenticated bool) []*entry {
	return p.appendApplicable(nil, name, groups, authenticated)
}

// appendApplicable is applicable appending to out (Decide passes a
// buffer on its stack: it runs on every request).
func (p *Permissions) appendApplicable(out []*entry, name string, groups []string, authenticated bool) []*entry {
	if p == nil {
		return out
	}
	if e := p.entries[name]; e != nil {
		out = append(out, e)
	}
	for _, g := range groups {
		if e := p.entries[groupPrefix+g]; e != nil {
			out = append(out, e)
		}
	}
	if authenticated {
		if e := p.entries[everyone]; e != nil {
			out = append(out, e)
		}
	}
	return out
}
