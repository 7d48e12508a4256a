package auth

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestValidPrincipalName(t *testing.T) {
	for _, ok := range []string{"customer1", "device-17", "alice@example.com", "John Smith", "spiffe://trust/ns/a", "Zoë", "a_b", "CN=x,O=y"} {
		if err := ValidPrincipalName(ok); err != nil {
			t.Errorf("ValidPrincipalName(%q) = %v", ok, err)
		}
	}
	for name, want := range map[string]error{
		"":                         ErrNameLength,
		strings.Repeat("a", 256):   ErrNameLength,
		"*":                        ErrNameReserved,
		"anonymous":                ErrNameReserved,
		"Anonymous":                ErrNameReserved,
		"ANONYMOUS":                ErrNameReserved,
		"group:ops":                ErrNameReserved,
		"Group:ops":                ErrNameReserved,
		"group:":                   ErrNameReserved,
		"(unknown)":                ErrNameReserved,
		"_schemas":                 ErrNameInternal,
		"__consumer_offsets":       ErrNameInternal,
		"_":                        ErrNameInternal,
		"{user}":                   ErrNameTemplate,
		"a{user}":                  ErrNameTemplate,
		"a}":                       ErrNameTemplate,
		"cust*":                    ErrNameTemplate,
		"a*b":                      ErrNameTemplate,
		" ops":                     ErrNameSpace,
		"ops ":                     ErrNameSpace,
		"ops\x00":                  ErrNameCharacters,
		"ops\n":                    ErrNameCharacters,
		"ops\x7f":                  ErrNameCharacters,
		"ops\u202e":                ErrNameCharacters, // right-to-left override
		"o\u200bps":                ErrNameCharacters, // zero-width space
		"ops\u00a0":                ErrNameCharacters, // no-break space
		"\xffops":                  ErrNameCharacters,
		"ops\u2028":                ErrNameCharacters,
		"a\tb":                     ErrNameCharacters,
		"customer1\u0085":          ErrNameCharacters,
		"ok-but-\U0001F600-emoji¿": nil,
	} {
		if err := ValidPrincipalName(name); !errors.Is(err, want) || (want != nil && !errors.Is(err, errNameRule)) {
			t.Errorf("ValidPrincipalName(%q) = %v, want %v", name, err, want)
		}
	}
}

// FuzzValidPrincipalName: whatever a certificate says, an accepted name is
// never one of the permissions file's special forms and stays itself
// when a {user} template expands to it.
func FuzzValidPrincipalName(f *testing.F) {
	for _, s := range []string{"customer1", "*", "group:ops", "_schemas", "{user}", " a", "Anonymous", "a\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidPrincipalName(name) != nil {
			return
		}
		if validPrincipalKey(name) != nil {
			t.Fatalf("%q is a valid principal but not a valid permissions key", name)
		}
		if name == everyone || strings.EqualFold(name, Anonymous) || strings.HasPrefix(strings.ToLower(name), groupPrefix) ||
			InternalName(name) || strings.ContainsAny(name, "*{}") || strings.TrimSpace(name) != name {
			t.Fatalf("accepted %q", name)
		}
		pt, err := parsePattern("{user}")
		if err != nil {
			t.Fatal(err)
		}
		if pt.match("*", name) || !pt.match(name, name) && validResource(ScopeGroup, name) {
			t.Fatalf("{user} for %q matches wrongly", name)
		}
	})
}

func TestUserNamesFollowPrincipalRules(t *testing.T) {
	for _, name := range []string{"_schemas", "__x", "Anonymous", "ANONYMOUS"} {
		_, err := ParseUsers([]byte(name + ": {}\n"))
		if err == nil {
			t.Errorf("user %q accepted", name)
		}
	}
	for _, key := range []string{"_schemas", "Anonymous", "GROUP:x", "{user}", "a*"} {
		if _, err := ParsePermissions([]byte("\"" + key + "\":\n  fetch: all\n")); err == nil {
			t.Errorf("permissions key %q accepted", key)
		}
	}
	// The special entries stay.
	if _, err := ParsePermissions([]byte("\"*\": {fetch: all}\nanonymous: {fetch: all}\ngroup:g: {fetch: all}\n")); err != nil {
		t.Error(err)
	}
}

