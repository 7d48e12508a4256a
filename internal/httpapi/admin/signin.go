package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/auth/oidc"
	"github.com/kgate/kgate/internal/httpapi"
)

// signIns lists the OpenID issuers the web console offers sign-in with
// (auth.oidc entries with a console_client_id): public facts a browser
// needs to start the authorization code flow.
func (a api) signIns(w http.ResponseWriter, r *http.Request) error {
	ss := a.d.Auth.OIDC().SignIns(r.Context())
	if ss == nil {
		ss = []oidc.SignIn{}
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, jsonType, map[string]any{"issuers": ss})
	return nil
}

// exchange redeems the console's authorization code at the issuer's
// token endpoint and answers the access token once kgate has verified
// it, like POST /login answers its own tokens. The exchange goes through
// kgate so that the console's CSP keeps connect-src 'self' and the
// provider needs no CORS for the console's origin; kgate calls only the
// token endpoint of a configured issuer, and failed exchanges count
// against the caller's address like failed passwords (auth.LoginOIDC).
func (a api) exchange(w http.ResponseWriter, r *http.Request) error {
	body, err := httpapi.ReadBody(r)
	if err != nil {
		return err
	}
	var req struct {
		Issuer       string `json:"issuer"`
		Code         string `json:"code"`
		CodeVerifier string `json:"code_verifier"`
		RedirectURI  string `json:"redirect_uri"`
	}
	if err := httpapi.DecodeJSON(body, &req); err != nil {
		return err
	}
	if req.Issuer == "" || req.Code == "" || req.CodeVerifier == "" || req.RedirectURI == "" {
		return httpapi.ErrUnprocessable.Msg("issuer, code, code_verifier and redirect_uri are required.")
	}
	tok, id, err := a.d.Auth.LoginOIDC(r.Context(), a.d.Auth.ClientIP(r), req.Issuer, req.Code, req.CodeVerifier, req.RedirectURI)
	var ae *auth.Error
	switch {
	case errors.Is(err, auth.ErrNoOIDCSignIn):
		return httpapi.ErrNotFound.Msg("The console offers no sign-in with this issuer.").Wrap(err)
	case errors.As(err, &ae) && ae.RetryAfter > 0:
		w.Header().Set("Retry-After", secondsString(ae.RetryAfter))
		return httpapi.ErrRateLimited.Msg("%s", ae.Refusal()).Wrap(err)
	case errors.As(err, &ae):
		return httpapi.ErrUnauthenticated.Msg("Sign-in refused: %s.", ae.Reason).Wrap(err)
	case err != nil:
		return httpapi.ErrBusy.Msg("The OpenID provider could not be reached; try again.").Wrap(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusOK, jsonType, map[string]any{
		"token":      tok,
		"token_type": "Bearer",
		"expires_in": int64(time.Until(id.Expires).Seconds()),
		"principal":  id.Name,
	})
	return nil
}
