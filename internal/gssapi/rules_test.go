package gssapi

import (
	"errors"
	"strings"
	"testing"
)

// The cases of Kafka's documentation (sasl.kerberos.principal.to.local.rules
// in docs/security.html) and of its KerberosNameTest, with the names they
// say each rule set gives.
func TestMapperKafkaExamples(t *testing.T) {
	type want struct{ principal, user string }
	for _, tc := range []struct {
		name  string
		realm string
		rules []string
		cases []want
	}{{
		name:  "default strips the default realm",
		realm: "KGATE.TEST",
		cases: []want{
			{"alice@KGATE.TEST", "alice"},
			{"alice/admin@KGATE.TEST", "alice"},
			{"kafka/localhost@KGATE.TEST", "kafka"},
			{"alice@OTHER.TEST", ""},
		},
	}, {
		name:  "docs: user@MYDOMAIN.COM to user",
		realm: "KGATE.TEST",
		rules: []string{`RULE:[1:$1@$0](.*@MYDOMAIN.COM)s/@.*//`, "DEFAULT"},
		cases: []want{
			{"user@MYDOMAIN.COM", "user"},
			{"User@MYDOMAIN.COM", "User"},
			{"alice@KGATE.TEST", "alice"},
			{"user/host@MYDOMAIN.COM", ""},
		},
	}, {
		name:  "docs: lowercase",
		realm: "KGATE.TEST",
		rules: []string{`RULE:[1:$1@$0](.*@MYDOMAIN.COM)s/@.*//L`},
		cases: []want{{"User@MYDOMAIN.COM", "user"}, {"alice@KGATE.TEST", ""}},
	}, {
		name:  "docs: uppercase",
		realm: "KGATE.TEST",
		rules: []string{`RULE:[1:$1@$0](.*@MYDOMAIN.COM)s/@.*//U`},
		cases: []want{{"User@MYDOMAIN.COM", "USER"}},
	}, {
		name:  "KerberosNameTest: App. prefixes",
		realm: "REALM.COM",
		rules: []string{`RULE:[1:$1](App\..*)s/App\.(.*)/$1/g`, `RULE:[2:$1](App\..*)s/App\.(.*)/$1/g`, "DEFAULT"},
		cases: []want{
			{"App.service-name/example.com@REALM.COM", "service-name"},
			{"App.service-name@REALM.COM", "service-name"},
			{"user/host@REALM.COM", "user"},
		},
	}, {
		name:  "KerberosNameTest: to lower case",
		realm: "REALM.COM",
		rules: []string{
			`RULE:[1:$1]/L`,
			`RULE:[2:$1](Test.*)s/ABC///L`,
			`RULE:[2:$1](ABC.*)s/ABC/XYZ/g/L`,
			`RULE:[2:$1](App\..*)s/App\.(.*)/$1/g/L`,
			`RULE:[2:$1]/L`,
			"DEFAULT",
		},
		cases: []want{
			{"User@REALM.COM", "user"},
			{"TestABC/host@FOO.COM", "test"},
			{"ABC_User_ABC/host@FOO.COM", "xyz_user_xyz"},
			{"App.SERVICE-name/example.com@REALM.COM", "service-name"},
			{"User/root@REALM.COM", "user"},
		},
	}, {
		name:  "KerberosNameTest: to upper case",
		realm: "REALM.COM",
		rules: []string{
			`RULE:[1:$1]/U`,
			`RULE:[2:$1](Test.*)s/ABC///U`,
			`RULE:[2:$1](ABC.*)s/ABC/XYZ/g/U`,
			`RULE:[2:$1](App\..*)s/App\.(.*)/$1/g/U`,
			`RULE:[2:$1]/U`,
			"DEFAULT",
		},
		cases: []want{
			{"User@REALM.COM", "USER"},
			{"TestABC/host@FOO.COM", "TEST"},
			{"ABC_User_ABC/host@FOO.COM", "XYZ_USER_XYZ"},
			{"App.SERVICE-name/example.com@REALM.COM", "SERVICE-NAME"},
			{"User/root@REALM.COM", "USER"},
		},
	}, {
		name:  "first substitution only without g",
		realm: "R",
		rules: []string{`RULE:[1:$1](.*)s/a/b/`},
		cases: []want{{"banana@R", "bbnana"}},
	}, {
		name:  "Java replacement: quoted $ and multi-digit group reference",
		realm: "R",
		rules: []string{`RULE:[1:$1]s/(x)(y)/\$$12/`},
		cases: []want{{"xy@R", "$x2"}},
	}, {
		name:  "foreign realm mapped by an explicit rule",
		realm: "KGATE.TEST",
		rules: []string{`RULE:[1:$1@$0](.*@PARTNER\.TEST)s/@.*/-partner/`, "DEFAULT"},
		cases: []want{{"bob@PARTNER.TEST", "bob-partner"}, {"bob@OTHER.TEST", ""}, {"bob@KGATE.TEST", "bob"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMapper(tc.realm, tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.cases {
				p, err := ParsePrincipal(c.principal)
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.Map(p)
				if c.user == "" {
					if !errors.Is(err, ErrNoRule) {
						t.Errorf("%s: mapped to %q (err %v), want no rule to apply", c.principal, got, err)
					}
					continue
				}
				if err != nil || got != c.user {
					t.Errorf("%s: got %q, %v; want %q", c.principal, got, err, c.user)
				}
			}
		})
	}
}

// A rule that applies but makes a name holding "/" or "@" refuses the
// principal, as Kafka's NoMatchingRule("Non-simple name") does, instead
// of trying the next rule.
func TestMapperNonSimpleName(t *testing.T) {
	m, err := NewMapper("R", []string{`RULE:[1:$1@$0]`, "DEFAULT"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Map(Principal{Components: []string{"alice"}, Realm: "R"})
	if err == nil || errors.Is(err, ErrNoRule) || !strings.Contains(err.Error(), "not a simple name") {
		t.Fatalf("got %q, %v; want a non-simple name refusal", got, err)
	}
	m, _ = NewMapper("R", []string{`RULE:[1:$1]s/.*//`})
	if got, err := m.Map(Principal{Components: []string{"alice"}, Realm: "R"}); err == nil {
		t.Fatalf("an empty name was accepted: %q", got)
	}
}

// Invalid rules are refused when parsed, each reported with its index.
func TestMapperInvalidRules(t *testing.T) {
	for _, r := range []string{
		"",
		"default",
		"RULE:[1:$1]/L/U",
		"RULE:[1:$1]/LU",
		"RULE:[1:$1]/L/L",
		"DEFAULT/L",
		"RULE:[:$1]",
		"RULE:[0:$1]",
		"RULE:[1:$2]",
		"RULE:[1:$]",
		"RULE:[1:$1](a(b)",
		"RULE:[1:$1](?=x)",
		"RULE:[1:$1]s/(a)/$2/",
		"RULE:[1:$1]s/a/b\\/",
		"RULE:[1:$1]s/a/$/",
		"RULE:[1:$1]s/a/${x}/",
		"RULE:[1:$1]s/a/b/x",
		"RULE:[1:$1] trailing",
	} {
		if _, err := NewMapper("R", []string{"DEFAULT", r}); err == nil {
			t.Errorf("%q was accepted", r)
		} else if !strings.Contains(err.Error(), "rule 1 ") {
			t.Errorf("%q: error %q does not name the rule's index", r, err)
		}
	}
}

func TestParsePrincipal(t *testing.T) {
	for _, bad := range []string{"", "alice", "alice@", "@R", "a//b@R", "a/@R", "a@b@R", `a\/b@R`} {
		if p, err := ParsePrincipal(bad); err == nil {
			t.Errorf("%q parsed as %v", bad, p)
		}
	}
	p, err := ParsePrincipal("kafka/localhost@KGATE.TEST")
	if err != nil || p.String() != "kafka/localhost@KGATE.TEST" || len(p.Components) != 2 || p.Realm != "KGATE.TEST" {
		t.Fatalf("got %#v, %v", p, err)
	}
}
