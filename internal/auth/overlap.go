package auth

import (
	"fmt"
	"sort"
	"strings"
)

// Templates are safe by construction: a grant such as consume:
// ["{user}-*"] gives each user its own prefix, and a users file where one
// user's prefix covers another user's names (customer1 and customer1-evil
// with "{user}-*") is refused when it is loaded or reloaded, naming both
// users and the pattern. A client certificate whose name would overlap a
// user that way authenticates nobody (Policy.CheckName).
//
// The check sorts every name a template grant gives each principal (its
// claims, per scope: topics and groups are separate namespaces) and walks
// them in order, keeping the template prefixes that cover the current
// name: O(n log n) in the number of claims. A template prefix of one
// principal must not cover a claim of another principal, nor a literal
// grant of an entry that does not apply to it (user "logs" with
// "{user}-*" would reach group:readers' "logs-*"). Literal grants
// covering other names, and "all", say what they mean and are not
// checked; deny entries only take rights away.

// claim is a name, or a prefix of names, that one grant gives.
type claim struct {
	text   string
	prefix bool
	// owner is the principal a template was expanded for; "" for a
	// literal pattern, which applies to whomever its entry applies.
	owner   string
	entry   string
	action  Action
	pattern string // as written
}

func (c *claim) describe() string {
	return fmt.Sprintf("%q (%s of entry %q)", c.pattern, c.action, c.entry)
}

// claimIndex holds one scope's claims for the overlap checks.
type claimIndex struct {
	sorted []*claim
	// prefixes and exact index the template claims by their text.
	prefixes map[string]*claim
	exact    map[string]*claim
	// stranger are the templates that apply to a principal in neither
	// file ("*" and anonymous' entries), for CheckName.
	stranger []*claim
}

var claimScopes = []Scope{ScopeTopic, ScopeGroup}

// buildClaims expands every template of the allow grants for each
// principal its entry applies to.
func (p *Policy) buildClaims() {
	members := map[string][]string{}
	all := p.users.Names()
	for _, n := range all {
		for _, g := range p.users.Lookup(n).Groups {
			members[g] = append(members[g], n)
		}
	}
	keys := p.perms.Principals()
	for i, scope := range claimScopes {
		ix := &claimIndex{prefixes: map[string]*claim{}, exact: map[string]*claim{}}
		for _, key := range keys {
			var owners []string
			switch {
			case key == everyone:
				owners = all
			case key == Anonymous:
				owners = append(append([]string(nil), all...), Anonymous)
			case strings.HasPrefix(key, groupPrefix):
				owners = members[strings.TrimPrefix(key, groupPrefix)]
			default:
				owners = []string{key}
			}
			e := p.perms.entries[key]
			for _, action := range sortedActions(e.allow) {
				if s, _ := action.Scope(); s != scope {
					continue
				}
				for _, pt := range e.allow[action].patterns {
					pattern := pt.text
					if pt.prefix {
						pattern += "*"
					}
					if !pt.hasUser {
						ix.sorted = append(ix.sorted, &claim{text: pt.text, prefix: pt.prefix, entry: key, action: action, pattern: pattern})
						continue
					}
					for _, o := range owners {
						ix.sorted = append(ix.sorted, &claim{text: strings.ReplaceAll(pt.text, "{user}", o), prefix: pt.prefix,
							owner: o, entry: key, action: action, pattern: pattern})
					}
					if key == everyone || key == Anonymous {
						ix.stranger = append(ix.stranger, &claim{text: pt.text, prefix: pt.prefix, entry: key, action: action, pattern: pattern})
					}
				}
			}
		}
		// By text; at equal text a prefix first, so that it covers the
		// exact names after it.
		sort.SliceStable(ix.sorted, func(a, b int) bool {
			ca, cb := ix.sorted[a], ix.sorted[b]
			if ca.text != cb.text {
				return ca.text < cb.text
			}
			return ca.prefix && !cb.prefix
		})
		for _, c := range ix.sorted {
			if c.owner == "" {
				continue
			}
			m := ix.exact
			if c.prefix {
				m = ix.prefixes
			}
			if _, ok := m[c.text]; !ok {
				m[c.text] = c
			}
		}
		p.claims[i] = ix
	}
}

