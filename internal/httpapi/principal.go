package httpapi

import "context"

// reqInfo is per-request state that inner middleware fills in and outer
// middleware (the access log) reads after the request.
type reqInfo struct {
	principal string
}

type reqInfoKey struct{}

func withReqInfo(ctx context.Context) context.Context {
	return context.WithValue(ctx, reqInfoKey{}, &reqInfo{})
}

// SetPrincipal records the authenticated caller's name for the rest of the
// request (handlers, audit and the access log). The authentication
// middleware calls it.
func SetPrincipal(ctx context.Context, name string) context.Context {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		ri.principal = name
		return ctx
	}
	ri := &reqInfo{principal: name}
	return context.WithValue(ctx, reqInfoKey{}, ri)
}

// Principal returns the caller's name, or "anonymous" when no
// authentication ran or none succeeded.
func Principal(ctx context.Context) string {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok && ri.principal != "" {
		return ri.principal
	}
	return "anonymous"
}