func TestInternalNamesNeedExactGrants(t *testing.T) {
	perms, err := ParsePermissions([]byte(`
"*":
  produce: ["{user}"]
  consume: ["{user}-*"]
exact:
  fetch: [_schemas, __consumer_offsets]
  consume: [_confluent-controlcenter]
all:
  fetch: all
  consume: all
  produce: ["*"]
denied:
  fetch: [_schemas]
  deny:
    fetch: all
denied2:
  fetch: [_schemas]
  deny:
    fetch: ["_*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	pol := NewPolicy(nil, perms, []string{"_kgate_audit"})
	p := func(name string) *Principal {
		return &Principal{Name: name, Method: MethodBasic, ClientIP: netip.MustParseAddr("127.0.0.1")}
	}
	for _, tt := range []struct {
		who      string
		action   Action
		resource string
		want     bool
	}{
		{"exact", Fetch, "_schemas", true},
		{"exact", Fetch, "__consumer_offsets", true},
		{"exact", Fetch, "_schemas2", false},
		{"exact", Consume, "_confluent-controlcenter", true},
		{"exact", Consume, "_confluent-controlcenter-2", false},
		{"all", Fetch, "_schemas", false},
		{"all", Produce, "_schemas", false},
		{"all", Consume, "_confluent-controlcenter", false},
		{"all", Fetch, "logs", true},
		{"denied", Fetch, "_schemas", false},  // deny "all" reaches internal names
		{"denied2", Fetch, "_schemas", false}, // and so do deny prefixes
		{"all", Fetch, "_kgate_audit", false},
	} {
		if got := pol.Decide(p(tt.who), tt.action, tt.resource); got.Allowed != tt.want {
			t.Errorf("%s %s %s = %v (%s), want %v", tt.who, tt.action, tt.resource, got.Allowed, got.Reason, tt.want)
		}
	}
	// Allow grants that would reach internal names by prefix or template
	// are refused at load; deny entries may name them any way.
	for _, g := range []string{`["_*"]`, `["_kgate_*"]`, `["_{user}"]`, `["_{user}-*"]`} {
		_, err := ParsePermissions([]byte("u:\n  fetch: " + g + "\n"))
		if err == nil || !strings.Contains(err.Error(), "internal") {
			t.Errorf("fetch: %s: %v", g, err)
		}
	}
	if _, err := ParsePermissions([]byte("u:\n  fetch: [_schemas]\n  deny:\n    fetch: [\"_*\", \"_{user}\"]\n")); err != nil {
		t.Errorf("deny of internal prefixes: %v", err)
	}
}

func overlapPolicy(t *testing.T, users, perms string) *Policy {
	t.Helper()
	u, err := ParseUsers([]byte(users))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePermissions([]byte(perms))
	if err != nil {
		t.Fatal(err)
	}
	return NewPolicy(u, p, nil)
}

func TestTemplateOverlaps(t *testing.T) {
	const docs = "\"*\":\n  produce: [\"{user}\"]\n  consume: [\"{user}-*\"]\n"
	for _, tt := range []struct {
		name, users, perms string
		want               []string // in the error; none: valid
	}{
		{"distinct", "customer1: {}\ncustomer2: {}\ncustomer10: {}\n", docs, nil},
		{"dash covers", "customer1: {}\ncustomer1-evil: {}\n", docs, []string{`"customer1"`, `"customer1-evil"`, `"{user}-*"`, "group"}},
		{"covered by many", "a: {}\nb: {}\na-x: {}\na-y: {}\nb-z: {}\n", docs, []string{`"a"`, `"a-x"`}},
		{"no separator", "customer1: {}\ncustomer10: {}\n", "\"*\":\n  fetch: [\"{user}*\"]\n", []string{`"customer1"`, `"customer10"`}},
		{"exact only", "customer1: {}\ncustomer1-evil: {}\n", "\"*\":\n  produce: [\"{user}\"]\n  fetch: [\"{user}\"]\n", nil},
		{"dot separator", "customer1: {}\ncustomer1-evil: {}\n", "\"*\":\n  consume: [\"{user}.*\"]\n", nil},
		{"dot separator, dotted name", "customer1: {}\ncustomer1.evil: {}\n", "\"*\":\n  consume: [\"{user}.*\"]\n", []string{`"customer1"`, `"customer1.evil"`}},
		// Two templates of different shapes naming the same topic.
		{"cross templates", "a: {}\na-in: {}\n", "\"*\":\n  produce: [\"{user}\", \"{user}-in\"]\n", []string{`"a"`, `"a-in"`, "both name topic"}},
		// Another pattern's prefix: x's "x-" covers everybody's "x-{user}".
		{"prefix of a literal-led template", "x: {}\nalice: {}\n", "\"*\":\n  fetch: [\"{user}-*\", \"x-{user}\"]\n", []string{`"x"`, `"alice"`}},
		// A group's literal prefix reached by a user's template.
		{"literal of a group", "logs: {}\nreader: {groups: [readers]}\n", "\"*\":\n  fetch: [\"{user}-*\"]\ngroup:readers:\n  fetch: [\"logs-*\"]\n", []string{`"logs"`, `"entry group:readers"`, `"logs-*"`}},
		// ... but not a literal of the user's own entry or of everyone's.
		{"own literal", "partner: {}\n", "\"*\":\n  produce: [\"{user}-*\"]\npartner:\n  produce: [partner-in]\n", nil},
		{"everyone's literal", "shared: {}\n", "\"*\":\n  fetch: [\"{user}-*\", \"shared-x\"]\n", nil},
		// Topics and groups are separate namespaces.
		{"scopes apart", "a: {}\na-b: {}\n", "\"*\":\n  fetch: [\"{user}\"]\n  consume: [\"{user}-b\"]\n", nil},
		// Entries that apply to one principal expand for it only.
		// (a-b has no groups of its own here: a reaching a-b-x takes
		// nothing from a-b.)
		{"named entry", "a: {}\na-b: {}\n", "a:\n  consume: [\"{user}-*\"]\n", nil},
		{"named entries", "a: {}\na-b: {}\n", "a:\n  consume: [\"{user}-*\"]\na-b:\n  consume: [\"{user}\"]\n", []string{`"a"`, `"a-b"`}},
		{"group entry", "a: {groups: [g]}\na-b: {}\n", "group:g:\n  consume: [\"{user}-*\"]\n\"*\":\n  consume: [\"{user}\"]\n", []string{`"a"`, `"a-b"`}},
		// Deny entries and "all" are not templates of anyone's names.
		{"deny", "a: {}\na-b: {}\n", "\"*\":\n  fetch: [\"{user}\"]\n  deny:\n    consume: [\"{user}-*\"]\n", nil},
		// anonymous' grants are everyone's floor.
		{"anonymous floor", "a: {}\na-b: {}\n", "anonymous:\n  consume: [\"{user}-*\"]\n", []string{`"a"`, `"a-b"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := overlapPolicy(t, tt.users, tt.perms).Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %s", err, w)
				}
			}
		})
	}
}

