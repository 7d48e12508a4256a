package audit

import "context"

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request it serves; the
// HTTP access log and every audit record written with ctx carry it, which
// is how one ties to the other.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id of ctx, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}

// RequestIDKey is the context key RequestID looks up, exported for a
// context that keeps a request's values itself (httpapi's request state
// answers it with the id, a string); others use WithRequestID.
var RequestIDKey any = requestIDKey{}
