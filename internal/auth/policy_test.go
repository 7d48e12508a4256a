package auth

import (
	"net/netip"
	"testing"
)

func samplePolicy(t testing.TB) *Policy {
	t.Helper()
	u, err := LoadUsers("testdata/users.yml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadPermissions("testdata/permissions.yml")
	if err != nil {
		t.Fatal(err)
	}
	return NewPolicy(u, p, []string{"_kgate_tokens", "_kgate_usage", "_kgate_audit"})
}

func TestDecide(t *testing.T) {
	pol := samplePolicy(t)
	local := netip.MustParseAddr("127.0.0.1")
	p := func(name string) *Principal { return &Principal{Name: name, Method: "basic", ClientIP: local} }
	anon := &Principal{Name: Anonymous, Method: "anonymous", ClientIP: local}
	// A certificate principal that is in neither file gets "*"'s rights.
	cert := &Principal{Name: "device-17", Method: "certificate", ClientIP: local}
	tests := []struct {
		who      *Principal
		action   Action
		resource string
		want     bool
	}{
		// The seed's rule, produce: ["{user}"].
		{p("customer1"), "produce", "customer1", true},
		{p("customer1"), "produce", "customer2", false},
		{p("customer2"), "produce", "customer2", true},
		{p("customer2"), "produce", "customer1", false},
		{cert, "produce", "device-17", true},
		{cert, "produce", "customer1", false},
		// Case, dot segments and encoded slashes never reach another topic.
		{p("customer1"), "produce", "Customer1", false},
		{p("customer1"), "produce", "customer1/../customer2", false},
		{p("customer1"), "produce", "customer1%2F..%2Fcustomer2", false},
		{p("customer1"), "produce", "customer1 ", false},
		{p("customer1"), "produce", "", false},
		// Prefix patterns through a group.
		{p("reader"), "fetch", "logs-app", true},
		{p("reader"), "fetch", "logs-", true},
		{p("reader"), "fetch", "logs", false},
		{p("reader"), "fetch", "metrics-app", false},
		{p("reader"), "consume", "readers-1", true},
		{p("reader"), "consume", "reader-1", true}, // "*": {user}-*
		{p("reader"), "consume", "customer1-1", false},
		// Deny wins over "all" and over "*"'s grant of {user}.
		{p("mallory"), "produce", "anything", true},
		{p("mallory"), "produce", "customer1", false},
		{p("mallory"), "produce", "customers", false},
		{p("mallory"), "produce", "mallory", false},
		{p("mallory"), "fetch", "logs-app", true},
		{p("mallory"), "fetch", "logs-secret", false},
		// "all" never reaches internal topics, and kgate's own are
		// admin-only.
		{p("mallory"), "fetch", "__consumer_offsets", false},
		{p("mallory"), "fetch", "_schemas", false},
		{p("mallory"), "fetch", "_kgate_tokens", false},
		{p("admin"), "fetch", "_kgate_tokens", true},
		{p("admin"), "delete_topic", "customer1", true},
		{p("admin"), "reload", "", true},
		// Cluster-wide actions.
		{p("ops"), "reload", "", true},
		{p("ops"), "revoke", "", true},
		{p("ops"), "metrics", "", true},
		{p("ops"), "admin", "", false},
		{p("ops"), "produce", "ops", true},
		{p("customer1"), "reload", "", false},
		{p("customer1"), "metrics", "", false},
		// Anonymous has only what "anonymous" grants; "*" is for
		// authenticated callers.
		{anon, "list_topics", "", true},
		{anon, "show_broker", "0", true},
		{anon, "show_broker", "zero", false},
		{anon, "produce", "anonymous", false},
		{anon, "fetch", "customer1", false},
		// ... and what anonymous may do, everyone may.
		{p("customer1"), "list_topics", "", true},
		{p("mallory"), "show_broker", "1", true},
		// A subscription pattern needs fetch on every topic.
		{p("mallory"), "fetch", "*", true},
		{p("customer1"), "fetch", "*", false},
		// Unknown actions are denied.
		{p("admin"), "launch_missiles", "", false},
		// CIDR allowlist: partner only from 10.0.0.0/8.
		{&Principal{Name: "partner", Method: "basic", ClientIP: netip.MustParseAddr("10.1.2.3")}, "produce", "partner-in", true},
		{&Principal{Name: "partner", Method: "basic", ClientIP: local}, "produce", "partner-in", false},
		{&Principal{Name: "partner", Method: "basic", ClientIP: netip.MustParseAddr("::ffff:10.1.2.3")}, "produce", "partner-in", true},
		{&Principal{Name: "partner", Method: "basic"}, "produce", "partner-in", false},
	}
	for _, tt := range tests {
		d := pol.Decide(tt.who, tt.action, tt.resource)
		if d.Allowed != tt.want {
			t.Errorf("%s %s %q = %v (%s), want %v", tt.who.Name, tt.action, tt.resource, d.Allowed, d.Reason, tt.want)
		}
	}
}

func TestOpenPolicy(t *testing.T) {
	pol := OpenPolicy()
	anon := &Principal{Name: Anonymous, Method: "open"}
	for _, a := range Actions() {
		if !pol.Decide(anon, a, "customer1").Allowed {
			t.Errorf("open mode refuses %s", a)
		}
	}
}

func TestClientAllowed(t *testing.T) {
	pol := samplePolicy(t)
	if pol.ClientAllowed("partner", netip.MustParseAddr("127.0.0.1")) {
		t.Error("partner allowed from 127.0.0.1")
	}
	if !pol.ClientAllowed("partner", netip.MustParseAddr("10.0.0.1")) {
		t.Error("partner refused from 10.0.0.1")
	}
	if !pol.ClientAllowed("customer1", netip.MustParseAddr("127.0.0.1")) {
		t.Error("customer1 refused")
	}
}

func TestActionScopes(t *testing.T) {
	// The KastleX actions keep their KastleX kinds.
	for a, want := range map[Action]Scope{
		"list_topics": ScopeCluster, "show_topic": ScopeTopic, "list_brokers": ScopeCluster, "show_broker": ScopeBroker,
		"show_offsets": ScopeTopic, "fetch": ScopeTopic, "produce": ScopeTopic, "list_urps": ScopeCluster,
		"show_urps": ScopeTopic, "list_groups": ScopeCluster, "show_group": ScopeGroup, "reload": ScopeCluster,
		"revoke": ScopeCluster, "create_topic": ScopeTopic, "delete_topic": ScopeTopic, "alter_config": ScopeTopic,
		"consume": ScopeGroup, "admin": ScopeCluster, "metrics": ScopeCluster,
		"list_subjects": ScopeCluster, "subject_read": ScopeSubject, "subject_write": ScopeSubject,
		"subject_delete": ScopeSubject, "subject_config": ScopeSubject,
	} {
		if got, ok := a.Scope(); !ok || got != want {
			t.Errorf("%s.Scope() = %v %v, want %v", a, got, ok, want)
		}
	}
	if len(Actions()) != 24 {
		t.Errorf("Actions() has %d actions, want 24", len(Actions()))
	}
}
