// Package guard puts kgate's security and limits on HTTP routes: the
// middleware that authenticates callers, limits and meters them, and
// authorizes each route's action, and the mapping of the auth and
// ratelimit packages' decisions (domain values) onto the wire's errors.
// The chain order is the router's: metrics, Authenticate, Limit,
// Authorize, handler.
package guard

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
)

// challenge sets the WWW-Authenticate fields of a 401: Negotiate first
// when Kerberos is configured (browsers try the first scheme they
// support), then Basic and Bearer.
func challenge(h http.Header, svc *auth.Service, bearerErr bool) {
	if svc.Negotiates() {
		h.Add("WWW-Authenticate", "Negotiate")
	}
	h.Add("WWW-Authenticate", `Basic realm="kgate", charset="UTF-8"`)
	if bearerErr {
		h.Add("WWW-Authenticate", `Bearer realm="kgate", error="invalid_token"`)
	} else {
		h.Add("WWW-Authenticate", `Bearer realm="kgate"`)
	}
}

// Authenticate identifies the caller of every non-public route and puts
// the principal in the request's context. Bad credentials are a 401 with
// WWW-Authenticate (a 429 once the address failed too often), audited;
// requests without credentials go on as anonymous (authorization
// decides).
func Authenticate(svc *auth.Service) httpapi.Middleware {
	return func(rt httpapi.Route, next http.Handler) http.Handler {
		if rt.Public {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := svc.Authenticate(r)
			if err != nil {
				writeAuthError(w, r, svc, rt, err)
				return
			}
			if len(p.NegotiateReply) > 0 {
				// Mutual authentication (RFC 4559 section 5).
				w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(p.NegotiateReply))
			}
			next.ServeHTTP(w, httpapi.SetCaller(r, p, svc))
		})
	}
}

func writeAuthError(w http.ResponseWriter, r *http.Request, svc *auth.Service, rt httpapi.Route, err error) {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		httpapi.WriteError(w, r, nil, rt.ErrorType, err)
		return
	}
	svc.AuditFailure(r.Context(), ae, svc.ClientIP(r), rt.Name, rt.Action)
	if ae.RetryAfter > 0 {
		secs := int64(ae.RetryAfter.Seconds()) + 1
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		httpapi.WriteError(w, r, nil, rt.ErrorType, httpapi.ErrRateLimited.Msg("%s Retry in %d seconds.", ae.Refusal(), secs).Wrap(ae))
		return
	}
	challenge(w.Header(), svc, ae.Bearer())
	httpapi.WriteError(w, r, nil, rt.ErrorType, httpapi.ErrUnauthenticated.Wrap(ae))
}

// Authorize checks the route's action on the route's resource for the
// principal authentication found. A refusal is a 401 (with
// WWW-Authenticate) for anonymous callers and a 403 for the others,
// written by the route's Forbidden hook when it has one.
func Authorize(svc *auth.Service) httpapi.Middleware {
	return func(rt httpapi.Route, next http.Handler) http.Handler {
		if rt.Public {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := auth.FromContext(r.Context())
			if p == nil {
				p = &auth.Principal{Name: auth.Anonymous, Method: auth.MethodAnonymous, ClientIP: svc.ClientIP(r)}
			}
			resource := ""
			if rt.Resource != nil {
				resource = rt.Resource(r)
			}
			d := svc.Policy().Decide(p, rt.Action, resource)
			if d.Allowed {
				next.ServeHTTP(w, r)
				return
			}
			he := Refusal(svc.Deny(r.Context(), p, rt.Name, rt.Action, resource, d))
			if errors.Is(he, httpapi.ErrUnauthenticated) {
				challenge(w.Header(), svc, false)
			} else if rt.Forbidden != nil {
				if err := rt.Forbidden(w, r, he); err != nil {
					httpapi.WriteError(w, r, nil, rt.ErrorType, err)
				}
				return
			}
			httpapi.WriteError(w, r, nil, rt.ErrorType, he)
		})
	}
}

// Refusal is a denial on the wire: 401/40101 for a caller that did not
// authenticate, 403/40301 for one that did.
func Refusal(d *auth.Denial) *httpapi.Error {
	if !d.Principal.Authenticated() {
		return httpapi.ErrUnauthenticated.Msg("%s", d.Message()).Wrap(d)
	}
	return httpapi.ErrForbidden.Msg("%s", d.Message()).Wrap(d)
}

// Authorizer checks, inside a handler, an action on a resource the route
// alone does not name (the topics of a subscription, say), answering a
// refusal as Authorize does.
func Authorizer(svc *auth.Service) func(ctx context.Context, action auth.Action, resource string) error {
	return func(ctx context.Context, action auth.Action, resource string) error {
		err := svc.Authorize(ctx, action, resource)
		var d *auth.Denial
		if errors.As(err, &d) {
			return Refusal(d)
		}
		return err
	}
}
