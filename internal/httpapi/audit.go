package httpapi

import (
	"net/http"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
)

// ChangeRecord is the audit record of a change a request made: the
// caller (name, method, address), the route, the action and resource,
// and what was done.
func ChangeRecord(r *http.Request, event string, action auth.Action, resource, what string) audit.Record {
	rec := audit.Record{Event: event, Route: r.Pattern, Action: string(action), Resource: resource, Reason: what}
	if p := auth.FromContext(r.Context()); p != nil {
		rec.Principal, rec.AuthMethod = p.Name, string(p.Method)
		if p.ClientIP.IsValid() {
			rec.ClientIP = p.ClientIP.String()
		}
	}
	return rec
}
