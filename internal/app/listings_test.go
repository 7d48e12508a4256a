package app_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
)

// TestListingsShowOnlyWhatTheCallerSees: topic listings on every API show
// a tenant only the topics it has some right on, so that another tenant's
// topic names (which often name the customer) and kgate's own topics do
// not leak; an admin sees everything.
func TestListingsShowOnlyWhatTheCallerSees(t *testing.T) {
	g := secureGateway(t, nil)
	for _, u := range []string{"customer1", "customer2"} {
		if r := produceV2(t, g, u, "Authorization", basic(u)); r.status != 200 {
			t.Fatalf("%s seeds its topic: %d %s", u, r.status, r.body)
		}
	}
	names := func(t *testing.T, path, user string) []string {
		t.Helper()
		r := do(t, "GET", g.URL+path, "", "Authorization", basic(user))
		if r.status != 200 {
			t.Fatalf("%s %s: %d %s", user, path, r.status, r.body)
		}
		var out []string
		if err := json.Unmarshal(r.body, &out); err != nil {
			var v3 struct {
				Data []struct {
					TopicName string `json:"topic_name"`
				} `json:"data"`
			}
			if err := json.Unmarshal(r.body, &v3); err != nil {
				t.Fatalf("%s: %s", path, r.body)
			}
			for _, d := range v3.Data {
				out = append(out, d.TopicName)
			}
		}
		sort.Strings(out)
		return out
	}
	for _, path := range []string{"/topics", "/v3/clusters/kgate-embedded/topics", "/api/v1/topics"} {
		if got := fmt.Sprint(names(t, path, "customer1")); got != "[customer1]" {
			t.Errorf("customer1 lists %s: %s, want only its own topic", path, got)
		}
		all := names(t, path, "admin")
		has := map[string]bool{}
		for _, n := range all {
			has[n] = true
		}
		if !has["customer1"] || !has["customer2"] || !has["_kgate_audit"] {
			t.Errorf("admin lists %s: %v, want every topic", path, all)
		}
	}
}
