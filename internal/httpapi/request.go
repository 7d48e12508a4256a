package httpapi

import (
	"context"
	"io"
	"net/http"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/ratelimit"
)

// request is the state the chain keeps for one request, made once by
// RequestIDs and filled in by the middleware inside it: the request id,
// the caller authentication found and the service that found it, the
// rate-limit ticket and the memory account. It is the request's context
// too: its Value answers the context keys of the packages that own those
// values (audit's request id, auth's principal and service, ratelimit's
// ticket, this package's account) and passes any other key to the
// context it wraps. So a request is given one context, once, however many
// values the chain puts on it: each context.WithValue and
// Request.WithContext costs an allocation, and the hot path used to make
// ten of them.
//
// Its fields are written by the middleware before the handler runs (and
// the account and ticket by the handler, as they are themselves), so
// whoever holds the context later reads what the chain found; the outer
// middleware (the access log) reads the caller after the request.
type request struct {
	context.Context // the context the server gave the request; nil until RequestIDs
	// w is the chain's response writer when WrapWriter made it here.
	w  ResponseWriter
	id string
	// idHeader backs the X-Request-Id header's value (one allocation less).
	idHeader [1]string
	// principal and service are set by SetCaller; nil until then.
	principal *auth.Principal
	service   *auth.Service
	// ticket, when hasTicket, is the rate-limit ticket (WithTicket).
	ticket    ratelimit.Ticket
	hasTicket bool
	// account, when hasAccount, is the memory account (admit).
	account    Account
	hasAccount bool
	// body, when in use, counts the request body's bytes (CountBody).
	body countingBody
}

type requestKey struct{}

// Value answers the keys of the values the chain keeps here, and asks
// the parent context for the others (and for those not set yet, so that
// a value put on a context further out still shows).
func (q *request) Value(key any) any {
	switch key {
	case requestKey{}:
		return q
	case audit.RequestIDKey:
		return q.id
	case auth.PrincipalKey:
		if q.principal != nil {
			return q.principal
		}
	case auth.ServiceKey:
		if q.service != nil {
			return q.service
		}
	case ratelimit.TicketKey:
		if q.hasTicket {
			return &q.ticket
		}
	case accountKey{}:
		if q.hasAccount {
			return &q.account
		}
	}
	return q.Context.Value(key)
}

// requestFrom returns the chain's state of ctx's request, or nil.
func requestFrom(ctx context.Context) *request {
	q, _ := ctx.Value(requestKey{}).(*request)
	return q
}

// RequestID returns the request id of ctx, or "".
func RequestID(ctx context.Context) string {
	if q := requestFrom(ctx); q != nil {
		return q.id
	}
	return audit.RequestID(ctx)
}

// SetCaller records the caller authentication found and the service that
// found it for the rest of the request: handlers (auth.FromContext,
// auth.LiveFor), audit and the access log (Principal) see them. The
// authentication middleware calls it with the request it was given and
// passes on the request returned: r itself when the chain keeps r's
// state, else r with a context carrying them.
func SetCaller(r *http.Request, p *auth.Principal, svc *auth.Service) *http.Request {
	if q := requestFrom(r.Context()); q != nil {
		q.principal, q.service = p, svc
		return r
	}
	return r.WithContext(auth.WithService(auth.WithPrincipal(r.Context(), p), svc))
}

// WithTicket gives r's handlers the rate-limit ticket t
// (ratelimit.TicketFrom) and returns the request to pass on and the
// ticket they charge, which the caller finishes (Done): kept in r's state
// when the chain made one (r is returned), else on a derived context.
func WithTicket(r *http.Request, t ratelimit.Ticket) (*http.Request, *ratelimit.Ticket) {
	if q := requestFrom(r.Context()); q != nil && !q.hasTicket {
		q.ticket, q.hasTicket = t, true
		return r, &q.ticket
	}
	// A copy: taking t's address would move t to the heap on every call.
	tp := new(ratelimit.Ticket)
	*tp = t
	return r.WithContext(ratelimit.WithTicket(r.Context(), tp)), tp
}

// Principal returns the caller's name, or "anonymous" when no
// authentication ran or none succeeded.
func Principal(ctx context.Context) string {
	var p *auth.Principal
	if q := requestFrom(ctx); q != nil {
		p = q.principal
	} else {
		p = auth.FromContext(ctx)
	}
	if p != nil && p.Name != "" {
		return p.Name
	}
	return "anonymous"
}

// CountBody makes r's body count the bytes read from it and returns the
// count, which grows as the handler reads. The counter is kept in r's
// state when the chain made one (the rate limit meters every request's
// body, and a counter of its own cost an allocation each time).
func CountBody(r *http.Request) *int64 {
	if q := requestFrom(r.Context()); q != nil && q.body.ReadCloser == nil {
		q.body.ReadCloser = r.Body
		r.Body = &q.body
		return &q.body.n
	}
	b := &countingBody{ReadCloser: r.Body}
	r.Body = b
	return &b.n
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}
