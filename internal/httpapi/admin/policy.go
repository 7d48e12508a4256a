package admin

import (
	"net/http"
	"net/netip"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
)

// userJSON is a user of the users file as GET /admin/users shows it:
// never a password hash or a SCRAM credential.
type userJSON struct {
	Name     string   `json:"name"`
	Groups   []string `json:"groups"`
	Plan     string   `json:"plan,omitempty"`
	Password bool     `json:"password"` // has a password (else certificate only)
	Kafka    bool     `json:"kafka"`    // has SCRAM credentials for the Kafka port
}

func (a api) users(w http.ResponseWriter, r *http.Request) error {
	us := a.d.Auth.Policy().Users()
	out := []userJSON{}
	for _, n := range us.Names() {
		u := us.Lookup(n)
		out = append(out, userJSON{Name: n, Groups: append([]string{}, u.Groups...), Plan: u.Plan,
			Password: len(u.PasswordHash) > 0, Kafka: u.SCRAM256 != nil || u.SCRAM512 != nil})
	}
	httpapi.WriteJSON(w, http.StatusOK, jsonType, map[string]any{"users": out})
	return nil
}

// decisionJSON is one action's decision for a user.
type decisionJSON struct {
	Action   auth.Action `json:"action"`
	Resource string      `json:"resource,omitempty"`
	Allowed  bool        `json:"allowed"`
	Reason   string      `json:"reason"`
}

// policy explains what a user of the users file may do, by the policy
// in force now: every cluster-wide action, and the topic and group
// actions on ?topic= and ?group= when given, each with the policy's
// reason. ?ip= is the address the user would come from (entries with
// CIDRs refuse the unspecified address).
func (a api) policy(w http.ResponseWriter, r *http.Request) error {
	pol := a.d.Auth.Policy()
	name := r.PathValue("username")
	u := pol.Users().Lookup(name)
	if u == nil {
		return httpapi.ErrNotFound.Msg("No user %q in the users file.", name)
	}
	q := r.URL.Query()
	p := &auth.Principal{Name: name, Method: auth.MethodBasic}
	if ip := q.Get("ip"); ip != "" {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return httpapi.ErrBadRequest.Msg("ip: %q is not an IP address.", ip)
		}
		p.ClientIP = addr
	}
	resources := map[auth.Scope]string{auth.ScopeCluster: "", auth.ScopeTopic: q.Get("topic"), auth.ScopeGroup: q.Get("group")}
	out := []decisionJSON{}
	for _, act := range auth.Actions() {
		scope, _ := act.Scope()
		res, ok := resources[scope]
		if !ok || scope != auth.ScopeCluster && res == "" {
			continue
		}
		d := pol.Decide(p, act, res)
		out = append(out, decisionJSON{Action: act, Resource: res, Allowed: d.Allowed, Reason: d.Reason})
	}
	httpapi.WriteJSON(w, http.StatusOK, jsonType, map[string]any{"user": name, "groups": append([]string{}, u.Groups...),
		"plan": u.Plan, "decisions": out})
	return nil
}
