package httpapi

import (
	"net/http"

	"github.com/kgate/kgate/internal/tracing"
)

// Trace continues the caller's W3C trace context (traceparent,
// tracestate): it is put in the request's context, so that produced
// records and forwarded requests carry it, whether or not t records
// spans. A malformed traceparent is ignored (a new trace), never refused.
// With t on, each request gets a server span named for its route, a child
// of the caller's, and the answer's traceparent names that span.
func Trace(t *tracing.Tracer) Middleware {
	return func(rt Route, next http.Handler) http.Handler {
		if !t.On() {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if ctx := tracing.Extract(r.Context(), r.Header); ctx != r.Context() {
					r = r.WithContext(ctx)
				}
				next.ServeHTTP(w, r)
			})
		}
		name := rt.Method + " " + rt.Pattern
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, span := t.StartServer(tracing.Extract(r.Context(), r.Header), name, rt.Method, rt.Pattern, RequestID(r.Context()))
			rw := WrapWriter(w)
			returned := false
			defer func() {
				// A panic (Recover answers it) is a 500 whatever was
				// written.
				status := rw.Status()
				switch {
				case !returned:
					status = http.StatusInternalServerError
				case status == 0:
					status = http.StatusOK
				}
				tracing.EndServer(span, status)
			}()
			tracing.Inject(ctx, rw.Header())
			next.ServeHTTP(rw, r.WithContext(ctx))
			returned = true
		})
	}
}
