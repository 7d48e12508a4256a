package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// SignIn is an issuer the web console signs users in with: the
// authorization code flow with PKCE of its public client
// (console_client_id).
type SignIn struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	Scopes   string `json:"scope"`
	// AuthorizationEndpoint is discovery's ("" when the discovery
	// document could not be fetched; Error says why).
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	Error                 string `json:"error,omitempty"`
}

// endpoints are the discovery document's endpoints the sign-in uses.
type endpoints struct {
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
}

// SignIns lists the issuers with a console client, in configuration
// order, with their authorization endpoints (discovered; cached for the
// issuer's refresh interval).
func (v *Verifier) SignIns(ctx context.Context) []SignIn {
	if v == nil {
		return nil
	}
	var out []SignIn
	for _, is := range v.order {
		if is.cfg.ConsoleClientID == "" {
			continue
		}
		s := SignIn{Issuer: is.cfg.Issuer, ClientID: is.cfg.ConsoleClientID, Scopes: strings.Join(is.cfg.ConsoleScopes, " ")}
		ep, err := is.endpoints(ctx)
		if err != nil {
			is.logger.Warn("oidc discovery for the console failed", "err", err)
			s.Error = "the provider's discovery document could not be read"
		} else {
			s.AuthorizationEndpoint = ep.Authorization
		}
		out = append(out, s)
	}
	return out
}

// endpoints returns the issuer's discovered authorization and token
// endpoints, fetching the discovery document when none is cached or the
// cached one is older than the refresh interval. The routes that need
// them are public, so fetches are one at a time (callers wait for the
// one under way) and a failure is answered again, unfetched, for
// min_refresh_interval: callers cannot make kgate hammer a provider.
func (is *issuer) endpoints(ctx context.Context) (endpoints, error) {
	is.discoverMu.Lock()
	defer is.discoverMu.Unlock()
	now := is.now()
	is.mu.Lock()
	ep, at, failed, failedAt := is.discovered, is.discoveredAt, is.discoverErr, is.discoverFailedAt
	is.mu.Unlock()
	if !at.IsZero() && now.Sub(at) < is.cfg.RefreshInterval.D() {
		return ep, nil
	}
	if failed != nil && now.Sub(failedAt) < is.cfg.MinRefreshInterval.D() {
		return endpoints{}, failed
	}
	ep, err := is.discover(ctx)
	is.mu.Lock()
	defer is.mu.Unlock()
	if err != nil {
		is.discoverErr, is.discoverFailedAt = err, now
		return endpoints{}, err
	}
	is.discovered, is.discoveredAt, is.discoverErr = ep, now, nil
	return ep, nil
}

func (is *issuer) discover(ctx context.Context) (endpoints, error) {
	var doc struct {
		Issuer string `json:"issuer"`
		endpoints
	}
	disc := strings.TrimSuffix(is.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	if err := fetchJSON(context.WithoutCancel(ctx), is.client, disc, &doc); err != nil {
		return endpoints{}, fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != is.cfg.Issuer {
		return endpoints{}, fmt.Errorf("discovery: the document's issuer %q is not %q", doc.Issuer, is.cfg.Issuer)
	}
	for name, u := range map[string]string{"authorization_endpoint": doc.Authorization, "token_endpoint": doc.Token} {
		if err := keyURL(u); err != nil {
			return endpoints{}, fmt.Errorf("discovery: %s: %w", name, err)
		}
	}
	return doc.endpoints, nil
}

// ErrNoSignIn is Exchange's answer for an issuer that is not configured
// with a console client.
var ErrNoSignIn = errors.New("no console sign-in with this issuer")

// Exchange redeems an authorization code of the console's public client
// at the issuer's token endpoint (with the PKCE verifier and the
// redirect URI the authorization request named) and verifies the access
// token it answers as any bearer token. It returns the token and its
// identity; an *Error when the provider refused the code or kgate
// refuses its token, ErrNoSignIn for an unknown issuer, or another error
// when the provider could not be reached.
func (v *Verifier) Exchange(ctx context.Context, issuerURL, code, verifier, redirectURI string) (string, *Identity, error) {
	var is *issuer
	if v != nil {
		is = v.issuers[issuerURL]
	}
	if is == nil || is.cfg.ConsoleClientID == "" {
		return "", nil, ErrNoSignIn
	}
	ep, err := is.endpoints(ctx)
	if err != nil {
		return "", nil, err
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {redirectURI}, "client_id": {is.cfg.ConsoleClientID}}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := is.client.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return "", nil, fmt.Errorf("token endpoint: %w", err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if len(body) > maxDocumentBytes || json.Unmarshal(body, &out) != nil {
		return "", nil, fmt.Errorf("token endpoint: %s, not a JSON answer", resp.Status)
	}
	switch {
	case out.Error != "":
		// RFC 6749 5.2: the code, verifier or redirect URI was refused.
		return "", nil, refuse("the provider refused the sign-in: %s%s", printable(out.Error), describe(out.Description))
	case resp.StatusCode != http.StatusOK:
		return "", nil, fmt.Errorf("token endpoint: %s", resp.Status)
	case out.AccessToken == "" || !strings.EqualFold(out.TokenType, "bearer"):
		return "", nil, refuse("the provider answered no bearer access token")
	}
	id, err := v.Verify(ctx, out.AccessToken)
	if errors.Is(err, ErrForeign) {
		return "", nil, refuse("the provider's access token is not a JWT of %s (kgate checks JWT access tokens only)", is.cfg.Issuer)
	}
	if err != nil {
		return "", nil, err
	}
	return out.AccessToken, id, nil
}

func describe(d string) string {
	if d == "" {
		return ""
	}
	return " (" + printable(d) + ")"
}

// printable keeps a provider's words short and free of control
// characters before they reach a page or a log.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
