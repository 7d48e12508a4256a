package auth

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
)

// Scope is what an action's resource names.
type Scope int

// Scopes of actions.
const (
	ScopeCluster Scope = iota // no resource: the action is cluster-wide
	ScopeTopic
	ScopeGroup
	ScopeBroker
)

func (s Scope) String() string {
	switch s {
	case ScopeTopic:
		return "topic"
	case ScopeGroup:
		return "group"
	case ScopeBroker:
		return "broker"
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
		return pattern{}, fmt.Errorf("%q: '*' may only end a pattern (prefix match) or stand alone", s)
	}
	rest := strings.ReplaceAll(p.text, "{user}", "")
	if strings.ContainsAny(rest, "{}") {
		return pattern{}, fmt.Errorf("%q: the only placeholder is {user}", s)
	}
	for _, r := range rest {
		if r < 0x20 || r == 0x7f {
			return pattern{}, fmt.Errorf("control characters are not allowed in names")
		}
	}
	p.hasUser = len(rest) != len(p.text)
	return p, nil
}

// match reports whether name matches for the caller user. Names that start
// with an underscore (Kafka's and kgate's internal topics) match only
// patterns that start with one too: "*" and "logs-*" never reach them.
func (p pattern) match(name, user string) bool {
	t := p.text
	if p.hasUser {
		t = strings.ReplaceAll(t, "{user}", user)
	}
	if strings.HasPrefix(name, "_") && !strings.HasPrefix(t, "_") {
		return false
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

func (g *grant) match(name, user string) bool {
	if g == nil {
		return false
	}
	if g.all {
		return !strings.HasPrefix(name, "_") || name == "*"
	}
	for _, p := range g.patterns {
		if p.match(name, user) {
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

// LoadPermissions reads and parses a permissions file.
func LoadPermissions(path string) (*Permissions, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading permissions file: %w", err)
	}
	p, err := ParsePermissions(b)
	if err != nil {
		return nil, fmt.Errorf("permissions file %s: %w", path, err)
	}
	return p, nil
}

// ParsePermissions parses a permissions file: a mapping of principals
// (user names, certificate names, "anonymous", "*" for every
// authenticated caller, "group:NAME") to actions. KastleX's
// permissions.yml is valid as it is.
func ParsePermissions(b []byte) (*Permissions, error) {
	root, err := parseDoc(b)
	if err != nil {
		return nil, err
	}
	ps := &Permissions{entries: map[string]*entry{}}
	if root == nil {
		return ps, nil
	}
	top, err := pairs(root, "permissions file")
	if err != nil {
		return nil, err
	}
	for _, p := range top {
		if err := validPrincipalKey(p.key); err != nil {
			return nil, lineErr(p.k, "%v", err)
		}
		e, err := parseEntry(p)
		if err != nil {
			return nil, err
		}
		ps.entries[p.key] = e
	}
	return ps, nil
}

func validPrincipalKey(s string) error {
	if s == "" || len(s) > 255 {
		return fmt.Errorf("principal names must be 1 to 255 characters")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("principal names must not contain control characters")
		}
	}
	if strings.HasPrefix(s, groupPrefix) {
		if err := validGroupName(strings.TrimPrefix(s, groupPrefix)); err != nil {
			return fmt.Errorf("%q: %v", s, err)
		}
	}
	return nil
}

func parseEntry(p pair) (*entry, error) {
	e := &entry{allow: map[Action]*grant{}, deny: map[Action]*grant{}}
	fields, err := pairs(p.v, fmt.Sprintf("principal %q", p.key))
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		what := fmt.Sprintf("principal %q: %s", p.key, f.key)
		switch f.key {
		case "deny":
			ds, err := pairs(f.v, what)
			if err != nil {
				return nil, err
			}
			for _, d := range ds {
				g, err := parseGrant(d, what+"."+d.key)
				if err != nil {
					return nil, err
				}
				e.deny[Action(d.key)] = g
			}
		case "cidrs", "allow_from":
			list, err := stringList(f.v, what)
			if err != nil {
				return nil, err
			}
			e.cidrs = []netip.Prefix{}
			for _, s := range list {
				pf, err := parseCIDR(s)
				if err != nil {
					return nil, lineErr(f.v, "%s: %v", what, err)
				}
				e.cidrs = append(e.cidrs, pf)
			}
		default:
			g, err := parseGrant(f, what)
			if err != nil {
				return nil, err
			}
			e.allow[Action(f.key)] = g
		}
	}
	return e, nil
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

// parseGrant reads one action's value: true/false/all/none, a pattern or a
// list of patterns (cluster-wide actions take only true/false).
func parseGrant(f pair, what string) (*grant, error) {
	scope, ok := Action(f.key).Scope()
	if !ok {
		return nil, lineErr(f.k, "%s: unknown action (known: %s, and deny, cidrs)", what, strings.Join(actionNames(), ", "))
	}
	if b, ok := boolValue(f.v); ok {
		if !b {
			return &grant{}, nil
		}
		return &grant{all: true}, nil
	}
	if isNull(f.v) {
		return &grant{}, nil
	}
	if scope == ScopeCluster {
		return nil, lineErr(f.v, "%s is a cluster-wide action: its value is true or false", what)
	}
	list, err := stringList(f.v, what)
	if err != nil {
		return nil, err
	}
	g := &grant{}
	for _, s := range list {
		if s == "*" {
			g.all = true
			continue
		}
		pt, err := parsePattern(s)
		if err != nil {
			return nil, lineErr(f.v, "%s: %v", what, err)
		}
		g.patterns = append(g.patterns, pt)
	}
	return g, nil
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
	if p == nil {
		return nil
	}
	var out []*entry
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
