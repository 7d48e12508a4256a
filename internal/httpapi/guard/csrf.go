package guard

import (
	"fmt"
	"net/http"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
)

// CrossOrigin refuses state-changing requests (every method but GET,
// HEAD and OPTIONS) that a browser sends on behalf of another site: a
// page elsewhere can make a browser POST to kgate with the Basic
// credentials it has cached, or to an open-mode kgate on loopback.
// Browsers say where a request comes from: Sec-Fetch-Site must be
// same-origin or none (typed by the user), or, from browsers that do not
// send it, Origin must be kgate's own (the request's Host). Requests with
// neither header (curl, Kafka clients' HTTP libraries, servers) are not
// from a browser and pass. Pages from allowed (scheme://host[:port])
// may send such requests. This is net/http's CrossOriginProtection, with
// kgate's error (403, 40301) and an audit record.
//
// It runs on every route, public ones too (a login is a state change),
// before authentication: a cross-site request's credentials are never
// looked at.
func CrossOrigin(svc *auth.Service, allowed []string) (httpapi.Middleware, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range allowed {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("http.allowed_origins: %w", err)
		}
	}
	return func(rt httpapi.Route, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err := cop.Check(r)
			if err == nil {
				next.ServeHTTP(w, r)
				return
			}
			// The reason names no header value: those are the
			// caller's to choose, and refusals are folded by reason.
			p := &auth.Principal{Name: auth.Anonymous, Method: auth.MethodAnonymous, ClientIP: svc.ClientIP(r)}
			svc.Deny(r.Context(), p, rt.Name, rt.Action, "", auth.Decision{Reason: "cross-origin request from a browser"})
			httpapi.WriteError(w, r, nil, rt.ErrorType, httpapi.ErrForbidden.Msg(
				"Cross-origin request refused: browsers may send this request only from kgate's own origin or one in http.allowed_origins.").Wrap(err))
		})
	}, nil
}
