package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseUsersKastleX(t *testing.T) {
	// KastleX's README passwd.yml loads as it is.
	u, err := LoadUsers("testdata/kastlex_passwd.yml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"admin", "user1"}, u.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if u.maxCost != 12 {
		t.Errorf("maxCost = %d, want 12", u.maxCost)
	}
	if got := string(u.Lookup("user1").PasswordHash); !strings.HasPrefix(got, "$2b$12$3iR64") {
		t.Errorf("user1 hash = %q", got)
	}
}

func TestParseUsersSample(t *testing.T) {
	u, err := LoadUsers("testdata/users.yml")
	if err != nil {
		t.Fatal(err)
	}
	c1 := u.Lookup("customer1")
	if c1 == nil || c1.Limits == nil || *c1.Limits.RequestsPerSecond != 100 || *c1.Limits.DailyBytes != 10<<20 {
		t.Fatalf("customer1 limits not parsed: %+v", c1)
	}
	if c1.SCRAM256 == nil || len(c1.SCRAM256.SaltedPassword) != 32 || c1.SCRAM512 == nil || len(c1.SCRAM512.SaltedPassword) != 64 {
		t.Errorf("customer1 SCRAM credentials not parsed")
	}
	if diff := cmp.Diff([]string{"readers"}, u.Lookup("reader").Groups); diff != "" {
		t.Errorf("reader groups (-want +got):\n%s", diff)
	}
}

func TestParseUsersErrors(t *testing.T) {
	const hash = "$2a$04$MNef.6dnJ8JWjHLsbuRFSO8ZLIYxcdv9pgKB5iSDYuCLcuv0mYTTa"
	secret := "s3cr3t-value-never-echoed"
	tests := []struct {
		name, in, want string
	}{
		{"unknown field", "a:\n  pasword_hash: x\n", `line 2: a.pasword_hash: unknown key (known: password_hash, groups, limits, plan, scram_sha_256, scram_sha_512)`},
		{"not bcrypt", "a:\n  password_hash: " + secret + "\n", `line 2: a.password_hash: is not a bcrypt hash`},
		{"reserved anonymous", "anonymous:\n  password_hash: \"" + hash + "\"\n", `line 1: anonymous: the name is reserved`},
		{"colon in name", "\"a:b\":\n  password_hash: \"" + hash + "\"\n", `line 1: "a:b": user names may hold letters`},
		{"duplicate", "a: {}\na: {}\n", `line 2: a: is given twice (first on line 1)`},
		{"alias", "a: &x {}\nb: *x\n", "line 1: a: YAML anchors and aliases are not supported"},
		{"not a mapping", "- a\n- b\n", "line 1: the file must be a mapping"},
		{"entry not a mapping", "a: " + secret + "\n", "line 1: a: must be a mapping of keys to values, got a value that is not shown"},
		{"bad limit", "a:\n  limits:\n    requests_per_second: " + secret + "\n", "line 3: a.limits.requests_per_second: must be a non-negative number"},
		{"negative limit", "a:\n  limits:\n    daily_bytes: -1\n", "line 3: a.limits.daily_bytes: must be a non-negative whole number"},
		{"unknown limit", "a:\n  limits:\n    rps: 1\n", `line 3: a.limits.rps: unknown key (known: requests_per_second`},
		{"bad group", "a:\n  groups: [\"x y\"]\n", "line 2: a.groups[0]: group names may hold"},
		{"scram size", "a:\n  scram_sha_256: {salt: AAAAAAAAAAAAAAAAAAAAAA==, salted_password: AAAA}\n", "line 2: a.scram_sha_256.salted_password: must hold 32 bytes"},
		{"scram iterations", "a:\n  scram_sha_512: {salt: AAAAAAAAAAAAAAAAAAAAAA==, salted_password: AAAA, iterations: 10}\n", "line 2: a.scram_sha_512.iterations: must be between 4096 and 16384"},
		{"syntax", "a:\n  b: [\n", "line 2: invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUsers([]byte(tt.in))
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q quotes a value", err)
			}
		})
	}
}

// Every problem of a users or permissions file is reported at once, each
// with the file, line and key path, and no value is quoted.
func TestFilesReportEveryProblem(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yml")
	os.WriteFile(users, []byte("a:\n  pasword_hash: x\n  limits:\n    rps: 1\n    daily_bytes: lots-of-secret\nb:\n  groups: [\"x y\"]\n\"c d\": {}\n"), 0o600)
	_, err := LoadUsers(users)
	for _, want := range []string{
		users + ":2: a.pasword_hash: unknown key",
		users + ":4: a.limits.rps: unknown key",
		users + ":5: a.limits.daily_bytes: must be a non-negative whole number",
		users + ":7: b.groups[0]: group names may hold",
		users + `:8: "c d": user names may hold`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadUsers error lacks %q:\n%v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "lots-of-secret") {
		t.Errorf("the error quotes a value:\n%v", err)
	}
	perms := filepath.Join(dir, "permissions.yml")
	os.WriteFile(perms, []byte("u:\n  prodce: all\n  reload: [a]\nv:\n  cidrs: [10.0.0.0/33]\n"), 0o600)
	_, err = LoadPermissions(perms)
	for _, want := range []string{perms + ":2: u.prodce: unknown action", perms + ":3: u.reload: is a cluster-wide action", perms + ":5: v.cidrs[0]:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadPermissions error lacks %q:\n%v", want, err)
		}
	}
}

