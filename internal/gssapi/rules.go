package gssapi

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Principal is a Kerberos principal name: its components (alice;
// kafka, localhost) and its realm.
type Principal struct {
	Components []string
	Realm      string
}

// String formats p as Kerberos does: components joined by "/", then
// "@" and the realm (alice@KGATE.TEST, kafka/localhost@KGATE.TEST).
func (p Principal) String() string {
	s := strings.Join(p.Components, "/")
	if p.Realm != "" {
		s += "@" + p.Realm
	}
	return s
}

// ParsePrincipal parses name/instance@REALM. Every component and the
// realm must be non-empty; backslash escapes are not supported (no
// kgate principal needs a "/" or "@" inside a component).
func ParsePrincipal(s string) (Principal, error) {
	name, realm, ok := strings.Cut(s, "@")
	if !ok || realm == "" {
		return Principal{}, fmt.Errorf("principal %q has no realm (want name/host@REALM)", s)
	}
	if strings.ContainsAny(realm, "@/\\") || strings.Contains(name, "\\") {
		return Principal{}, fmt.Errorf("principal %q is malformed (want name/host@REALM, no escapes)", s)
	}
	comps := strings.Split(name, "/")
	for _, c := range comps {
		if c == "" {
			return Principal{}, fmt.Errorf("principal %q has an empty component", s)
		}
	}
	return Principal{Components: comps, Realm: realm}, nil
}

// Mapper maps Kerberos principals to kgate user names by the rules of
// Kafka's sasl.kerberos.principal.to.local.rules (Kafka's
// KerberosShortNamer), tried in order; the first that applies gives the
// name:
//
//   - DEFAULT: a principal of the default realm maps to its first
//     component (alice@KGATE.TEST and alice/admin@KGATE.TEST to alice);
//     it does not apply to other realms.
//   - RULE:[n:format](match)s/from/to/g/L: applies to principals with n
//     components. format builds a string from $0 (the realm) and $1..$n
//     (the components); when the optional (match) regular expression
//     matches all of it, the optional sed-style substitution (first
//     match, or every one with g; $1 in to is a group) makes the name,
//     /L lowercases it and /U uppercases it. A rule that applies but
//     makes a name holding "/" or "@" refuses the principal.
//
// Regular expressions are Go's (RE2) rather than Java's: lookaround and
// backreferences are rejected when the rules are parsed. A Mapper is
// immutable and safe for concurrent use.
type Mapper struct {
	realm string
	rules []rule
}

type rule struct {
	text  string
	isDef bool
	n     int
	// format alternates literal text and parameter indexes.
	format []formatPart
	match  *regexp.Regexp // anchored, nil: any
	from   *regexp.Regexp // nil: no substitution
	to     []replPart
	global bool
	lower  bool
	upper  bool
}

type formatPart struct {
	lit   string
	param int // -1: lit
}

// replPart is literal text or a group reference in a substitution's
// replacement, as Java's Matcher.replaceAll reads it.
type replPart struct {
	lit   string
	group int // -1: lit
}

// ErrNoRule is returned by Map when no rule applies.
var ErrNoRule = errors.New("no principal-to-local rule applies")

// The shape of one rule, after Kafka's: DEFAULT, or RULE:[n:format]
// with an optional (match), an optional s/from/to/ with g, then an
// optional /L or /U.
var ruleParser = regexp.MustCompile(`^(?:(DEFAULT)|RULE:\[(\d+):([^\]]*)\](?:\(([^)]*)\))?(?:s/([^/]*)/([^/]*)/(g)?)?)/?(L|U)?$`)

// NewMapper parses rules (Kafka's syntax, one rule per item) for the
// default realm. No rules means DEFAULT alone. Every invalid rule is
// reported, each with its index.
func NewMapper(defaultRealm string, rules []string) (*Mapper, error) {
	if len(rules) == 0 {
		rules = []string{"DEFAULT"}
	}
	m := &Mapper{realm: defaultRealm}
	var errs []error
	for i, text := range rules {
		r, err := parseRule(strings.TrimSpace(text))
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %d %q: %w", i, text, err))
			continue
		}
		m.rules = append(m.rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

func parseRule(text string) (rule, error) {
	g := ruleParser.FindStringSubmatchIndex(text)
	if g == nil {
		return rule{}, errors.New("not DEFAULT or RULE:[n:format](match)s/from/to/g with an optional /L or /U")
	}
	part := func(i int) (string, bool) {
		if g[2*i] < 0 {
			return "", false
		}
		return text[g[2*i]:g[2*i+1]], true
	}
	r := rule{text: text}
	case_, _ := part(8)
	r.lower, r.upper = case_ == "L", case_ == "U"
	if _, ok := part(1); ok {
		if r.lower || r.upper {
			return rule{}, errors.New("DEFAULT takes no /L or /U (Kafka ignores it)")
		}
		r.isDef = true
		return r, nil
	}
	ns, _ := part(2)
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 || n > 16 {
		return rule{}, fmt.Errorf("component count %q must be between 1 and 16", ns)
	}
	r.n = n
	format, _ := part(3)
	if r.format, err = parseFormat(format, n); err != nil {
		return rule{}, err
	}
	if match, ok := part(4); ok {
		if r.match, err = regexp.Compile(`^(?:` + match + `)$`); err != nil {
			return rule{}, fmt.Errorf("match %q: %w", match, err)
		}
	}
	if from, ok := part(5); ok {
		if r.from, err = regexp.Compile(from); err != nil {
			return rule{}, fmt.Errorf("substitution pattern %q: %w", from, err)
		}
		to, _ := part(6)
		if r.to, err = parseReplacement(to, r.from); err != nil {
			return rule{}, fmt.Errorf("substitution replacement %q: %w", to, err)
		}
		_, r.global = part(7)
	}
	return r, nil
}

// parseFormat reads a rule's format: literal text and $0 (the realm)
// to $n (the components).
func parseFormat(format string, n int) ([]formatPart, error) {
	var parts []formatPart
	for len(format) > 0 {
		i := strings.IndexByte(format, '$')
		if i < 0 {
			parts = append(parts, formatPart{lit: format, param: -1})
			break
		}
		if i > 0 {
			parts = append(parts, formatPart{lit: format[:i], param: -1})
		}
		format = format[i+1:]
		j := 0
		for j < len(format) && format[j] >= '0' && format[j] <= '9' {
			j++
		}
		if j == 0 {
			return nil, errors.New("format has a $ without a number")
		}
		p, err := strconv.Atoi(format[:j])
		if err != nil || p > n {
			return nil, fmt.Errorf("format parameter $%s is outside $0 to $%d", format[:j], n)
		}
		parts = append(parts, formatPart{param: p})
		format = format[j:]
	}
	return parts, nil
}

// parseReplacement reads a replacement as Java's Matcher does: a
// backslash quotes the next character, $ and a group number refers to
// a group (the longest number that names one: $12 is group 1 and "2"
// when there are fewer than 12 groups), ${name} to a named group.
func parseReplacement(to string, re *regexp.Regexp) ([]replPart, error) {
	var parts []replPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, replPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	groups := re.NumSubexp()
	for i := 0; i < len(to); i++ {
		switch c := to[i]; c {
		case '\\':
			i++
			if i == len(to) {
				return nil, errors.New("ends in a lone backslash")
			}
			lit.WriteByte(to[i])
		case '$':
			i++
			if i == len(to) {
				return nil, errors.New("ends in a lone $")
			}
			if to[i] == '{' {
				end := strings.IndexByte(to[i:], '}')
				if end < 0 {
					return nil, errors.New("${ without }")
				}
				name := to[i+1 : i+end]
				g := re.SubexpIndex(name)
				if g < 0 {
					return nil, fmt.Errorf("no group named %q", name)
				}
				flush()
				parts = append(parts, replPart{group: g})
				i += end
				continue
			}
			if to[i] < '0' || to[i] > '9' {
				return nil, fmt.Errorf("$ must be followed by a group number or {name}")
			}
			g := int(to[i] - '0')
			if g > groups {
				return nil, fmt.Errorf("no group %d", g)
			}
			for i+1 < len(to) && to[i+1] >= '0' && to[i+1] <= '9' {
				next := g*10 + int(to[i+1]-'0')
				if next > groups {
					break
				}
				g = next
				i++
			}
			flush()
			parts = append(parts, replPart{group: g})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return parts, nil
}

// Map returns the kgate user name of p. It fails with ErrNoRule (wrapped)
// when no rule applies, and with another error when a rule applies but
// makes a name that is empty or holds "/" or "@".
func (m *Mapper) Map(p Principal) (string, error) {
	if len(p.Components) == 0 {
		return "", fmt.Errorf("%w to a principal without a name", ErrNoRule)
	}
	for _, r := range m.rules {
		name, ok := r.apply(m.realm, p)
		if !ok {
			continue
		}
		if name == "" || strings.ContainsAny(name, "/@") {
			return "", fmt.Errorf("rule %q maps %s to %q, which is not a simple name", r.text, p, name)
		}
		return name, nil
	}
	return "", fmt.Errorf("%w to %s", ErrNoRule, p)
}

// DefaultRealm returns the realm DEFAULT applies to.
func (m *Mapper) DefaultRealm() string { return m.realm }

func (r rule) apply(defaultRealm string, p Principal) (string, bool) {
	if r.isDef {
		if p.Realm != defaultRealm {
			return "", false
		}
		return p.Components[0], true
	}
	if len(p.Components) != r.n {
		return "", false
	}
	var b strings.Builder
	for _, f := range r.format {
		switch {
		case f.param < 0:
			b.WriteString(f.lit)
		case f.param == 0:
			b.WriteString(p.Realm)
		default:
			b.WriteString(p.Components[f.param-1])
		}
	}
	base := b.String()
	if r.match != nil && !r.match.MatchString(base) {
		return "", false
	}
	name := base
	if r.from != nil {
		name = r.substitute(base)
	}
	switch {
	case r.lower:
		name = strings.ToLower(name)
	case r.upper:
		name = strings.ToUpper(name)
	}
	return name, true
}

func (r rule) substitute(base string) string {
	limit := 1
	if r.global {
		limit = -1
	}
	matches := r.from.FindAllStringSubmatchIndex(base, limit)
	var b strings.Builder
	last := 0
	for _, m := range matches {
		b.WriteString(base[last:m[0]])
		for _, p := range r.to {
			if p.group < 0 {
				b.WriteString(p.lit)
			} else if m[2*p.group] >= 0 {
				b.WriteString(base[m[2*p.group]:m[2*p.group+1]])
			}
		}
		last = m[1]
	}
	b.WriteString(base[last:])
	return b.String()
}
