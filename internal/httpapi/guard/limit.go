package guard

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/ratelimit"
)

// Limit limits and meters every non-public route: identify names whom a
// request is charged to (it runs after authentication). A request over a
// limit is answered 429 with Retry-After and RateLimit-* at once; one
// admitted gets the RateLimit-* of its bucket. Routes whose action moves
// data are metered by what they move: produce by the body it sends,
// fetch and consume by the body they receive. A request another replica
// forwarded passes: that replica limited it and meters what it moves.
func Limit(l *ratelimit.Limiter, identify func(*http.Request, auth.Action) ratelimit.Subject) httpapi.Middleware {
	return func(rt httpapi.Route, next http.Handler) http.Handler {
		if rt.Public {
			return next
		}
		moves := rt.Action.MovesData()
		reqBytes := moves && !rt.Action.Receives()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := auth.FromContext(r.Context()); p != nil && p.Via != "" {
				// Forwarded by the replica that admitted and meters it.
				next.ServeHTTP(w, r)
				return
			}
			t, ex := l.Admit(identify(r, rt.Action), time.Now(), moves)
			if ex != nil {
				reject(w, r, rt, ex)
				return
			}
			if limit, remaining, reset, ok := t.Header(); ok {
				setHeaders(w.Header(), limit, remaining, reset)
			}
			var read *int64 // the body's bytes read so far
			if reqBytes && r.Body != nil {
				read = httpapi.CountBody(r)
			}
			rw := httpapi.WrapWriter(w)
			before := rw.Bytes()
			r, tp := httpapi.WithTicket(r, t)
			next.ServeHTTP(rw, r)
			var moved int64
			if read != nil {
				moved += *read
			}
			if moves && !reqBytes {
				moved += rw.Bytes() - before
			}
			tp.Done(time.Now(), moved)
		})
	}
}

// Exceeded is a limit a handler ran into while metering (Ticket.Charge):
// it sets Retry-After and RateLimit-* on h and returns the 429 to answer
// (or, in a stream, the receipt).
func Exceeded(h http.Header, ex *ratelimit.Exceeded) *httpapi.Error {
	if h != nil {
		h.Set("Retry-After", strconv.FormatInt(ceilSeconds(ex.RetryAfter), 10))
		setHeaders(h, ex.Max, 0, ex.RetryAfter)
	}
	return httpapi.ErrRateLimited.Msg("%s", ex.Message).Wrap(ex)
}

func reject(w http.ResponseWriter, r *http.Request, rt httpapi.Route, ex *ratelimit.Exceeded) {
	h := w.Header()
	h.Set("Retry-After", strconv.FormatInt(ceilSeconds(ex.RetryAfter), 10))
	setHeaders(h, ex.Max, 0, ex.RetryAfter)
	httpapi.WriteError(w, r, nil, rt.ErrorType, httpapi.ErrRateLimited.Msg("%s", ex.Message).Wrap(ex))
}

// setHeaders writes the RateLimit-* fields (draft-ietf-httpapi-ratelimit-
// headers): the bucket size, what is left, and the seconds until it is
// full again.
func setHeaders(h http.Header, limit int, remaining int64, reset time.Duration) {
	if remaining < 0 {
		remaining = 0
	}
	h.Set("RateLimit-Limit", strconv.Itoa(limit))
	h.Set("RateLimit-Remaining", strconv.FormatInt(remaining, 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(reset), 10))
}

func ceilSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}