// Sizes and rates take the units the docs promise: bytes_per_second: 1Mi.
func TestUsersLimitUnits(t *testing.T) {
	u, err := ParseUsers([]byte("a:\n  limits: {bytes_per_second: 1Mi, byte_burst: 2M, daily_bytes: 10Gi, requests_per_second: 1.5, daily_requests: 100K}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := u.Lookup("a").Limits
	if *l.BytesPerSecond != 1<<20 || *l.ByteBurst != 2e6 || *l.DailyBytes != 10<<30 || *l.RequestsPerSecond != 1.5 || *l.DailyRequests != 100e3 {
		t.Errorf("limits %v %v %v %v %v", *l.BytesPerSecond, *l.ByteBurst, *l.DailyBytes, *l.RequestsPerSecond, *l.DailyRequests)
	}
}

func TestParseUsersEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "# nothing\n", "~\n"} {
		u, err := ParseUsers([]byte(in))
		if err != nil || u.Len() != 0 {
			t.Errorf("ParseUsers(%q) = %v users, %v", in, u.Len(), err)
		}
	}
}

func TestParsePermissionsKastleX(t *testing.T) {
	// KastleX's README permissions.yml loads as it is and means what it
	// meant there.
	p, err := LoadPermissions("testdata/kastlex_permissions.yml")
	if err != nil {
		t.Fatal(err)
	}
	pol := NewPolicy(nil, p, nil)
	anon := &Principal{Name: Anonymous, Method: "anonymous"}
	user1 := &Principal{Name: "user1", Method: "bearer"}
	admin := &Principal{Name: "admin", Method: "bearer"}
	checks := []struct {
		p        *Principal
		action   Action
		resource string
		want     bool
	}{
		{anon, "list_topics", "", true},
		{anon, "fetch", "kastlex", true},
		{anon, "show_group", "g1", true},
		{anon, "show_broker", "0", true},
		{anon, "produce", "kastlex", false},
		{user1, "produce", "kastlex", true},
		{user1, "produce", "other", false},
		{user1, "fetch", "kastlex", true}, // anonymous' rights are a floor
		{user1, "show_group", "g1", true},
		{admin, "reload", "", true},
		{admin, "revoke", "", true},
		{admin, "produce", "kastlex", false},
		{admin, "list_topics", "", true},
	}
	for _, c := range checks {
		if got := pol.Decide(c.p, c.action, c.resource).Allowed; got != c.want {
			t.Errorf("%s %s %q = %v, want %v", c.p.Name, c.action, c.resource, got, c.want)
		}
	}
}

func TestParsePermissionsErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown action", "u:\n  prodce: all\n", `line 2: u.prodce: unknown action (known: `},
		{"cluster list", "u:\n  reload: [a]\n", "line 2: u.reload: is a cluster-wide action: its value is true or false"},
		{"star inside", "u:\n  produce: [\"a*b\"]\n", "line 2: u.produce[0]: '*' may only end a pattern"},
		{"placeholder", "u:\n  produce: [\"{name}\"]\n", "the only placeholder is {user}"},
		{"bad cidr", "u:\n  cidrs: [10.0.0.0/33]\n", "line 2: u.cidrs[0]: \"10.0.0.0/33\" is neither a CIDR nor an address"},
		{"deny unknown", "u:\n  deny:\n    nope: all\n", "line 3: u.deny.nope: unknown action"},
		{"bad group key", "\"group:a b\":\n  fetch: all\n", `line 1: "group:a b": group names may hold`},
		{"entry not mapping", "u: [a]\n", "line 1: u: must be a mapping"},
		{"star principal", "\"*\":\n  prodce: all\n", `line 2: "*".prodce: unknown action`},
		{"empty pattern", "u:\n  produce: [\"\"]\n", "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePermissions([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v does not contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParseUsers(f *testing.F) {
	for _, name := range []string{"testdata/users.yml", "testdata/kastlex_passwd.yml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a:\n  limits: {daily_bytes: 1Gi, requests_per_second: 1.5}\n  groups: g\n"))
	f.Add([]byte("a: &x {}\nb: *x\n"))
	f.Add([]byte("{a: {password_hash: ~}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUsers(b)
		if err != nil {
			return
		}
		for _, n := range u.Names() {
			if validUserName(n) != nil {
				t.Fatalf("accepted invalid user name %q", n)
			}
		}
	})
}

func FuzzParsePermissions(f *testing.F) {
	for _, name := range []string{"testdata/permissions.yml", "testdata/kastlex_permissions.yml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("u:\n  produce: \"{user}-*\"\n  deny: {fetch: true}\n  cidrs: 10.0.0.1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePermissions(b)
		if err != nil {
			return
		}
		pol := NewPolicy(nil, p, []string{"_kgate_tokens"})
		for _, name := range p.Principals() {
			pr := &Principal{Name: name, Method: "basic"}
			for _, a := range Actions() {
				for _, res := range []string{"", "t", "_kgate_tokens", "*", "a/../b", "_schemas"} {
					d := pol.Decide(pr, a, res)
					// An internal name is reached only by admin or a grant
					// naming it exactly.
					if d.Allowed && res == "_schemas" && scopes[a] != ScopeCluster && d.Reason != "admin" && !bytes.Contains(b, []byte("_schemas")) {
						t.Fatalf("%s may %s _schemas without naming it (%s)", name, a, d.Reason)
					}
					if d.Allowed && res == "_kgate_tokens" && d.Reason != "admin" && scopes[a] == ScopeTopic {
						t.Fatalf("%s may %s the protected topic (%s)", name, a, d.Reason)
					}
					if d.Allowed && res == "a/../b" && scopes[a] == ScopeTopic {
						t.Fatalf("%s may %s an invalid topic name", name, a)
					}
				}
			}
		}
	})
}
