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
