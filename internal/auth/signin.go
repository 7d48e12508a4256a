package auth

import (
	"context"
	"errors"
	"net/netip"

	"github.com/kgate/kgate/internal/audit"
	"github.com/kgate/kgate/internal/auth/oidc"
)

// ErrNoOIDCSignIn is LoginOIDC's answer for an issuer without a console
// client (auth.oidc[].console_client_id).
var ErrNoOIDCSignIn = oidc.ErrNoSignIn

// LoginOIDC redeems the web console's authorization code at the
// issuer's token endpoint and returns the access token and its identity
// once verified (see oidc.Verifier.Exchange). Like a password login it
// is refused unchecked (an *Error with RetryAfter) while ip has failed
// too often, each failure counts against ip, and both outcomes are
// audited (login, login_failure) with auth_method oidc and never the
// code or the token. A refused code or token is an *Error; an issuer
// without a console client ErrNoOIDCSignIn; an unreachable provider
// another error (not counted: the caller is not at fault).
func (s *Service) LoginOIDC(ctx context.Context, ip netip.Addr, issuer, code, verifier, redirectURI string) (string, *oidc.Identity, error) {
	if e := s.RefuseAttempt(ip, "", MethodOIDC); e != nil {
		s.audit.Write(ctx, audit.Record{Event: audit.LoginFailure, Principal: orUnknown(""), AuthMethod: string(MethodOIDC),
			ClientIP: addrString(ip), Reason: e.Reason})
		return "", nil, e
	}
	tok, id, err := s.oidc.Exchange(ctx, issuer, code, verifier, redirectURI)
	var refused *oidc.Error
	switch {
	case errors.As(err, &refused):
		s.AttemptFailed(ip, "")
		s.audit.Write(ctx, audit.Record{Event: audit.LoginFailure, Principal: orUnknown(""), AuthMethod: string(MethodOIDC),
			ClientIP: addrString(ip), Reason: issuer + ": " + refused.Reason})
		return "", nil, &Error{Reason: refused.Reason, Method: MethodOIDC}
	case err != nil:
		return "", nil, err
	}
	s.audit.Write(ctx, audit.Record{Event: audit.Login, Principal: id.Name, AuthMethod: string(MethodOIDC), ClientIP: addrString(ip),
		TokenID: id.ID})
	return tok, id, nil
}