// TestCheckNameOverlaps: a certificate principal in neither file is held
// to the same rule as the users of the files.
func TestCheckNameOverlaps(t *testing.T) {
	pol := overlapPolicy(t, "customer1: {}\nlogs: {}\n", "\"*\":\n  produce: [\"{user}\"]\n  consume: [\"{user}-*\"]\ngroup:readers:\n  consume: [\"readers-x-*\"]\n")
	for name, ok := range map[string]bool{
		"device-17":      true,
		"customer1":      true, // a user of the file: checked at load
		"customer10":     true,
		"customer1-evil": false, // inside customer1's groups
		"customer1-":     false,
		"customer":       true,  // "customer-" covers nobody's names
		"readers":        false, // "readers-" covers group:readers' "readers-x-*"
		"logs-x":         false,
		"_schemas":       false,
		"*":              false,
	} {
		if err := pol.CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", name, err, ok)
		}
	}
	// A user whose prefix covers a name that a certificate principal's
	// exact template would give: "customer1-x" is inside customer1-*.
	pol = overlapPolicy(t, "customer1: {}\n", "\"*\":\n  consume: [\"{user}-*\", \"{user}\"]\n")
	if err := pol.CheckName("customer1-x"); err == nil {
		t.Error("customer1-x accepted")
	}
}

// BenchmarkValidateOverlaps: the load-time check for 100,000 users.
func BenchmarkValidateOverlaps(b *testing.B) {
	var users strings.Builder
	for i := range 100000 {
		users.WriteString("customer")
		users.WriteString(strings.Repeat("x", i%7))
		users.WriteString(string(rune('a' + i%26)))
		users.WriteString(strings.TrimLeft(strings.Repeat("0", 6)+itoa(i), "0"))
		users.WriteString(": {}\n")
	}
	u, err := ParseUsers([]byte(users.String()))
	if err != nil {
		b.Fatal(err)
	}
	p, err := ParsePermissions([]byte("\"*\":\n  produce: [\"{user}\"]\n  fetch: [\"{user}\"]\n  consume: [\"{user}-*\"]\n  create_topic: [\"{user}-*\"]\n"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := NewPolicy(u, p, nil).Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
