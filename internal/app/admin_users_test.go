package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAdminUsersPolicy: GET /admin/users lists the users file without
// secrets, and GET /admin/users/{u}/policy explains what a user may do,
// by the same policy that authorizes requests.
func TestAdminUsersPolicy(t *testing.T) {
	g := secureGateway(t, nil)
	r := do(t, "GET", g.URL+"/admin/users", "", "Authorization", basic("admin"))
	if r.status != http.StatusOK {
		t.Fatalf("users: %d %s", r.status, r.body)
	}
	for _, secret := range []string{"$2a$", "salt", "salted_password", passwords["customer1"]} {
		if strings.Contains(string(r.body), secret) {
			t.Errorf("GET /admin/users shows %q: %s", secret, r.body)
		}
	}
	var us struct {
		Users []struct {
			Name     string   `json:"name"`
			Groups   []string `json:"groups"`
			Password bool     `json:"password"`
		} `json:"users"`
	}
	if err := json.Unmarshal(r.body, &us); err != nil || len(us.Users) != len(passwords) {
		t.Fatalf("users %s: %v", r.body, err)
	}
	if r := do(t, "GET", g.URL+"/admin/users", "", "Authorization", basic("customer1")); r.status != http.StatusForbidden {
		t.Errorf("users as customer1: %d", r.status)
	}

	type decision struct {
		Action   string `json:"action"`
		Resource string `json:"resource"`
		Allowed  bool   `json:"allowed"`
		Reason   string `json:"reason"`
	}
	explain := func(user, query string) map[string]decision {
		t.Helper()
		r := do(t, "GET", g.URL+"/admin/users/"+user+"/policy?"+query, "", "Authorization", basic("admin"))
		if r.status != http.StatusOK {
			t.Fatalf("policy of %s: %d %s", user, r.status, r.body)
		}
		var out struct {
			Decisions []decision `json:"decisions"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		m := map[string]decision{}
		for _, d := range out.Decisions {
			m[d.Action] = d
		}
		return m
	}
	for _, c := range []struct {
		user, query, action string
		want                decision
	}{
		{"customer1", "topic=customer1", "fetch", decision{"fetch", "customer1", true, "granted"}},
		{"customer1", "topic=customer2", "fetch", decision{"fetch", "customer2", false, "no grant for fetch"}},
		{"customer1", "topic=customer1", "create_topic", decision{"create_topic", "customer1", false, "no grant for create_topic"}},
		{"customer1", "", "list_topics", decision{"list_topics", "", true, "granted"}}, // anonymous' floor
		{"customer1", "group=customer1-g", "consume", decision{"consume", "customer1-g", true, "granted"}},
		{"mallory", "topic=customer9", "produce", decision{"produce", "customer9", false, "denied by a deny entry"}},
		{"admin", "topic=anything", "delete_topic", decision{"delete_topic", "anything", true, "admin"}},
		{"partner", "topic=partner-in", "produce", decision{"produce", "partner-in", false, "client address not in the allowed CIDRs"}},
		{"partner", "topic=partner-in&ip=10.1.2.3", "produce", decision{"produce", "partner-in", true, "granted"}},
	} {
		got := explain(c.user, c.query)[c.action]
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s %s %s (-want +got):\n%s", c.user, c.query, c.action, diff)
		}
	}
	if d := explain("customer1", ""); d["fetch"].Action != "" || d["admin"].Action == "" {
		t.Errorf("without topic: %v", d)
	}
	if r := do(t, "GET", g.URL+"/admin/users/nobody/policy", "", "Authorization", basic("admin")); r.status != http.StatusNotFound {
		t.Errorf("unknown user: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", g.URL+"/admin/users/customer1/policy?ip=nope", "", "Authorization", basic("admin")); r.status != http.StatusBadRequest {
		t.Errorf("bad ip: %d %s", r.status, r.body)
	}
}