func sortedActions(m map[Action]*grant) []Action {
	out := make([]Action, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// appliesTo reports whether a literal claim's entry applies to principal.
func (p *Policy) appliesTo(c *claim, principal string) bool {
	switch {
	case c.entry == everyone || c.entry == Anonymous || c.entry == principal:
		return true
	case strings.HasPrefix(c.entry, groupPrefix):
		if u := p.users.Lookup(principal); u != nil {
			for _, g := range u.Groups {
				if groupPrefix+g == c.entry {
					return true
				}
			}
		}
	}
	return false
}

// covers reports whether the template prefix claim by (of by.owner)
// reaches c when c belongs to someone else.
func (p *Policy) covers(by, c *claim) bool {
	if c.owner != "" {
		return c.owner != by.owner
	}
	return !p.appliesTo(c, by.owner)
}

// overlapError says who overlaps whom, and how.
func overlapError(scope Scope, by, c *claim) error {
	whose := "the literal grant " + c.describe()
	if c.owner != "" {
		whose = fmt.Sprintf("%q's %s", c.owner, c.describe())
	}
	other := c.owner
	if other == "" {
		other = "entry " + c.entry
	}
	return fmt.Errorf("principals %q and %q overlap: %s gives %q every %s starting with %q, which covers %s; "+
		"rename one of them, or use a separator that user names cannot contain (see docs/security.md)",
		by.owner, other, by.describe(), by.owner, scope, by.text, whose)
}

// Validate refuses a policy where one principal's template prefix
// covers another principal's names, or two principals' templates name
// the same resource. The users and permissions files are loaded and
// reloaded only if it passes.
func (p *Policy) Validate() error {
	for i, scope := range claimScopes {
		ix := p.claims[i]
		var stack []*claim // template prefixes covering the current claim
		exact := map[string]*claim{}
		for _, c := range ix.sorted {
			for len(stack) > 0 && !strings.HasPrefix(c.text, stack[len(stack)-1].text) {
				stack = stack[:len(stack)-1]
			}
			for _, by := range stack {
				if p.covers(by, c) {
					return overlapError(scope, by, c)
				}
			}
			if c.owner == "" {
				continue
			}
			if c.prefix {
				stack = append(stack, c)
				continue
			}
			if o := exact[c.text]; o != nil && o.owner != c.owner {
				return fmt.Errorf("principals %q and %q overlap: %s for %q and %s for %q both name %s %q; rename one of them",
					o.owner, c.owner, o.describe(), o.owner, c.describe(), c.owner, scope, c.text)
			}
			exact[c.text] = c
		}
	}
	return nil
}

// CheckName returns nil if name may authenticate as a principal: a valid
// principal name (ValidPrincipalName) that, when it is in neither the
// users file nor the permissions file (a client certificate's), overlaps
// no other principal through the templates of "*" and anonymous (as
// Validate checks the principals of the files).
func (p *Policy) CheckName(name string) error {
	if err := ValidPrincipalName(name); err != nil {
		return err
	}
	if p.users.Lookup(name) != nil || p.perms.entries[name] != nil {
		return nil // checked when the files were loaded
	}
	for i, scope := range claimScopes {
		ix := p.claims[i]
		for _, tmpl := range ix.stranger {
			c := &claim{text: strings.ReplaceAll(tmpl.text, "{user}", name), prefix: tmpl.prefix, owner: name,
				entry: tmpl.entry, action: tmpl.action, pattern: tmpl.pattern}
			// Another principal's prefix covers this name.
			for n := 0; n <= len(c.text); n++ {
				if by := ix.prefixes[c.text[:n]]; by != nil && by.owner != name {
					return overlapError(scope, by, c)
				}
			}
			if !c.prefix {
				if o := ix.exact[c.text]; o != nil && o.owner != name {
					return fmt.Errorf("principals %q and %q overlap: both name %s %q", o.owner, name, scope, c.text)
				}
				continue
			}
			// This name's prefix covers another principal's names.
			j := sort.Search(len(ix.sorted), func(k int) bool { return ix.sorted[k].text >= c.text })
			for ; j < len(ix.sorted) && strings.HasPrefix(ix.sorted[j].text, c.text); j++ {
				if o := ix.sorted[j]; p.covers(c, o) {
					return overlapError(scope, c, o)
				}
			}
		}
	}
	return nil
}
