package auth

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/httpapi"
)

// challenge sets the WWW-Authenticate fields of a 401.
func challenge(h http.Header, bearerErr bool) {
	h.Add("WWW-Authenticate", `Basic realm="kgate", charset="UTF-8"`)
	if bearerErr {
		h.Add("WWW-Authenticate", `Bearer realm="kgate", error="invalid_token"`)
	} else {
		h.Add("WWW-Authenticate", `Bearer realm="kgate"`)
	}
}

// AuthenticateMiddleware identifies the caller of every non-public route
// and puts the principal in the request's context. Bad credentials are a
// 401 with WWW-Authenticate; requests without credentials go on as
// anonymous (authorization decides).
func (s *Service) AuthenticateMiddleware(rt httpapi.Route, next http.Handler) http.Handler {
	if rt.Public {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Authenticate(r)
		if err != nil {
			s.writeAuthError(w, r, rt, err)
			return
		}
		ctx := WithPrincipal(r.Context(), p)
		ctx = httpapi.SetPrincipal(ctx, p.Name)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Service) writeAuthError(w http.ResponseWriter, r *http.Request, rt httpapi.Route, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		httpapi.WriteError(w, r, s.logger, rt.ErrorType, err)
		return
	}
	s.audit.Write(r.Context(), audit.Record{Event: audit.AuthFailure, Principal: orUnknown(ae.Name), AuthMethod: ae.Method,
		ClientIP: addrString(s.ClientIP(r)), RequestID: httpapi.RequestID(r.Context()), Route: rt.Name, Action: rt.Action, Reason: ae.Reason})
	if ae.RetryAfter > 0 {
		secs := int64(ae.RetryAfter.Seconds()) + 1
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		httpapi.WriteError(w, r, s.logger, rt.ErrorType, httpapi.ErrRateLimited.Msg("Too many failed authentications from this address; retry in %d seconds.", secs).Wrap(ae))
		return
	}
	challenge(w.Header(), ae.bearer)
	httpapi.WriteError(w, r, s.logger, rt.ErrorType, httpapi.ErrUnauthenticated.Wrap(ae))
}

// AuthorizeMiddleware checks the route's action on the route's resource
// for the principal authentication found. A refusal is a 401 (with
// WWW-Authenticate) for anonymous callers and a 403 for the others,
// written by the route's Forbidden hook when it has one.
func (s *Service) AuthorizeMiddleware(rt httpapi.Route, next http.Handler) http.Handler {
	if rt.Public {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := FromContext(r.Context())
		if p == nil {
			p = &Principal{Name: Anonymous, Method: "anonymous", ClientIP: s.ClientIP(r)}
		}
		resource := ""
		if rt.Resource != nil {
			resource = rt.Resource(r)
		}
		d := s.Policy().Decide(p, rt.Action, resource)
		if d.Allowed {
			next.ServeHTTP(w, r)
			return
		}
		s.audit.Write(r.Context(), audit.Record{Event: audit.Denied, Principal: p.Name, AuthMethod: p.Method, ClientIP: addrString(p.ClientIP),
			RequestID: httpapi.RequestID(r.Context()), Route: rt.Name, Action: rt.Action, Resource: truncate(resource, 256), Reason: d.Reason})
		he := s.denial(p, rt.Action, resource, d)
		if he.Status == http.StatusUnauthorized {
			challenge(w.Header(), false)
		} else if rt.Forbidden != nil {
			if err := rt.Forbidden(w, r, he); err != nil {
				httpapi.WriteError(w, r, s.logger, rt.ErrorType, err)
			}
			return
		}
		httpapi.WriteError(w, r, s.logger, rt.ErrorType, he)
	})
}
